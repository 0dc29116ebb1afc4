//! Security group rules by `sgr-` ID: Authorize answers them, Describe and
//! Modify SecurityGroupRules work on them (filters, tags, replaced in place,
//! pushed to remote copies), and another tenant neither sees nor touches them.

use aws_sdk_ec2::types::{
    Filter, ResourceType, SecurityGroupRule, SecurityGroupRuleRequest, SecurityGroupRuleUpdate, Tag,
};

use crate::common::{ec2_code, on_both_databases, ssh_from};
use crate::placement::{site, tag_spec};

fn update(rule_id: &str, port: i32, cidr: &str) -> SecurityGroupRuleUpdate {
    SecurityGroupRuleUpdate::builder()
        .security_group_rule_id(rule_id)
        .security_group_rule(
            SecurityGroupRuleRequest::builder()
                .ip_protocol("tcp")
                .from_port(port)
                .to_port(port)
                .cidr_ipv4(cidr)
                .description("moved")
                .build(),
        )
        .build()
}

async fn rules(ec2: &aws_sdk_ec2::Client, filter: (&str, &str)) -> Vec<SecurityGroupRule> {
    ec2.describe_security_group_rules()
        .filters(Filter::builder().name(filter.0).values(filter.1).build())
        .send()
        .await
        .unwrap()
        .security_group_rules()
        .to_vec()
}

#[tokio::test]
async fn rules_by_id_described_modified_and_the_tenants_alone() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let group = ec2
            .create_security_group()
            .group_name("web")
            .description("web")
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap();
        let granted = ec2
            .authorize_security_group_ingress()
            .group_id(&group)
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .tag_specifications(tag_spec(
                ResourceType::SecurityGroupRule,
                &[("Name", "ssh")],
            ))
            .send()
            .await
            .unwrap();
        let answered = &granted.security_group_rules()[0];
        let ssh = answered.security_group_rule_id().unwrap().to_string();
        assert!(ssh.starts_with("sgr-") && ssh.len() == 21, "{ssh}");
        assert_eq!(answered.tags()[0].key(), Some("Name"));

        // The group's rules: SSH in and the default all-out, with stable IDs.
        let of_group = rules(&ec2, ("group-id", &group)).await;
        assert_eq!(of_group.len(), 2);
        let shown = of_group
            .iter()
            .find(|r| r.security_group_rule_id() == Some(ssh.as_str()))
            .unwrap();
        assert_eq!(shown.is_egress(), Some(false));
        assert_eq!((shown.from_port(), shown.to_port()), (Some(22), Some(22)));
        assert_eq!(shown.cidr_ipv4(), Some("10.0.0.0/8"));
        assert_eq!(shown.group_id(), Some(group.as_str()));
        assert!(shown
            .security_group_rule_arn()
            .unwrap()
            .ends_with(&format!(":security-group-rule/{ssh}")));
        let egress = of_group
            .iter()
            .find(|r| r.is_egress() == Some(true))
            .unwrap();
        assert_eq!(egress.ip_protocol(), Some("-1"));
        assert_eq!(rules(&ec2, ("tag:Name", "ssh")).await.len(), 1);
        assert_eq!(rules(&ec2, ("security-group-rule-id", &ssh)).await.len(), 1);
        let by_id = ec2
            .describe_security_group_rules()
            .security_group_rule_ids(&ssh)
            .send()
            .await
            .unwrap();
        assert_eq!(by_id.security_group_rules().len(), 1);

        // Replaced in place: the same ID, the new content, and the group agrees.
        ec2.modify_security_group_rules()
            .group_id(&group)
            .security_group_rules(update(&ssh, 2222, "192.0.2.0/24"))
            .send()
            .await
            .unwrap();
        let moved = &rules(&ec2, ("security-group-rule-id", &ssh)).await[0];
        assert_eq!(
            (moved.from_port(), moved.cidr_ipv4()),
            (Some(2222), Some("192.0.2.0/24"))
        );
        assert_eq!(moved.description(), Some("moved"));
        assert_eq!(moved.tags().len(), 1, "tags stay with the rule");
        let described = ec2
            .describe_security_groups()
            .group_ids(&group)
            .send()
            .await
            .unwrap();
        let ingress = described.security_groups()[0].ip_permissions();
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0].from_port(), Some(2222));

        // Errors, and nothing changes on them.
        let unknown = ec2
            .modify_security_group_rules()
            .group_id(&group)
            .security_group_rules(update("sgr-0123456789abcdef0", 80, "0.0.0.0/0"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&unknown), "InvalidSecurityGroupRuleId.NotFound");
        let missing = ec2
            .describe_security_group_rules()
            .security_group_rule_ids("sgr-0123456789abcdef0")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&missing), "InvalidSecurityGroupRuleId.NotFound");
        let second = ec2
            .authorize_security_group_ingress()
            .group_id(&group)
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .send()
            .await
            .unwrap()
            .security_group_rules()[0]
            .security_group_rule_id()
            .unwrap()
            .to_string();
        let duplicate = ec2
            .modify_security_group_rules()
            .group_id(&group)
            .security_group_rules(update(&second, 2222, "192.0.2.0/24"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&duplicate), "InvalidPermission.Duplicate");

        // Another tenant: nothing to see, nothing to change, nothing to tag.
        let other = server.ec2(&server.tenant("team-b"));
        assert!(rules(&other, ("group-id", &group)).await.is_empty());
        let unseen = other
            .describe_security_group_rules()
            .security_group_rule_ids(&ssh)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&unseen), "InvalidSecurityGroupRuleId.NotFound");
        let untouched = other
            .modify_security_group_rules()
            .group_id(&group)
            .security_group_rules(update(&ssh, 80, "0.0.0.0/0"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&untouched), "InvalidGroup.NotFound");
        let untagged = other
            .create_tags()
            .resources(&ssh)
            .tags(Tag::builder().key("x").value("y").build())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&untagged), "InvalidSecurityGroupRuleId.NotFound");
        assert_eq!(
            rules(&ec2, ("security-group-rule-id", &ssh)).await[0].from_port(),
            Some(2222)
        );

        // A revoked rule's tags go with it.
        ec2.revoke_security_group_ingress()
            .group_id(&group)
            .security_group_rule_ids(&ssh)
            .send()
            .await
            .unwrap();
        let tags = ec2
            .describe_tags()
            .filters(Filter::builder().name("resource-id").values(&ssh).build())
            .send()
            .await
            .unwrap();
        assert!(tags.tags().is_empty());
    })
    .await;
}

