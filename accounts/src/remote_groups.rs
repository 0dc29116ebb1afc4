//! Security groups on remote targets: a tenant's group is copied to a target
//! the first time an instance there needs it (as `skyport-GROUPID`, since
//! tenants share the target account), and every later rule change in Skyport
//! is pushed to each copy. Skyport's rules are the truth; a copy is made to
//! match them. A rule naming a group names that group's copy on the same
//! target; while the named group has no copy there (no member runs there),
//! the rule waits, and is added when the copy is made. Deleting a group
//! deletes its copies first.

use std::collections::HashMap;
use std::sync::Arc;

use cloud::types::{Rule, RulePeer, SecurityGroup};
use cloud::{RemoteTarget, Result};

use crate::security_groups::GroupRef;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, text};

/// The name a tenant's security group gets on a remote target (its Skyport ID
/// is unique across tenants).
fn remote_group_name(group_id: &str) -> String {
    format!("skyport-{group_id}")
}

/// `rules` as the target sees them: group peers by their copies' IDs there;
/// rules naming a group without a copy are left out.
fn rules_on_target(rules: &[Rule], copies: &HashMap<String, String>) -> Vec<Rule> {
    rules
        .iter()
        .filter_map(|rule| match &rule.peer {
            RulePeer::Group {
                group_id,
                description,
            } => copies.get(group_id).map(|remote_id| Rule {
                peer: RulePeer::Group {
                    group_id: remote_id.clone(),
                    description: description.clone(),
                },
                ..rule.clone()
            }),
            _ => Some(rule.clone()),
        })
        .collect()
}

impl Accounts {
    /// Makes sure `remote` has a copy of `group` matching its rules, remembers
    /// the copy, and returns the target's group ID. A first copy also completes
    /// the copies of groups whose rules name this one.
    pub(crate) async fn copy_security_group(
        &self,
        tenant: &Tenant,
        remote: &Arc<dyn RemoteTarget>,
        group: &SecurityGroup,
    ) -> Result<String> {
        let mut copies = self.copies_on(remote.name()).await?;
        let first = !copies.contains_key(&group.id);
        let remote_id = self.sync_copy(remote, group, &mut copies).await?;
        if first {
            let naming = sqlx::query(
                "SELECT DISTINCT group_id FROM security_group_rules WHERE peer_kind = 'group' AND peer = $1 AND group_id <> $1",
            )
            .bind(&group.id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
            for row in &naming {
                let other = text(row, "group_id")?;
                if copies.contains_key(&other) {
                    let other = self.security_group(tenant, &GroupRef::Id(other)).await?;
                    self.sync_copy(remote, &other, &mut copies).await?;
                }
            }
        }
        Ok(remote_id)
    }

    /// Brings one copy in line with `group` (making it if needed) and records it.
    async fn sync_copy(
        &self,
        remote: &Arc<dyn RemoteTarget>,
        group: &SecurityGroup,
        copies: &mut HashMap<String, String>,
    ) -> Result<String> {
        let name = remote_group_name(&group.id);
        let description = format!("Skyport group {} ({})", group.id, group.name);
        let names_itself = group.rules.iter().any(
            |rule| matches!(&rule.peer, RulePeer::Group { group_id, .. } if *group_id == group.id),
        );
        if names_itself && !copies.contains_key(&group.id) {
            // Its rules name the copy itself: make it first, so they can.
            let made = remote
                .ensure_security_group(&name, &description, &rules_on_target(&group.rules, copies))
                .await?;
            copies.insert(group.id.clone(), made);
        }
        let remote_id = remote
            .ensure_security_group(&name, &description, &rules_on_target(&group.rules, copies))
            .await?;
        copies.insert(group.id.clone(), remote_id.clone());
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

    /// The groups copied to `target`: Skyport ID → the target's ID.
    async fn copies_on(&self, target: &str) -> Result<HashMap<String, String>> {
        let rows = sqlx::query(
            "SELECT group_id, remote_group_id FROM remote_security_groups WHERE target = $1",
        )
        .bind(target)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| Ok((text(row, "group_id")?, text(row, "remote_group_id")?)))
            .collect()
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
                Ok(remote) => self
                    .copy_security_group(tenant, &remote, &group)
                    .await
                    .map(|_| ()),
                Err(error) => Err(error),
            };
            if let Err(error) = pushed {
                tracing::warn!(%target, group = group_id, %error, "security group change not pushed to the target yet");
            }
        }
        Ok(())
    }

    /// Deletes a group's copies on remote targets, before the group itself
    /// goes. A target that refuses or cannot be reached stops the deletion
    /// (the group stays, so nothing is left behind untracked).
    pub(crate) async fn delete_remote_copies(&self, group_id: &str) -> Result<()> {
        let rows = sqlx::query(
            "SELECT target, remote_group_id FROM remote_security_groups WHERE group_id = $1",
        )
        .bind(group_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        for row in &rows {
            let target = text(row, "target")?;
            let remote = self.placement.remote(&target)?;
            remote
                .delete_security_group(&text(row, "remote_group_id")?)
                .await?;
            sqlx::query("DELETE FROM remote_security_groups WHERE group_id = $1 AND target = $2")
                .bind(group_id)
                .bind(&target)
                .execute(self.db.pool())
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}
