//! Start, stop, reboot and terminate (each target asked for its own
//! instances, the state reason recorded first), and console output.

use std::sync::Arc;

use cloud::{Compute, Error, InstanceState, ResourceKind, Result, StateChange};

use super::{group_by_target, InstanceStateChange, USER_SHUTDOWN};
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::db_err;

impl Accounts {
    /// Starts instances; returns their state changes.
    pub async fn start_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>> {
        self.refuse_gone(tenant, ids, "started").await?;
        self.change_state(tenant, ids, None, |remote, remote_ids| async move {
            remote.start_instances(&remote_ids).await
        })
        .await
    }

    /// IncorrectState when any of `ids` is terminated (or on its way): it can
    /// no longer be started, stopped or rebooted, whatever its target would say.
    async fn refuse_gone(&self, tenant: &Tenant, ids: &[String], verb: &str) -> Result<()> {
        let rows = self.owned_instances(tenant, ids).await?;
        match rows.iter().find(|row| {
            matches!(
                row.instance.state,
                InstanceState::Terminated | InstanceState::ShuttingDown
            )
        }) {
            Some(row) => Err(Error::IncorrectState(format!(
                "The instance '{}' is not in a state from which it can be {verb}.",
                row.instance.id
            ))),
            None => Ok(()),
        }
    }

    /// Stops instances (`force`: without a clean shutdown).
    pub async fn stop_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
        force: bool,
    ) -> Result<Vec<InstanceStateChange>> {
        self.refuse_gone(tenant, ids, "stopped").await?;
        self.change_state(
            tenant,
            ids,
            Some(USER_SHUTDOWN),
            |remote, remote_ids| async move { remote.stop_instances(&remote_ids, force).await },
        )
        .await
    }

    /// Terminates instances; none if any of them has termination protection.
    pub async fn terminate_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<InstanceStateChange>> {
        self.refuse_protected(tenant, ids).await?;
        self.change_state(
            tenant,
            ids,
            Some(USER_SHUTDOWN),
            |remote, remote_ids| async move { remote.terminate_instances(&remote_ids).await },
        )
        .await
    }

    /// Reboots instances.
    pub async fn reboot_instances(&self, tenant: &Tenant, ids: &[String]) -> Result<()> {
        self.refuse_gone(tenant, ids, "rebooted").await?;
        let rows = self.owned_instances(tenant, ids).await?;
        for (target, rows) in group_by_target(rows) {
            let remote_ids: Vec<String> = rows.iter().map(|r| r.remote_id.clone()).collect();
            self.placement
                .compute(&target)?
                .reboot_instances(&remote_ids)
                .await?;
        }
        Ok(())
    }

    /// The serial console of an instance and when it was captured.
    pub async fn console_output(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let row = self
            .owned_instances(tenant, &[id.to_string()])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(ResourceKind::Instance, id))?;
        self.placement
            .compute(&row.instance.target)?
            .console_output(&row.remote_id)
            .await
    }

    async fn change_state<F, Fut>(
        &self,
        tenant: &Tenant,
        ids: &[String],
        reason: Option<&str>,
        call: F,
    ) -> Result<Vec<InstanceStateChange>>
    where
        F: Fn(Arc<dyn Compute>, Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<StateChange>>>,
    {
        let rows = self.owned_instances(tenant, ids).await?;
        if let Some(reason) = reason {
            // Recorded before the call: a lifecycle event arriving meanwhile
            // must not take the stop for one the guest made itself.
            let mut tx = self.db.begin_write().await?;
            for row in &rows {
                sqlx::query("UPDATE instances SET state_reason = $1 WHERE id = $2")
                    .bind(reason)
                    .bind(&row.instance.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            tx.commit().await.map_err(db_err)?;
            self.instance_view
                .touch(rows.iter().map(|r| r.instance.id.as_str()));
        }
        let mut changes = Vec::with_capacity(rows.len());
        for (target, rows) in group_by_target(rows) {
            let remote_ids: Vec<String> = rows.iter().map(|r| r.remote_id.clone()).collect();
            let reported = call(self.placement.compute(&target)?, remote_ids).await?;
            for mut row in rows {
                let Some(change) = reported.iter().find(|c| c.remote_id == row.remote_id) else {
                    continue;
                };
                row.instance.state = change.current;
                row.instance.state_reason = reason.map(str::to_string);
                self.store_state(&row.instance).await?;
                changes.push(InstanceStateChange {
                    id: row.instance.id,
                    previous: change.previous,
                    current: change.current,
                });
            }
        }
        changes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(changes)
    }
}
