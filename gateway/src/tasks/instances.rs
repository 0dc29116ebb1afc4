//! Keeping instance records in step with their targets: a periodic refresh
//! of every live record, and libvirt's lifecycle events as they come.

use std::time::Duration;

use federation::Federation;
use tokio::sync::mpsc::UnboundedReceiver;

use super::ticker;

/// Refreshes every live instance record from its target every `period` (see
/// `Federation::sync_instances`).
pub(super) async fn sync(federation: Federation, period: Duration) {
    let mut tick = ticker(period);
    loop {
        tick.tick().await;
        if let Err(e) = federation.sync_instances().await {
            tracing::warn!(error = %e, "syncing instance states failed");
        }
    }
}

/// Refreshes an instance's record whenever libvirt reports its domain's
/// lifecycle changed (a guest that powered itself off is stopped at once).
pub(super) async fn follow_lifecycle_events(
    federation: Federation,
    mut events: UnboundedReceiver<String>,
) {
    while let Some(domain) = events.recv().await {
        if let Err(e) = federation.local_instance_changed(&domain).await {
            tracing::warn!(error = %e, %domain, "following a lifecycle event failed");
        }
    }
}
