//! CreateSecurityGroup, DescribeSecurityGroups, Authorize/Revoke Ingress/Egress,
//! DeleteSecurityGroup.

use accounts::{GroupRef, RuleSpec};
use cloud::types::{Direction, Rule, RulePeer, SecurityGroup, Tag};

use super::filter::{self, absent, field, one, opt, FilterField, Filterable};
use super::page::paginate;
use super::params::Params;
use super::security_group_rules::write_rule;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::XmlWriter;
use super::{Action, Ec2Call};
use crate::error::Ec2Error;

fn group_ref(params: &Params) -> Result<GroupRef, Ec2Error> {
    match (params.get("GroupId"), params.get("GroupName")) {
        (Some(id), _) if !id.is_empty() => Ok(GroupRef::Id(id.to_string())),
        (_, Some(name)) if !name.is_empty() => Ok(GroupRef::Name(name.to_string())),
        _ => Err(Ec2Error::missing("GroupId")),
    }
}

fn port(params: &Params, name: &str) -> Result<Option<i32>, Ec2Error> {
    params
        .int(name)?
        .map(|p| {
            i32::try_from(p).map_err(|_| Ec2Error::invalid_value(format!("Invalid {name} {p}")))
        })
        .transpose()
}

/// Reads `IpPermissions.N` (and the legacy top-level single-rule form) into rule specs.
async fn rule_specs(call: &Ec2Call<'_>) -> Result<Vec<RuleSpec>, Ec2Error> {
    let mut specs = Vec::new();
    for perm in call.params.structs("IpPermissions") {
        let protocol = perm
            .get("IpProtocol")
            .ok_or_else(|| Ec2Error::missing("IpPermissions.N.IpProtocol"))?
            .to_string();
        let (from_port, to_port) = (port(&perm, "FromPort")?, port(&perm, "ToPort")?);
        let mut peers = Vec::new();
        for range in perm.structs("IpRanges") {
            let cidr = range
                .get("CidrIp")
                .ok_or_else(|| Ec2Error::missing("IpRanges.N.CidrIp"))?;
            peers.push(RulePeer::Cidr4 {
                cidr: cidr.to_string(),
                description: range.get("Description").map(str::to_string),
            });
        }
        for range in perm.structs("Ipv6Ranges") {
            let cidr = range
                .get("CidrIpv6")
                .ok_or_else(|| Ec2Error::missing("Ipv6Ranges.N.CidrIpv6"))?;
            peers.push(RulePeer::Cidr6 {
                cidr: cidr.to_string(),
                description: range.get("Description").map(str::to_string),
            });
        }
        for pair in perm.structs("Groups") {
            let group_id = match (pair.get("GroupId"), pair.get("GroupName")) {
                (Some(id), _) => id.to_string(),
                (None, Some(name)) => {
                    call.accounts
                        .security_group(&call.principal.tenant, &GroupRef::Name(name.to_string()))
                        .await?
                        .id
                }
                _ => return Err(Ec2Error::missing("Groups.N.GroupId")),
            };
            peers.push(RulePeer::Group {
                group_id,
                description: pair.get("Description").map(str::to_string),
            });
        }
        if peers.is_empty() {
            return Err(Ec2Error::missing("IpPermissions.N.IpRanges"));
        }
        for peer in peers {
            specs.push(RuleSpec {
                protocol: protocol.clone(),
                from_port,
                to_port,
                peer: Some(peer),
            });
        }
    }
    if let Some(cidr) = call.params.get("CidrIp") {
        specs.push(RuleSpec {
            protocol: call.params.get("IpProtocol").unwrap_or("-1").to_string(),
            from_port: port(&call.params, "FromPort")?,
            to_port: port(&call.params, "ToPort")?,
            peer: Some(RulePeer::Cidr4 {
                cidr: cidr.to_string(),
                description: None,
            }),
        });
    }
    Ok(specs)
}

/// The values of one field of a group's rules in one direction.
fn rule_values(
    group: &SecurityGroup,
    direction: Direction,
    value: impl Fn(&Rule) -> Option<String>,
) -> Vec<String> {
    group
        .rules
        .iter()
        .filter(|r| r.direction == direction)
        .filter_map(value)
        .collect()
}

fn protocol(rule: &Rule) -> Option<String> {
    Some(rule.protocol.clone())
}
fn from_port(rule: &Rule) -> Option<String> {
    rule.from_port.map(|p| p.to_string())
}
fn to_port(rule: &Rule) -> Option<String> {
    rule.to_port.map(|p| p.to_string())
}
fn cidr4(rule: &Rule) -> Option<String> {
    match &rule.peer {
        RulePeer::Cidr4 { cidr, .. } => Some(cidr.clone()),
        _ => None,
    }
}
fn cidr6(rule: &Rule) -> Option<String> {
    match &rule.peer {
        RulePeer::Cidr6 { cidr, .. } => Some(cidr.clone()),
        _ => None,
    }
}
fn peer_group(rule: &Rule) -> Option<String> {
    match &rule.peer {
        RulePeer::Group { group_id, .. } => Some(group_id.clone()),
        _ => None,
    }
}

