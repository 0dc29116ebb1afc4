//! The per-target HTTP layer both SDK clients send through: the SDK's own
//! HTTPS client, wrapped so that every attempt
//! 1. is refused at once while the circuit breaker is open (a non-retryable
//!    connector error naming the target),
//! 2. waits its turn on the target's rate limiter,
//! 3. reports its outcome to the breaker — connect errors, I/O errors, timeouts
//!    and 5xx other than throttling are failures; any other answer is a success —
//!    and, when successful, its latency.
//!
//! An attempt the SDK abandons because its attempt timeout fired is dropped
//! mid-flight; the drop guard leaves it in the attempt's slot and
//! `attempt_timeout.rs` counts it as failed once the SDK reports the timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::oneshot;

use crate::attempt_timeout::{AttemptSlot, DroppedAttempt};
use crate::breaker::Admission;
use crate::error::{error_code_in_body, is_throttling_code};
use crate::health::TargetHealth;

/// Largest error body read to tell a throttling 503 from a failing one.
const MAX_PEEKED_ERROR_BODY: usize = 64 * 1024;

tokio::task_local! {
    /// Set while [`as_probe`] runs: its attempts may pass a cooled-down open breaker.
    static PROBE: ();
}

/// Runs `future` as a probe: its attempts pass the breaker once the cooldown is over.
pub(crate) async fn as_probe<F: Future>(future: F) -> F::Output {
    PROBE.scope((), future).await
}

/// The connector refused an attempt because the target's circuit breaker is open.
#[derive(Debug, thiserror::Error)]
#[error("target {target} is unavailable (circuit open after {failures} failures)")]
pub(crate) struct CircuitOpen {
    pub target: String,
    pub failures: u32,
}

/// The SDK's HTTP client with this target's limiter, breaker and latency record in front.
#[derive(Debug, Clone)]
pub(crate) struct ResilientHttpClient {
    inner: SharedHttpClient,
    health: Arc<TargetHealth>,
    /// When set, the connector itself bounds the wait for response headers,
    /// counted from when the request body has been sent (used where the SDK's
    /// attempt timeout would also cut long uploads short).
    response_timeout: Option<Duration>,
}

impl ResilientHttpClient {
    pub fn new(
        inner: SharedHttpClient,
        health: Arc<TargetHealth>,
        response_timeout: Option<Duration>,
    ) -> Self {
        ResilientHttpClient {
            inner,
            health,
            response_timeout,
        }
    }
}

impl HttpClient for ResilientHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ResilientConnector {
            inner: self.inner.http_connector(settings, components),
            health: self.health.clone(),
            response_timeout: self.response_timeout,
        })
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug, Clone)]
struct ResilientConnector {
    inner: SharedHttpConnector,
    health: Arc<TargetHealth>,
    response_timeout: Option<Duration>,
}

impl HttpConnector for ResilientConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let probe = PROBE.try_with(|_| ()).is_ok();
        let connector = self.clone();
        HttpConnectorFuture::new(async move { connector.attempt(request, probe).await })
    }
}

impl ResilientConnector {
    async fn attempt(
        self,
        mut request: HttpRequest,
        probe: bool,
    ) -> Result<HttpResponse, ConnectorError> {
        let health = &self.health;
        let admission = health.breaker.admit(probe).map_err(|refused| {
            ConnectorError::other(
                Box::new(CircuitOpen {
                    target: health.target.clone(),
                    failures: refused.failures,
                }),
                None,
            )
        })?;
        let slot = request.extension::<AttemptSlot>().cloned();
        let mut attempt = AttemptGuard::new(health.clone(), admission, slot);
        health.limiter.until_ready().await;
        attempt.dispatched();

        let result = match self.response_timeout {
            None => self.inner.call(request).await,
            Some(timeout) => {
                let body_sent = watch_upload(&mut request);
                bounded_response(self.inner.call(request), body_sent, timeout).await
            }
        };
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                attempt.settle(Verdict::Failure);
                return Err(error);
            }
        };
        let (response, verdict) = judge(response).await;
        attempt.settle(verdict);
        response
    }
}

/// What an answered attempt says about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It answered (2xx–4xx, 501): latency counts.
    Success,
    /// It is alive but throttling us: closes the breaker, no latency sample.
    Throttled,
    /// 5xx (other than throttling and 501), or the connection failed.
    Failure,
}

