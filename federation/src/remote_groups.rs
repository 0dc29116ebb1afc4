//! Security groups on remote targets: a tenant's group is copied to a target
//! the first time an instance there needs it (as `skyport-GROUPID`, since
//! tenants share the target account), and every later rule change in Skyport
//! is pushed to each copy. Skyport's rules are the truth; a copy is made to
//! match them (CIDR ingress rules; group-to-group rules are not carried).

use std::sync::Arc;

use cloud::types::SecurityGroup;
use cloud::{RemoteTarget, Result};

use crate::db::{db_err, text};
use crate::security_groups::GroupRef;
use crate::tenants::Tenant;
use crate::Federation;

/// The name a tenant's security group gets on a remote target (its Skyport ID
/// is unique across tenants).
fn remote_group_name(group_id: &str) -> String {
    format!("skyport-{group_id}")
}

impl Federation {
    /// Makes sure `remote` has a copy of `group` matching its rules, remembers
    /// the copy, and returns the target's group ID.
    pub(crate) async fn copy_security_group(
        &self,
        remote: &Arc<dyn RemoteTarget>,
        group: &SecurityGroup,
    ) -> Result<String> {
        let description = format!("Skyport group {} ({})", group.id, group.name);
        let remote_id = remote
            .ensure_security_group(&remote_group_name(&group.id), &description, &group.rules)
            .await?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM remote_security_groups WHERE group_id = $1 AND target = $2")
            .bind(&group.id)
            .bind(remote.name())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("INSERT INTO remote_security_groups (group_id, target, remote_group_id) VALUES ($1, $2, $3)")
            .bind(&group.id)
            .bind(remote.name())
            .bind(&remote_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(remote_id)
    }

    /// Pushes a group's rules (just changed in Skyport) to every copy on a
    /// remote target. The change is already committed here: a target that
    /// cannot be reached is logged and brought in line at its next launch.
    pub(crate) async fn push_security_group(&self, tenant: &Tenant, group_id: &str) -> Result<()> {
        let rows = sqlx::query("SELECT target FROM remote_security_groups WHERE group_id = $1")
            .bind(group_id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        if rows.is_empty() {
            return Ok(());
        }
        let group = self
            .security_group(tenant, &GroupRef::Id(group_id.to_string()))
            .await?;
        for row in &rows {
            let target = text(row, "target")?;
            let pushed = match self.placement.remote(&target) {
                Ok(remote) => self.copy_security_group(&remote, &group).await.map(|_| ()),
                Err(error) => Err(error),
            };
            if let Err(error) = pushed {
                tracing::warn!(%target, group = group_id, %error, "security group change not pushed to the target yet");
            }
        }
        Ok(())
    }
}
