//! Keeping placement current: the policy files reloaded when they change,
//! and the remote targets probed so one that came back is used again.

use std::time::Duration;

use accounts::Accounts;

use super::ticker;

/// Reloads the placement policies when their files change; a broken edit is
/// logged and refused, and the policies in force stay.
pub(super) async fn watch_policies(accounts: Accounts, period: Duration) {
    let mut tick = ticker(period);
    loop {
        tick.tick().await;
        // Errors are logged and kept in the policy status by the placement itself.
        let _ = accounts.placement().reload_if_changed();
    }
}

/// Probes the remote targets every `period`.
pub(super) async fn probe_targets(accounts: Accounts, period: Duration) {
    let mut tick = ticker(period);
    loop {
        tick.tick().await;
        accounts.placement().probe_all().await;
    }
}
