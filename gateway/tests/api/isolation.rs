//! A tenant never sees or touches another tenant's resources.

use aws_sdk_ec2::types::Tag;

use crate::common::{ec2_code, on_both_databases, s3_code};

#[tokio::test]
async fn tenants_are_isolated() {
    on_both_databases(|server| async move {
        let alice = server.tenant("alice");
        let bob = server.tenant("bob");
        let (a_ec2, b_ec2) = (server.ec2(&alice), server.ec2(&bob));
        let (a_s3, b_s3) = (server.s3(&alice), server.s3(&bob));

        let key = a_ec2
            .create_key_pair()
            .key_name("shared-name")
            .send()
            .await
            .unwrap();
        let group = a_ec2
            .create_security_group()
            .group_name("private")
            .description("p")
            .send()
            .await
            .unwrap();
        let group_id = group.group_id().unwrap();
        a_ec2
            .create_tags()
            .resources(group_id)
            .tags(Tag::builder().key("owner").value("alice").build())
            .send()
            .await
            .unwrap();
        a_s3.create_bucket()
            .bucket("alice-data")
            .send()
            .await
            .unwrap();

        // Bob sees none of it.
        assert!(b_ec2
            .describe_key_pairs()
            .send()
            .await
            .unwrap()
            .key_pairs()
            .is_empty());
        let groups = b_ec2.describe_security_groups().send().await.unwrap();
        assert_eq!(
            groups.security_groups().len(),
            1,
            "only bob's own default group"
        );
        assert_eq!(groups.security_groups()[0].group_name(), Some("default"));
        assert!(b_ec2
            .describe_tags()
            .send()
            .await
            .unwrap()
            .tags()
            .is_empty());
        assert!(b_s3
            .list_buckets()
            .send()
            .await
            .unwrap()
            .buckets()
            .is_empty());

        // Bob cannot touch it.
        let err = b_ec2
            .describe_security_groups()
            .group_ids(group_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidGroup.NotFound");
        let err = b_ec2
            .delete_security_group()
            .group_id(group_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidGroup.NotFound");
        let err = b_ec2
            .create_tags()
            .resources(group_id)
            .tags(Tag::builder().key("x").value("y").build())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidGroup.NotFound");
        let err = b_ec2
            .delete_tags()
            .resources(group_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidGroup.NotFound");
        let err = b_ec2
            .describe_key_pairs()
            .key_pair_ids(key.key_pair_id().unwrap())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "InvalidKeyPair.NotFound");
        b_ec2
            .delete_key_pair()
            .key_pair_id(key.key_pair_id().unwrap())
            .send()
            .await
            .unwrap();
        let err = b_s3
            .head_bucket()
            .bucket("alice-data")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
        let err = b_s3
            .delete_bucket()
            .bucket("alice-data")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "AccessDenied");
        let err = b_s3
            .create_bucket()
            .bucket("alice-data")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "BucketAlreadyExists");

        // Names are per tenant: bob may use the same key pair name.
        b_ec2
            .create_key_pair()
            .key_name("shared-name")
            .send()
            .await
            .unwrap();

        // Alice's things are all still there.
        assert_eq!(
            a_ec2
                .describe_key_pairs()
                .send()
                .await
                .unwrap()
                .key_pairs()
                .len(),
            1
        );
        assert_eq!(a_ec2.describe_tags().send().await.unwrap().tags().len(), 1);
        a_s3.head_bucket()
            .bucket("alice-data")
            .send()
            .await
            .unwrap();

        // Tenants cannot use the admin API.
        let denied = std::process::Command::new(env!("CARGO_BIN_EXE_skyport"))
            .args([
                "admin",
                "--endpoint",
                &server.endpoint,
                "--access-key-id",
                &bob.access_key,
                "--secret-access-key",
                &bob.secret_key,
                "tenant",
                "list",
            ])
            .output()
            .unwrap();
        assert!(!denied.status.success());
        assert!(String::from_utf8_lossy(&denied.stderr).contains("AccessDenied"));
    })
    .await;
}
