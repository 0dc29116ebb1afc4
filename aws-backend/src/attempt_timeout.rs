//! Telling the breaker about attempts the SDK's attempt timeout cut short.
//!
//! When that timeout fires, the SDK drops the connector's future: from inside
//! the connector a timeout looks just like a caller giving up. So each attempt
//! carries an [`AttemptSlot`] (request extension + config bag); a connector
//! future dropped mid-flight leaves its admission there, and this interceptor —
//! which the SDK runs after the attempt with the timeout recorded as its error —
//! turns it into a breaker failure. If the caller gave up instead, no
//! interceptor runs and the drop stays without verdict.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::breaker::Admission;
use crate::health::TargetHealth;

/// An attempt dropped after it was sent, waiting for the SDK to say why.
#[derive(Debug)]
pub(crate) struct DroppedAttempt {
    pub health: Arc<TargetHealth>,
    pub admission: Admission,
}

/// Where a dropped attempt is left for [`AttemptTimeoutInterceptor`].
#[derive(Debug, Clone, Default)]
pub(crate) struct AttemptSlot(Arc<Mutex<Option<DroppedAttempt>>>);

impl AttemptSlot {
    pub fn put(&self, dropped: DroppedAttempt) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(dropped);
    }

    fn take(&self) -> Option<DroppedAttempt> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

impl Storable for AttemptSlot {
    type Storer = StoreReplace<Self>;
}

/// Gives every attempt a fresh slot; after it, counts a timed-out drop as a failure.
#[derive(Debug)]
pub(crate) struct AttemptTimeoutInterceptor;

impl AttemptTimeoutInterceptor {
    fn settle(context: &FinalizerInterceptorContextRef<'_>, cfg: &ConfigBag) {
        let timed_out =
            matches!(context.output_or_error(), Some(Err(error)) if error.is_timeout_error());
        if !timed_out {
            return;
        }
        if let Some(dropped) = cfg.load::<AttemptSlot>().and_then(AttemptSlot::take) {
            tracing::debug!(backend = %dropped.health.target, "attempt timed out");
            if dropped.health.breaker.record_failure(dropped.admission) {
                tracing::warn!(backend = %dropped.health.target, "target failing: circuit breaker opened");
            }
        }
    }
}

impl Intercept for AttemptTimeoutInterceptor {
    fn name(&self) -> &'static str {
        "AttemptTimeoutInterceptor"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let slot = AttemptSlot::default();
        context.request_mut().add_extension(slot.clone());
        cfg.interceptor_state().store_put(slot);
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Self::settle(context, cfg);
        Ok(())
    }

    /// An operation timeout firing mid-attempt skips `read_after_attempt`.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Self::settle(context, cfg);
        Ok(())
    }
}
