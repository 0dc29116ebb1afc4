//! The volume half of the reconciler: volumes a remote target made for this
//! site but Skyport never recorded (a crash between the target's CreateVolume
//! and the record, so the client never got an ID) are deleted there.

use std::collections::HashSet;

use cloud::Result;

use crate::instance_sync::made_for_us_before;
use crate::mapped::RESOURCE_TAG;
use crate::Accounts;
use datastore::{db_err, text};

impl Accounts {
    /// Deletes orphaned volumes on every remote target: they carry one of this
    /// site's tenants' `skyport:tenant` and a `skyport:id` that no record
    /// holds, and are older than `grace_secs` (younger ones may still be on
    /// their way to the database). A target that cannot be listed is skipped.
    /// Returns how many volumes were deleted.
    pub async fn reconcile_volumes(&self, grace_secs: i64) -> Result<usize> {
        let accounts: HashSet<String> = self
            .list_tenants()
            .await?
            .into_iter()
            .map(|tenant| tenant.account_id)
            .collect();
        let cutoff = time::OffsetDateTime::now_utc() - time::Duration::seconds(grace_secs);
        let mut deleted = 0;
        for remote in self.placement.remotes() {
            let views = match remote.volumes_tagged(RESOURCE_TAG).await {
                Ok(views) => views,
                Err(error) => {
                    tracing::debug!(target = remote.name(), %error, "reconcile: listing volumes failed");
                    continue;
                }
            };
            let recorded: HashSet<String> =
                sqlx::query("SELECT remote_id FROM volumes WHERE target = $1")
                    .bind(remote.name())
                    .fetch_all(self.db.pool())
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|row| text(row, "remote_id"))
                    .collect::<Result<_>>()?;
            for view in views {
                let orphan = !recorded.contains(&view.remote_id)
                    && made_for_us_before(
                        &view.tags,
                        view.create_time.as_deref(),
                        &accounts,
                        cutoff,
                    );
                if orphan {
                    tracing::warn!(target = remote.name(), volume = %view.remote_id, "deleting a volume created but never recorded");
                    remote.delete_volume(&view.remote_id).await?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }
}
