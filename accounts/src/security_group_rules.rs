//! Security group rules as resources of their own (`sgr-` IDs, stable for a
//! rule's life): DescribeSecurityGroupRules, ModifySecurityGroupRules (a rule
//! replaced in place, reaching the data plane and remote copies as
//! Authorize does) and their tags.

use cloud::types::{Rule, RulePeer, Tag};
use cloud::{Error, ResourceKind, Result};

use crate::security_groups::{describe_rule, peer_parts, rule_key, GroupRef, RuleSpec};
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, is_unique_violation};

/// A rule with the group it belongs to.
#[derive(Debug, Clone)]
pub struct GroupRule {
    pub rule: Rule,
    pub group_id: String,
    /// The group owner's account ID.
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

/// One ModifySecurityGroupRules change: the rule and what it becomes.
#[derive(Debug, Clone)]
pub struct RuleChange {
    pub rule_id: String,
    pub spec: RuleSpec,
}

impl Accounts {
    /// Every rule of the tenant's groups, with its tags, by rule ID.
    pub async fn list_security_group_rules(&self, tenant: &Tenant) -> Result<Vec<GroupRule>> {
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::SecurityGroupRule)
            .await?;
        let mut rules: Vec<GroupRule> = self
            .list_security_groups(tenant)
            .await?
            .into_iter()
            .flat_map(|group| {
                let (group_id, owner_id) = (group.id, group.owner_id);
                group.rules.into_iter().map(move |rule| GroupRule {
                    rule,
                    group_id: group_id.clone(),
                    owner_id: owner_id.clone(),
                    tags: Vec::new(),
                })
            })
            .collect();
        for rule in &mut rules {
            rule.tags = tags.remove(&rule.rule.id).unwrap_or_default();
        }
        rules.sort_by(|a, b| a.rule.id.cmp(&b.rule.id));
        Ok(rules)
    }

    /// Whether a rule ID names a rule of one of the tenant's groups.
    pub(crate) async fn owns_security_group_rule(&self, tenant: &Tenant, id: &str) -> Result<bool> {
        Ok(self
            .list_security_groups(tenant)
            .await?
            .iter()
            .any(|group| group.rules.iter().any(|rule| rule.id == id)))
    }

    /// Replaces rules of a group in place, all or none: each keeps its ID and
    /// direction; a change that duplicates another rule is refused.
    pub async fn modify_security_group_rules(
        &self,
        tenant: &Tenant,
        group_id: &str,
        changes: Vec<RuleChange>,
    ) -> Result<()> {
        let group = self
            .security_group(tenant, &GroupRef::Id(group_id.to_string()))
            .await?;
        let mut replaced: Vec<Rule> = Vec::with_capacity(changes.len());
        for change in changes {
            let Some(current) = group.rules.iter().find(|r| r.id == change.rule_id) else {
                return Err(Error::not_found(
                    ResourceKind::SecurityGroupRule,
                    change.rule_id,
                ));
            };
            let mut rule = change.spec.normalize(current.direction)?;
            if let RulePeer::Group { group_id: peer, .. } = &rule.peer {
                if peer != &group.id {
                    self.security_group(tenant, &GroupRef::Id(peer.clone()))
                        .await?;
                }
            }
            rule.id = current.id.clone();
            replaced.push(rule);
        }
        let mut tx = self.db.begin_write().await?;
        for rule in &replaced {
            let (peer_kind, peer, description) = peer_parts(&rule.peer);
            let updated = sqlx::query(
                "UPDATE security_group_rules SET rule_key = $1, protocol = $2, from_port = $3, to_port = $4, \
                 peer_kind = $5, peer = $6, description = $7 WHERE id = $8 AND group_id = $9",
            )
            .bind(rule_key(rule))
            .bind(&rule.protocol)
            .bind(rule.from_port.map(i64::from))
            .bind(rule.to_port.map(i64::from))
            .bind(peer_kind)
            .bind(peer)
            .bind(description)
            .bind(&rule.id)
            .bind(&group.id)
            .execute(&mut *tx)
            .await;
            match updated {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::duplicate(
                        ResourceKind::SecurityGroupRule,
                        describe_rule(rule),
                    ));
                }
                Err(e) => return Err(db_err(e)),
            }
        }
        tx.commit().await.map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, group = %group.id, rules = replaced.len(), "security group rules modified");
        self.push_security_group(tenant, &group.id).await?;
        self.network_changed().await;
        Ok(())
    }
}
