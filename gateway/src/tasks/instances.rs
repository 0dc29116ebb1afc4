//! Keeping instance records in step with their targets: a periodic refresh
//! of every live record, and libvirt's lifecycle events as they come.

use std::time::Duration;

use accounts::Accounts;
use tokio::sync::mpsc::UnboundedReceiver;

use super::ticker;

/// Refreshes every live instance record from its target every `period` (see
/// `Accounts::sync_instances`).
pub(super) async fn sync(accounts: Accounts, period: Duration) {
    let mut tick = ticker(period);
    loop {
        tick.tick().await;
        if let Err(e) = accounts.sync_instances().await {
            tracing::warn!(error = %e, "syncing instance states failed");
        }
    }
}

/// Refreshes an instance's record whenever libvirt reports its domain's
/// lifecycle changed (a guest that powered itself off is stopped at once).
pub(super) async fn follow_lifecycle_events(
    accounts: Accounts,
    mut events: UnboundedReceiver<String>,
) {
    while let Some(domain) = events.recv().await {
        if let Err(e) = accounts.local_instance_changed(&domain).await {
            tracing::warn!(error = %e, %domain, "following a lifecycle event failed");
        }
    }
}
