//! Security groups and their rules.

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, UserIdGroupPair};

use crate::common::{ec2_code, on_both_databases, ssh_from};

#[tokio::test]
async fn security_group_rules_round_trip() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let default = ec2
            .describe_security_groups()
            .group_names("default")
            .send()
            .await
            .unwrap();
        let default = &default.security_groups()[0];
        assert_eq!(
            default.ip_permissions()[0].user_id_group_pairs()[0].group_id(),
            default.group_id()
        );

        let web = ec2
            .create_security_group()
            .group_name("web")
            .description("web servers")
            .send()
            .await
            .unwrap();
        let web_id = web.group_id().unwrap().to_string();
        assert!(web_id.starts_with("sg-") && web_id.len() == 20);
        let dup = ec2
            .create_security_group()
            .group_name("web")
            .description("again")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&dup), "InvalidGroup.Duplicate");

        let granted = ec2
            .authorize_security_group_ingress()
            .group_id(&web_id)
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(default.group_id().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(granted.security_group_rules().len(), 2);
        let again = ec2
            .authorize_security_group_ingress()
            .group_id(&web_id)
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&again), "InvalidPermission.Duplicate");
        // All or nothing: a batch with one duplicate adds nothing.
        let mixed = ec2
            .authorize_security_group_ingress()
            .group_id(&web_id)
            .ip_permissions(ssh_from("192.0.2.0/24"))
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&mixed), "InvalidPermission.Duplicate");
        let bad = ec2
            .authorize_security_group_ingress()
            .group_id(&web_id)
            .ip_permissions(ssh_from("10.0.0.0/33"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&bad), "InvalidParameterValue");

        let described = ec2
            .describe_security_groups()
            .group_ids(&web_id)
            .send()
            .await
            .unwrap();
        let group = &described.security_groups()[0];
        assert_eq!(group.description(), Some("web servers"));
        let ssh = group
            .ip_permissions()
            .iter()
            .find(|p| p.from_port() == Some(22))
            .unwrap();
        let cidrs: Vec<_> = ssh.ip_ranges().iter().filter_map(|r| r.cidr_ip()).collect();
        assert_eq!(cidrs, ["10.0.0.0/8"]);
        assert_eq!(group.ip_permissions_egress()[0].ip_protocol(), Some("-1"));

        let by_port = ec2
            .describe_security_groups()
            .filters(
                Filter::builder()
                    .name("ip-permission.from-port")
                    .values("443")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(by_port.security_groups().len(), 1);
        assert_eq!(
            by_port.security_groups()[0].group_id(),
            Some(web_id.as_str())
        );

        ec2.authorize_security_group_egress()
            .group_id(&web_id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("udp")
                    .from_port(53)
                    .to_port(53)
                    .ip_ranges(IpRange::builder().cidr_ip("192.0.2.53/32").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ec2.revoke_security_group_ingress()
            .group_id(&web_id)
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .send()
            .await
            .unwrap();
        let gone = ec2
            .revoke_security_group_ingress()
            .group_id(&web_id)
            .ip_permissions(ssh_from("10.0.0.0/8"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&gone), "InvalidPermission.NotFound");
        let rule_id = granted
            .security_group_rules()
            .iter()
            .find(|r| r.from_port() == Some(443))
            .unwrap()
            .security_group_rule_id()
            .unwrap();
        // The default group is referenced by web's rule: it cannot go anyway, but web can once its rules are revoked.
        let cannot = ec2
            .delete_security_group()
            .group_id(default.group_id().unwrap())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&cannot), "CannotDelete");
        ec2.revoke_security_group_ingress()
            .group_id(&web_id)
            .security_group_rule_ids(rule_id)
            .send()
            .await
            .unwrap();
        let after = ec2
            .describe_security_groups()
            .group_ids(&web_id)
            .send()
            .await
            .unwrap();
        assert!(after.security_groups()[0].ip_permissions().is_empty());
        assert_eq!(after.security_groups()[0].ip_permissions_egress().len(), 2);

        ec2.delete_security_group()
            .group_id(&web_id)
            .send()
            .await
            .unwrap();
        let missing = ec2
            .describe_security_groups()
            .group_ids(&web_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&missing), "InvalidGroup.NotFound");
        let missing = ec2
            .delete_security_group()
            .group_id(&web_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&missing), "InvalidGroup.NotFound");
    })
    .await;
}

#[tokio::test]
async fn referenced_groups_cannot_be_deleted_and_listing_pages() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let mut ids = Vec::new();
        for i in 0..7 {
            let group = ec2
                .create_security_group()
                .group_name(format!("g{i}"))
                .description("d")
                .send()
                .await
                .unwrap();
            ids.push(group.group_id().unwrap().to_string());
        }
        ec2.authorize_security_group_ingress()
            .group_id(&ids[0])
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id(&ids[1]).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let blocked = ec2
            .delete_security_group()
            .group_id(&ids[1])
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&blocked), "DependencyViolation");

        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = ec2
                .describe_security_groups()
                .max_results(5)
                .set_next_token(token)
                .send()
                .await
                .unwrap();
            assert!(page.security_groups().len() <= 5);
            seen.extend(
                page.security_groups()
                    .iter()
                    .map(|g| g.group_id().unwrap().to_string()),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 8, "7 groups plus default, each once");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8);
        let bad = ec2
            .describe_security_groups()
            .max_results(2)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&bad), "InvalidParameterValue");
    })
    .await;
}
