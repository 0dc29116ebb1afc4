//! DescribeSecurityGroupRules and ModifySecurityGroupRules: rules by their
//! `sgr-` IDs, in the shape Authorize* also answers with.

use accounts::RuleSpec;
use accounts::{GroupRule, RuleChange};
use cloud::types::{Direction, Rule, RulePeer, Tag};
use cloud::ResourceKind;

use super::filter::{field, one, FilterField, Filterable};
use super::page::describe;
use super::params::Params;
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for GroupRule {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["group-id"], |r| one(&r.group_id)),
        field(&["security-group-rule-id"], |r| one(&r.rule.id)),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// One `securityGroupRuleSet` item.
pub(super) fn write_rule(
    x: &mut XmlWriter,
    rule: &Rule,
    group_id: &str,
    owner_id: &str,
    tags: &[Tag],
    region: &str,
) {
    x.start("item")
        .leaf("securityGroupRuleId", &rule.id)
        .leaf("groupId", group_id)
        .leaf("groupOwnerId", owner_id)
        .leaf("isEgress", rule.direction == Direction::Egress)
        .leaf("ipProtocol", &rule.protocol)
        .leaf("fromPort", rule.from_port.unwrap_or(-1))
        .leaf("toPort", rule.to_port.unwrap_or(-1));
    match &rule.peer {
        RulePeer::Cidr4 { cidr, description } => x
            .leaf("cidrIpv4", cidr)
            .leaf_opt("description", description.as_ref()),
        RulePeer::Cidr6 { cidr, description } => x
            .leaf("cidrIpv6", cidr)
            .leaf_opt("description", description.as_ref()),
        RulePeer::Group {
            group_id: peer,
            description,
        } => x
            .start("referencedGroupInfo")
            .leaf("groupId", peer)
            .leaf("userId", owner_id)
            .end()
            .leaf_opt("description", description.as_ref()),
    };
    x.leaf(
        "securityGroupRuleArn",
        format!(
            "arn:aws:ec2:{region}:{owner_id}:security-group-rule/{}",
            rule.id
        ),
    )
    .tag_set(tags)
    .end();
}

pub async fn describe_security_group_rules(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["SecurityGroupRuleId", "Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let all = call
        .accounts
        .list_security_group_rules(&call.principal.tenant)
        .await?;
    let page = describe(
        &call.params,
        all,
        "SecurityGroupRuleId",
        ResourceKind::SecurityGroupRule,
        |r| &r.rule.id,
    )?;
    let region = call.accounts.region();
    let mut x = XmlWriter::response("DescribeSecurityGroupRules", call.request_id);
    x.start("securityGroupRuleSet");
    for item in &page.items {
        write_rule(
            &mut x,
            &item.rule,
            &item.group_id,
            &item.owner_id,
            &item.tags,
            region,
        );
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeSecurityGroupRules"))
}

/// A `SecurityGroupRuleRequest`: what a rule becomes.
fn rule_request(request: &Params) -> Result<RuleSpec, Ec2Error> {
    let port = |name: &str| -> Result<Option<i32>, Ec2Error> {
        request
            .int(name)?
            .map(|p| {
                i32::try_from(p).map_err(|_| Ec2Error::invalid_value(format!("Invalid {name} {p}")))
            })
            .transpose()
    };
    let description = request.get("Description").map(str::to_string);
    let peers = [
        request.get("CidrIpv4").map(|cidr| RulePeer::Cidr4 {
            cidr: cidr.to_string(),
            description: description.clone(),
        }),
        request.get("CidrIpv6").map(|cidr| RulePeer::Cidr6 {
            cidr: cidr.to_string(),
            description: description.clone(),
        }),
        request
            .get("ReferencedGroupId")
            .map(|group| RulePeer::Group {
                group_id: group.to_string(),
                description: description.clone(),
            }),
    ];
    if request.get("PrefixListId").is_some() {
        return Err(Ec2Error::invalid_value(
            "Prefix lists are not offered on this site",
        ));
    }
    let mut peers: Vec<RulePeer> = peers.into_iter().flatten().collect();
    if peers.len() > 1 {
        return Err(Ec2Error::bad_request(
            "InvalidParameterCombination",
            "Specify exactly one of CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId",
        ));
    }
    Ok(RuleSpec {
        protocol: request
            .get("IpProtocol")
            .ok_or_else(|| Ec2Error::missing("SecurityGroupRule.N.SecurityGroupRule.IpProtocol"))?
            .to_string(),
        from_port: port("FromPort")?,
        to_port: port("ToPort")?,
        peer: peers.pop(),
    })
}

pub async fn modify_security_group_rules(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["GroupId", "SecurityGroupRule"])?;
    let group = call.params.required("GroupId")?;
    let mut changes = Vec::new();
    for update in call.params.structs("SecurityGroupRule") {
        let rule_id = update
            .get("SecurityGroupRuleId")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Ec2Error::missing("SecurityGroupRule.N.SecurityGroupRuleId"))?;
        let request = update.nested("SecurityGroupRule");
        changes.push(RuleChange {
            rule_id: rule_id.to_string(),
            spec: rule_request(&request)?,
        });
    }
    if changes.is_empty() {
        return Err(Ec2Error::missing("SecurityGroupRule"));
    }
    call.dry_run()?;
    call.accounts
        .modify_security_group_rules(&call.principal.tenant, group, changes)
        .await?;
    Ok(returned_true("ModifySecurityGroupRules", call.request_id))
}
