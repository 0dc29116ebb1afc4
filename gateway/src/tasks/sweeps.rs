//! Sweeps over the records: abandoned multipart uploads and long-terminated
//! instances (hourly), buckets' lifecycle rules, and the reconciler that
//! repairs drift between records and clouds.

use std::time::Duration;

use accounts::Accounts;

use super::ticker;

/// Hourly: aborts multipart uploads left unfinished for longer than `hours`
/// and forgets instances terminated over an hour ago.
pub(super) async fn hourly(accounts: Accounts, hours: u64) {
    let mut tick = ticker(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = datastore::now_ms() - (hours as i64) * 3_600_000;
        match accounts.objects().expire_multipart_uploads(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(aborted = n, "aborted abandoned multipart uploads"),
            Err(e) => tracing::warn!(error = %e, "expiring multipart uploads failed"),
        }
        if let Err(e) = accounts.purge_terminated_instances().await {
            tracing::warn!(error = %e, "purging terminated instances failed");
        }
    }
}

/// Applies buckets' lifecycle rules every `period`.
pub(super) async fn lifecycle_rules(accounts: Accounts, period: Duration) {
    let mut tick = ticker(period);
    loop {
        tick.tick().await;
        if let Err(e) = accounts
            .objects()
            .apply_lifecycle(object_index::lifecycle_now(), 1000)
            .await
        {
            tracing::warn!(error = %e, "applying lifecycle rules failed");
        }
    }
}

/// Repairs drift between the instance and volume records and the clouds (see
/// `Accounts::reconcile_instances`, `Accounts::reconcile_volumes`): at
/// start, then every `period`.
pub(super) async fn reconcile(accounts: Accounts, period: Duration, grace_secs: u64) {
    let mut tick = ticker(period);
    loop {
        tick.tick().await;
        match accounts.reconcile_instances(grace_secs as i64).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                repaired = n,
                "reconcile: repaired instance records and orphans"
            ),
            Err(e) => tracing::warn!(error = %e, "reconcile: sweep failed"),
        }
        match accounts.reconcile_volumes(grace_secs as i64).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(deleted = n, "reconcile: deleted orphaned volumes"),
            Err(e) => tracing::warn!(error = %e, "reconcile: volume sweep failed"),
        }
    }
}
