//! The tenant networks' repair pass: API changes apply at once; this makes
//! the hosts match the records again after what changed behind Skyport's
//! back (a host rebooted, a device removed) and retries failed passes.

use std::time::Duration;

use accounts::Accounts;

use super::ticker;

/// Seconds between two full passes of the data plane.
const REPAIR_SECS: u64 = 30;

/// Makes the hosts match the records: at start, then every 30 s.
pub(super) async fn repair(accounts: Accounts) {
    let mut tick = ticker(Duration::from_secs(REPAIR_SECS));
    loop {
        tick.tick().await;
        if let Err(e) = accounts.sync_network().await {
            tracing::warn!(error = %e, "tenant networks: pass failed");
        }
    }
}