/// ModifySecurityGroupRules reaches a group's copy on a remote target, as Authorize does.
#[tokio::test]
async fn modified_rules_reach_remote_copies() {
    let site = site().await;
    let image = site.virginia.image_shared_with(&site.tokyo).await;
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let group = ec2
        .create_security_group()
        .group_name("web")
        .description("web")
        .send()
        .await
        .unwrap()
        .group_id
        .unwrap();
    let ssh = ec2
        .authorize_security_group_ingress()
        .group_id(&group)
        .ip_permissions(ssh_from("198.51.100.0/24"))
        .send()
        .await
        .unwrap()
        .security_group_rules()[0]
        .security_group_rule_id()
        .unwrap()
        .to_string();
    ec2.run_instances()
        .image_id(&image)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .security_group_ids(&group)
        .send()
        .await
        .unwrap();
    ec2.modify_security_group_rules()
        .group_id(&group)
        .security_group_rules(update(&ssh, 443, "0.0.0.0/0"))
        .send()
        .await
        .unwrap();
    let copy_name = format!("skyport-{group}");
    let mut copies = Vec::new();
    for cloud in [&site.tokyo, &site.virginia] {
        let groups = cloud.ec2().describe_security_groups().send().await.unwrap();
        copies.extend(
            groups
                .security_groups()
                .iter()
                .filter(|g| g.group_name() == Some(copy_name.as_str()))
                .cloned(),
        );
    }
    assert_eq!(copies.len(), 1, "one copy where the instance runs");
    let ports: Vec<(Option<i32>, Option<&str>)> = copies[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            p.ip_ranges()
                .iter()
                .map(move |r| (p.from_port(), r.cidr_ip()))
        })
        .collect();
    assert_eq!(ports, [(Some(443), Some("0.0.0.0/0"))]);
}