/// Classifies a response; reads (and puts back) the body of a 503 to find a throttling code.
async fn judge(mut response: HttpResponse) -> (Result<HttpResponse, ConnectorError>, Verdict) {
    let status = response.status().as_u16();
    match status {
        429 => (Ok(response), Verdict::Throttled),
        501 => (Ok(response), Verdict::Success),
        503 => {
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|length| length.parse::<usize>().ok());
            if declared.is_some_and(|length| length > MAX_PEEKED_ERROR_BODY) {
                return (Ok(response), Verdict::Failure);
            }
            let body = response.take_body();
            match http_body_util::Limited::new(body, MAX_PEEKED_ERROR_BODY)
                .collect()
                .await
            {
                Ok(collected) => {
                    let bytes = collected.to_bytes();
                    let throttled = error_code_in_body(&bytes).is_some_and(is_throttling_code);
                    *response.body_mut() = SdkBody::from(bytes);
                    (
                        Ok(response),
                        if throttled {
                            Verdict::Throttled
                        } else {
                            Verdict::Failure
                        },
                    )
                }
                Err(error) => (Err(ConnectorError::io(error)), Verdict::Failure),
            }
        }
        500..=599 => (Ok(response), Verdict::Failure),
        _ => (Ok(response), Verdict::Success),
    }
}

/// Records one attempt's outcome exactly once, also when its future is dropped.
struct AttemptGuard {
    health: Arc<TargetHealth>,
    admission: Admission,
    slot: Option<AttemptSlot>,
    dispatched: Option<Instant>,
    settled: bool,
}

impl AttemptGuard {
    fn new(health: Arc<TargetHealth>, admission: Admission, slot: Option<AttemptSlot>) -> Self {
        AttemptGuard {
            health,
            admission,
            slot,
            dispatched: None,
            settled: false,
        }
    }

    fn dispatched(&mut self) {
        self.dispatched = Some(Instant::now());
    }

    fn settle(&mut self, verdict: Verdict) {
        self.settled = true;
        let breaker = &self.health.breaker;
        match verdict {
            Verdict::Success => {
                breaker.record_success();
                if let Some(dispatched) = self.dispatched {
                    self.health.record_latency(dispatched.elapsed());
                }
            }
            Verdict::Throttled => breaker.record_success(),
            Verdict::Failure => self.fail(),
        }
    }

    fn fail(&self) {
        if self.health.breaker.record_failure(self.admission) {
            tracing::warn!(backend = %self.health.target, "target failing: circuit breaker opened");
        }
    }
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // No verdict yet: free a trial slot now; if the SDK reports that its
        // attempt timeout fired, the interceptor records the failure.
        self.health.breaker.record_abandoned(self.admission);
        if let (Some(slot), Some(_)) = (&self.slot, self.dispatched) {
            slot.put(DroppedAttempt {
                health: self.health.clone(),
                admission: self.admission,
            });
        }
    }
}

/// Waits for the response headers, at most `timeout` after the body was sent.
async fn bounded_response(
    call: HttpConnectorFuture,
    body_sent: Option<oneshot::Receiver<()>>,
    timeout: Duration,
) -> Result<HttpResponse, ConnectorError> {
    tokio::pin!(call);
    if let Some(body_sent) = body_sent {
        tokio::select! {
            result = &mut call => return result,
            // Sent, or the body was dropped (which also ends the upload).
            _ = body_sent => {}
        }
    }
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(ConnectorError::timeout(
            format!("no response within {timeout:?} of sending the request").into(),
        )),
    }
}

/// For a streaming body, swaps in a wrapper that reports when it has been sent;
/// in-memory bodies are sent at once, so they need no watching.
fn watch_upload(request: &mut HttpRequest) -> Option<oneshot::Receiver<()>> {
    if !request.body().is_streaming() {
        return None;
    }
    let (sender, receiver) = oneshot::channel();
    let body = std::mem::replace(request.body_mut(), SdkBody::taken());
    *request.body_mut() = SdkBody::from_body_1_x(UploadWatch {
        inner: body,
        sent: Some(sender),
    });
    Some(receiver)
}

/// A body that signals once its last frame has been handed to the transport.
struct UploadWatch {
    inner: SdkBody,
    sent: Option<oneshot::Sender<()>>,
}

impl Body for UploadWatch {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || Body::is_end_stream(&self.inner) {
            if let Some(sent) = self.sent.take() {
                let _ = sent.send(());
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> SizeHint {
        Body::size_hint(&self.inner)
    }
}
