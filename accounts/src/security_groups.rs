//! Security groups and their rules (stored here; enforced by the network layer).

use std::collections::HashMap;

use cloud::types::{Direction, Rule, RulePeer, SecurityGroup};
use cloud::{Error, ResourceKind, Result};
use sqlx::any::AnyRow;

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, is_unique_violation, now, opt_int, opt_text, text};

/// A rule as a caller asks for it, before normalisation.
#[derive(Debug, Clone, Default)]
pub struct RuleSpec {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Option<RulePeer>,
}

/// Canonical protocol name: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`, or a number for others.
fn normalize_protocol(protocol: &str) -> Result<String> {
    let lower = protocol.to_ascii_lowercase();
    let name = match lower.as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "icmpv6" | "58" => "icmpv6",
        "-1" | "all" => "-1",
        other => match other.parse::<u8>() {
            Ok(_) => other,
            Err(_) => {
                return Err(Error::invalid(
                    "IpProtocol",
                    format!("Invalid value '{protocol}' for IP protocol. Unknown protocol."),
                ))
            }
        },
    };
    Ok(name.to_string())
}

fn validate_cidr(cidr: &str, v6: bool) -> Result<()> {
    let bad = || Error::invalid("CidrIp", format!("CIDR block {cidr} is malformed"));
    let (address, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if v6 {
        address.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        if prefix > 128 {
            return Err(bad());
        }
    } else {
        address.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
    }
    Ok(())
}

impl RuleSpec {
    /// Validates and canonicalises into a rule (without an ID yet).
    pub(crate) fn normalize(self, direction: Direction) -> Result<Rule> {
        let protocol = normalize_protocol(&self.protocol)?;
        let (from_port, to_port) = match protocol.as_str() {
            "tcp" | "udp" => {
                let (Some(from), Some(to)) = (self.from_port, self.to_port) else {
                    return Err(Error::invalid("FromPort", "Invalid value for portRange. Must specify both from and to ports with TCP/UDP."));
                };
                if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                    return Err(Error::invalid(
                        "FromPort",
                        format!("Invalid TCP/UDP port range {from}-{to}"),
                    ));
                }
                (Some(from), Some(to))
            }
            "icmp" | "icmpv6" => {
                let from = self.from_port.unwrap_or(-1);
                let to = self.to_port.unwrap_or(-1);
                if !(-1..=255).contains(&from) || !(-1..=255).contains(&to) {
                    return Err(Error::invalid("FromPort", "Invalid ICMP type or code"));
                }
                (Some(from), Some(to))
            }
            _ => (None, None),
        };
        let peer = self.peer.ok_or_else(|| {
            Error::invalid(
                "IpPermissions",
                "a rule needs a CIDR range or a source group",
            )
        })?;
        match &peer {
            RulePeer::Cidr4 { cidr, .. } => validate_cidr(cidr, false)?,
            RulePeer::Cidr6 { cidr, .. } => validate_cidr(cidr, true)?,
            RulePeer::Group { .. } => {}
        }
        Ok(Rule {
            id: String::new(),
            direction,
            protocol,
            from_port,
            to_port,
            peer,
        })
    }
}

pub(crate) fn peer_parts(peer: &RulePeer) -> (&'static str, &str, Option<&str>) {
    match peer {
        RulePeer::Cidr4 { cidr, description } => ("cidr4", cidr, description.as_deref()),
        RulePeer::Cidr6 { cidr, description } => ("cidr6", cidr, description.as_deref()),
        RulePeer::Group {
            group_id,
            description,
        } => ("group", group_id, description.as_deref()),
    }
}

/// The identity of a rule: what makes two Authorize calls duplicates (descriptions do not count).
pub(crate) fn rule_key(rule: &Rule) -> String {
    let (kind, peer, _) = peer_parts(&rule.peer);
    let port = |p: Option<i32>| p.map(|p| p.to_string()).unwrap_or_default();
    format!(
        "{}|{}|{}|{}|{kind}|{peer}",
        rule.direction.as_str(),
        rule.protocol,
        port(rule.from_port),
        port(rule.to_port)
    )
}