impl Filterable for SecurityGroup {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["group-id"], |g| one(&g.id)),
        field(&["group-name"], |g| one(&g.name)),
        field(&["description"], |g| one(&g.description)),
        field(&["vpc-id"], |g| opt(&g.vpc_id)),
        field(&["owner-id"], |g| one(&g.owner_id)),
        field(&["ip-permission.protocol"], |g| {
            rule_values(g, Direction::Ingress, protocol)
        }),
        field(&["ip-permission.from-port"], |g| {
            rule_values(g, Direction::Ingress, from_port)
        }),
        field(&["ip-permission.to-port"], |g| {
            rule_values(g, Direction::Ingress, to_port)
        }),
        field(&["ip-permission.cidr"], |g| {
            rule_values(g, Direction::Ingress, cidr4)
        }),
        field(&["ip-permission.ipv6-cidr"], |g| {
            rule_values(g, Direction::Ingress, cidr6)
        }),
        field(&["ip-permission.group-id"], |g| {
            rule_values(g, Direction::Ingress, peer_group)
        }),
        field(&["ip-permission.user-id"], |g| {
            rule_values(g, Direction::Ingress, |r| {
                peer_group(r).map(|_| g.owner_id.clone())
            })
        }),
        field(&["egress.ip-permission.protocol"], |g| {
            rule_values(g, Direction::Egress, protocol)
        }),
        field(&["egress.ip-permission.from-port"], |g| {
            rule_values(g, Direction::Egress, from_port)
        }),
        field(&["egress.ip-permission.to-port"], |g| {
            rule_values(g, Direction::Egress, to_port)
        }),
        field(&["egress.ip-permission.cidr"], |g| {
            rule_values(g, Direction::Egress, cidr4)
        }),
        field(&["egress.ip-permission.ipv6-cidr"], |g| {
            rule_values(g, Direction::Egress, cidr6)
        }),
        field(&["egress.ip-permission.group-id"], |g| {
            rule_values(g, Direction::Egress, peer_group)
        }),
        field(&["egress.ip-permission.user-id"], |g| {
            rule_values(g, Direction::Egress, |r| {
                peer_group(r).map(|_| g.owner_id.clone())
            })
        }),
        // Group names of peers are not on the rules; AWS fills them only for
        // groups of default VPCs, and prefix lists do not exist here.
        absent(&[
            "ip-permission.group-name",
            "ip-permission.prefix-list-id",
            "egress.ip-permission.group-name",
            "egress.ip-permission.prefix-list-id",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

pub async fn create_security_group(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["GroupName", "GroupDescription", "VpcId", "TagSpecification"])?;
    let name = call.params.required("GroupName")?;
    let description = call.params.required("GroupDescription")?;
    let tags = tag_specifications(&call.params, "security-group")?;
    call.dry_run()?;
    let id = call
        .accounts
        .create_security_group(
            &call.principal.tenant,
            name,
            description,
            call.params.get("VpcId"),
        )
        .await?;
    apply_tag_specifications(&call, &id, &tags).await?;
    let mut x = XmlWriter::response("CreateSecurityGroup", call.request_id);
    x.leaf("return", "true").leaf("groupId", &id).tag_set(&tags);
    Ok(x.finish("CreateSecurityGroup"))
}

/// Rules sharing (protocol, from port, to port), with their peers.
type PermissionGroup<'a> = (&'a str, Option<i32>, Option<i32>, Vec<&'a RulePeer>);

/// Writes rules as EC2 `ipPermissions` items, grouped by (protocol, ports) as AWS does.
fn write_permissions(x: &mut XmlWriter, element: &'static str, rules: Vec<&Rule>, owner: &str) {
    x.start(element);
    let mut groups: Vec<PermissionGroup<'_>> = Vec::new();
    for rule in rules {
        match groups
            .iter_mut()
            .find(|(p, f, t, _)| *p == rule.protocol && *f == rule.from_port && *t == rule.to_port)
        {
            Some(entry) => entry.3.push(&rule.peer),
            None => groups.push((
                &rule.protocol,
                rule.from_port,
                rule.to_port,
                vec![&rule.peer],
            )),
        }
    }
    for (protocol, from, to, peers) in groups {
        x.start("item")
            .leaf("ipProtocol", protocol)
            .leaf_opt("fromPort", from)
            .leaf_opt("toPort", to);
        x.start("groups");
        for peer in &peers {
            if let RulePeer::Group {
                group_id,
                description,
            } = peer
            {
                x.start("item")
                    .leaf("userId", owner)
                    .leaf("groupId", group_id)
                    .leaf_opt("description", description.as_ref())
                    .end();
            }
        }
        x.end().start("ipRanges");
        for peer in &peers {
            if let RulePeer::Cidr4 { cidr, description } = peer {
                x.start("item")
                    .leaf("cidrIp", cidr)
                    .leaf_opt("description", description.as_ref())
                    .end();
            }
        }
        x.end().start("ipv6Ranges");
        for peer in &peers {
            if let RulePeer::Cidr6 { cidr, description } = peer {
                x.start("item")
                    .leaf("cidrIpv6", cidr)
                    .leaf_opt("description", description.as_ref())
                    .end();
            }
        }
        x.end().start("prefixListIds").end().end();
    }
    x.end();
}

pub async fn describe_security_groups(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["GroupName", "GroupId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let names = call.params.list("GroupName");
    let ids = call.params.list("GroupId");
    let filters = filter::parse_filters::<SecurityGroup>(&call.params)?;
    let tenant = &call.principal.tenant;
    let default_vpc = Some(call.accounts.ensure_default_vpc(tenant).await?);
    let all = call.accounts.list_security_groups(tenant).await?;
    // Names pick groups of the default VPC, as on AWS.
    let named = |g: &SecurityGroup, name: &String| &g.name == name && g.vpc_id == default_vpc;
    for wanted in names.iter().chain(&ids) {
        if !all.iter().any(|g| named(g, wanted) || &g.id == wanted) {
            return Err(cloud::Error::not_found(
                cloud::ResourceKind::SecurityGroup,
                wanted.clone(),
            )
            .into());
        }
    }
    let mut selected: Vec<SecurityGroup> = all
        .into_iter()
        .filter(|g| {
            (names.is_empty() && ids.is_empty())
                || names.iter().any(|n| named(g, n))
                || ids.contains(&g.id)
        })
        .collect();
    selected.sort_by(|a, b| a.id.cmp(&b.id));
    let groups = filter::apply(selected, &filters);
    let page = paginate(groups, &call.params, |g| g.id.clone())?;
    let mut x = XmlWriter::response("DescribeSecurityGroups", call.request_id);
    x.start("securityGroupInfo");
    for group in &page.items {
        x.start("item")
            .leaf("ownerId", &group.owner_id)
            .leaf("groupId", &group.id)
            .leaf("groupName", &group.name)
            .leaf("groupDescription", &group.description)
            .leaf_opt("vpcId", group.vpc_id.as_ref());
        let ingress = group
            .rules
            .iter()
            .filter(|r| r.direction == Direction::Ingress)
            .collect();
        let egress = group
            .rules
            .iter()
            .filter(|r| r.direction == Direction::Egress)
            .collect();
        write_permissions(&mut x, "ipPermissions", ingress, &group.owner_id);
        write_permissions(&mut x, "ipPermissionsEgress", egress, &group.owner_id);
        x.tag_set(&group.tags).end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeSecurityGroups"))
}

const RULE_PARAMS: &[&str] = &[
    "GroupId",
    "GroupName",
    "IpPermissions",
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
    "TagSpecification",
];

pub async fn authorize(
    call: Ec2Call<'_>,
    direction: Direction,
    action: Action,
) -> Result<String, Ec2Error> {
    call.params.expect_only(RULE_PARAMS)?;
    let group = group_ref(&call.params)?;
    let specs = rule_specs(&call).await?;
    if specs.is_empty() {
        return Err(Ec2Error::missing("IpPermissions"));
    }
    let tags = tag_specifications(&call.params, "security-group-rule")?;
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    let rules = call
        .accounts
        .authorize_rules(tenant, &group, direction, specs)
        .await?;
    let group = call.accounts.security_group(tenant, &group).await?;
    for rule in &rules {
        apply_tag_specifications(&call, &rule.id, &tags).await?;
    }
    let region = call.accounts.region();
    let mut x = XmlWriter::response(action.name(), call.request_id);
    x.leaf("return", "true").start("securityGroupRuleSet");
    for rule in &rules {
        write_rule(&mut x, rule, &group.id, &group.owner_id, &tags, region);
    }
    Ok(x.finish(action.name()))
}

pub async fn revoke(
    call: Ec2Call<'_>,
    direction: Direction,
    action: Action,
) -> Result<String, Ec2Error> {
    let mut allowed = RULE_PARAMS.to_vec();
    allowed.push("SecurityGroupRuleId");
    call.params.expect_only(&allowed)?;
    let group = group_ref(&call.params)?;
    let specs = rule_specs(&call).await?;
    let rule_ids = call.params.list("SecurityGroupRuleId");
    if specs.is_empty() && rule_ids.is_empty() {
        return Err(Ec2Error::missing("IpPermissions"));
    }
    call.dry_run()?;
    call.accounts
        .revoke_rules(&call.principal.tenant, &group, direction, specs, &rule_ids)
        .await?;
    let mut x = XmlWriter::response(action.name(), call.request_id);
    x.leaf("return", "true");
    Ok(x.finish(action.name()))
}

pub async fn delete_security_group(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["GroupId", "GroupName"])?;
    let group = group_ref(&call.params)?;
    call.dry_run()?;
    let id = call
        .accounts
        .delete_security_group(&call.principal.tenant, &group)
        .await?;
    let mut x = XmlWriter::response("DeleteSecurityGroup", call.request_id);
    x.leaf("return", "true").leaf("groupId", id);
    Ok(x.finish("DeleteSecurityGroup"))
}