fn rule_from_row(row: &AnyRow) -> Result<Rule> {
    let direction = if text(row, "direction")? == "egress" {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let peer_value = text(row, "peer")?;
    let description = opt_text(row, "description")?;
    let peer = match text(row, "peer_kind")?.as_str() {
        "cidr6" => RulePeer::Cidr6 {
            cidr: peer_value,
            description,
        },
        "group" => RulePeer::Group {
            group_id: peer_value,
            description,
        },
        _ => RulePeer::Cidr4 {
            cidr: peer_value,
            description,
        },
    };
    Ok(Rule {
        id: text(row, "id")?,
        direction,
        protocol: text(row, "protocol")?,
        from_port: opt_int(row, "from_port")?.map(|p| p as i32),
        to_port: opt_int(row, "to_port")?.map(|p| p as i32),
        peer,
    })
}

/// Which group a call names: by ID or (legacy) by name.
#[derive(Debug, Clone)]
pub enum GroupRef {
    Id(String),
    Name(String),
}

impl Accounts {
    /// Creates the `default` group of a VPC if it is missing: all egress
    /// allowed, ingress only from members of the group itself.
    pub(crate) async fn ensure_default_security_group(
        &self,
        tenant: &Tenant,
        vpc_id: &str,
    ) -> Result<()> {
        let exists = sqlx::query("SELECT id FROM security_groups WHERE tenant_id = $1 AND vpc_id = $2 AND name = 'default'")
            .bind(&tenant.id)
            .bind(vpc_id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?
            .is_some();
        if exists {
            return Ok(());
        }
        let id = match self
            .insert_security_group(tenant, vpc_id, "default", "default VPC security group")
            .await
        {
            Ok(id) => id,
            // Made by a concurrent first use.
            Err(Error::Duplicate { .. }) => return Ok(()),
            Err(error) => return Err(error),
        };
        let self_rule = RuleSpec {
            protocol: "-1".into(),
            peer: Some(RulePeer::Group {
                group_id: id.clone(),
                description: None,
            }),
            ..RuleSpec::default()
        };
        self.authorize_rules(
            tenant,
            &GroupRef::Id(id),
            Direction::Ingress,
            vec![self_rule],
        )
        .await?;
        Ok(())
    }

    /// The groups of a launch into `vpc_id`: those asked for, each of which
    /// must belong to that VPC, else the VPC's `default` group.
    pub(crate) async fn vpc_groups(
        &self,
        tenant: &Tenant,
        vpc_id: &str,
        asked: &[SecurityGroup],
    ) -> Result<Vec<String>> {
        if asked.is_empty() {
            self.ensure_default_security_group(tenant, vpc_id).await?;
            let row = sqlx::query("SELECT id FROM security_groups WHERE tenant_id = $1 AND vpc_id = $2 AND name = 'default'")
                .bind(&tenant.id)
                .bind(vpc_id)
                .fetch_one(self.db.pool())
                .await
                .map_err(db_err)?;
            return Ok(vec![text(&row, "id")?]);
        }
        for group in asked {
            if group.vpc_id.as_deref() != Some(vpc_id) {
                return Err(Error::invalid(
                    "SecurityGroupId",
                    format!(
                        "Security group {} and subnet belong to different networks.",
                        group.id
                    ),
                ));
            }
        }
        Ok(asked.iter().map(|g| g.id.clone()).collect())
    }

    /// Creates a group in `vpc_id` (default: the tenant's default VPC) with
    /// AWS's default rule (all egress allowed); returns its ID.
    pub async fn create_security_group(
        &self,
        tenant: &Tenant,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
    ) -> Result<String> {
        if name.is_empty() || name.len() > 255 || !name.is_ascii() {
            return Err(Error::invalid(
                "GroupName",
                "group names are 1-255 ASCII characters",
            ));
        }
        if name.to_ascii_lowercase().starts_with("sg-") {
            return Err(Error::invalid(
                "GroupName",
                "Group names may not be in the format sg-*",
            ));
        }
        if description.len() > 255 || !description.is_ascii() {
            return Err(Error::invalid(
                "GroupDescription",
                "group descriptions are up to 255 ASCII characters",
            ));
        }
        let vpc_id = match vpc_id {
            Some(id) => self.vpc(tenant, id).await?.id,
            None => self.ensure_default_vpc(tenant).await?,
        };
        self.insert_security_group(tenant, &vpc_id, name, description)
            .await
    }

    async fn insert_security_group(
        &self,
        tenant: &Tenant,
        vpc_id: &str,
        name: &str,
        description: &str,
    ) -> Result<String> {
        let id = ResourceKind::SecurityGroup.new_id();
        let inserted = sqlx::query("INSERT INTO security_groups (id, tenant_id, vpc_id, name, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(&tenant.id)
            .bind(vpc_id)
            .bind(name)
            .bind(description)
            .bind(now())
            .execute(self.db.pool())
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::duplicate(ResourceKind::SecurityGroup, name))
            }
            Err(e) => return Err(db_err(e)),
        }
        let egress = RuleSpec {
            protocol: "-1".into(),
            peer: Some(RulePeer::Cidr4 {
                cidr: "0.0.0.0/0".into(),
                description: None,
            }),
            ..RuleSpec::default()
        };
        self.authorize_rules(
            tenant,
            &GroupRef::Id(id.clone()),
            Direction::Egress,
            vec![egress],
        )
        .await?;
        Ok(id)
    }

    /// All of the tenant's groups with rules and tags, by name.
    pub async fn list_security_groups(&self, tenant: &Tenant) -> Result<Vec<SecurityGroup>> {
        let rows = sqlx::query("SELECT id, vpc_id, name, description FROM security_groups WHERE tenant_id = $1 ORDER BY name, id")
            .bind(&tenant.id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        let rule_rows = sqlx::query(
            "SELECT r.id, r.group_id, r.direction, r.protocol, r.from_port, r.to_port, r.peer_kind, r.peer, r.description \
             FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id WHERE g.tenant_id = $1 ORDER BY r.id",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut rules: HashMap<String, Vec<Rule>> = HashMap::new();
        for row in &rule_rows {
            rules
                .entry(text(row, "group_id")?)
                .or_default()
                .push(rule_from_row(row)?);
        }
        let mut tags = self
            .tags_by_resource(tenant, ResourceKind::SecurityGroup)
            .await?;
        rows.iter()
            .map(|row| {
                let id = text(row, "id")?;
                Ok(SecurityGroup {
                    rules: rules.remove(&id).unwrap_or_default(),
                    tags: tags.remove(&id).unwrap_or_default(),
                    vpc_id: opt_text(row, "vpc_id")?,
                    name: text(row, "name")?,
                    description: text(row, "description")?,
                    owner_id: tenant.account_id.clone(),
                    id,
                })
            })
            .collect()
    }

    /// Resolves a group reference within the tenant; names refer to groups
    /// of the default VPC, as on AWS.
    pub async fn security_group(&self, tenant: &Tenant, group: &GroupRef) -> Result<SecurityGroup> {
        let groups = self.list_security_groups(tenant).await?;
        let default_vpc = match group {
            GroupRef::Name(_) => self.default_vpc_id(tenant).await?,
            GroupRef::Id(_) => None,
        };
        let found = groups.into_iter().find(|g| match group {
            GroupRef::Id(id) => &g.id == id,
            GroupRef::Name(name) => {
                &g.name == name && (g.vpc_id.is_none() || g.vpc_id == default_vpc)
            }
        });
        found.ok_or_else(|| {
            let id = match group {
                GroupRef::Id(id) | GroupRef::Name(id) => id.clone(),
            };
            Error::not_found(ResourceKind::SecurityGroup, id)
        })
    }

    /// Adds rules atomically: if any is a duplicate or invalid, none is added.
    pub async fn authorize_rules(
        &self,
        tenant: &Tenant,
        group: &GroupRef,
        direction: Direction,
        specs: Vec<RuleSpec>,
    ) -> Result<Vec<Rule>> {
        let group = self.security_group(tenant, group).await?;
        let mut rules = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut rule = spec.normalize(direction)?;
            if let RulePeer::Group { group_id, .. } = &rule.peer {
                if group_id != &group.id {
                    self.security_group(tenant, &GroupRef::Id(group_id.clone()))
                        .await?;
                }
            }
            rule.id = ResourceKind::SecurityGroupRule.new_id();
            rules.push(rule);
        }
        let mut tx = self.db.begin_write().await?;
        for rule in &rules {
            let (peer_kind, peer, description) = peer_parts(&rule.peer);
            let inserted = sqlx::query(
                "INSERT INTO security_group_rules (id, group_id, rule_key, direction, protocol, from_port, to_port, peer_kind, peer, description) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&rule.id)
            .bind(&group.id)
            .bind(rule_key(rule))
            .bind(direction.as_str())
            .bind(&rule.protocol)
            .bind(rule.from_port.map(i64::from))
            .bind(rule.to_port.map(i64::from))
            .bind(peer_kind)
            .bind(peer)
            .bind(description)
            .execute(&mut *tx)
            .await;
            match inserted {
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
        self.push_security_group(tenant, &group.id).await?;
        self.network_changed().await;
        Ok(rules)
    }

    /// Removes rules atomically, named by content or by rule ID; if any does not
    /// exist, none is removed.
    pub async fn revoke_rules(
        &self,
        tenant: &Tenant,
        group: &GroupRef,
        direction: Direction,
        specs: Vec<RuleSpec>,
        rule_ids: &[String],
    ) -> Result<()> {
        let group = self.security_group(tenant, group).await?;
        let mut doomed = Vec::new();
        for spec in specs {
            let wanted = rule_key(&spec.normalize(direction)?);
            let found = group
                .rules
                .iter()
                .find(|r| r.direction == direction && rule_key(r) == wanted);
            match found {
                Some(rule) => doomed.push(rule.id.clone()),
                None => return Err(Error::not_found(ResourceKind::SecurityGroupRule, wanted)),
            }
        }
        for id in rule_ids {
            if !group
                .rules
                .iter()
                .any(|r| &r.id == id && r.direction == direction)
            {
                return Err(Error::not_found(
                    ResourceKind::SecurityGroupRule,
                    id.clone(),
                ));
            }
            doomed.push(id.clone());
        }
        let mut tx = self.db.begin_write().await?;
        for id in &doomed {
            sqlx::query("DELETE FROM security_group_rules WHERE id = $1 AND group_id = $2")
                .bind(id)
                .bind(&group.id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND resource_id = $2")
                .bind(&tenant.id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.push_security_group(tenant, &group.id).await?;
        self.network_changed().await;
        Ok(())
    }

    /// Deletes a group. The `default` group cannot go, nor a group other groups' rules name.
    pub async fn delete_security_group(&self, tenant: &Tenant, group: &GroupRef) -> Result<String> {
        let group = self.security_group(tenant, group).await?;
        if group.name == "default" {
            return Err(Error::CannotDelete(
                "the default security group cannot be deleted".into(),
            ));
        }
        let referenced_by = sqlx::query("SELECT group_id FROM security_group_rules WHERE peer_kind = 'group' AND peer = $1 AND group_id <> $1")
            .bind(&group.id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        if let Some(row) = referenced_by {
            return Err(Error::DependencyViolation(format!(
                "resource {} has a dependent object ({})",
                group.id,
                text(&row, "group_id")?
            )));
        }
        let used_by = sqlx::query(
            "SELECT g.instance_id FROM instance_groups g JOIN instances i ON i.id = g.instance_id \
             WHERE g.group_id = $1 AND i.state <> 'terminated'",
        )
        .bind(&group.id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?;
        if let Some(row) = used_by {
            return Err(Error::DependencyViolation(format!(
                "resource {} has a dependent object ({})",
                group.id,
                text(&row, "instance_id")?
            )));
        }
        self.delete_remote_copies(&group.id).await?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND (resource_id = $2 OR resource_id IN (SELECT id FROM security_group_rules WHERE group_id = $2))")
            .bind(&tenant.id)
            .bind(&group.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM security_groups WHERE id = $1 AND tenant_id = $2")
            .bind(&group.id)
            .bind(&tenant.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(group.id)
    }
}

/// Human text for a rule, for error messages.
pub(crate) fn describe_rule(rule: &Rule) -> String {
    let (_, peer, _) = peer_parts(&rule.peer);
    match (rule.from_port, rule.to_port) {
        (Some(from), Some(to)) => format!("{} {}-{} {}", rule.protocol, from, to, peer),
        _ => format!(
            "{} {}",
            if rule.protocol == "-1" {
                "all"
            } else {
                &rule.protocol
            },
            peer
        ),
    }
}
