//! CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{Filter, KeyType, ResourceType, Tag, TagSpecification};

use crate::common::{ec2_code, on_both_databases};

/// Keys made once with ssh-keygen; fingerprints computed independently with
/// `ssh-keygen -l` (ED25519) and `ssh-keygen -e -m PKCS8 | openssl pkey -pubin -outform DER | openssl md5 -c` (RSA).
const ED25519_PUB: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIFU33xex5+xnWCqjVj76OuMJ23rfdHuVbmr3LZgjZ0w test@skyport";
const ED25519_FINGERPRINT: &str = "n67S8O4vbOVer5lm3GLpVppp+++jrYcW72lOBKZeTLU=";
const RSA_PUB: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC1uTy+XhrR5F+M4be4ugA5uDBWcNBO2lzhE52u43rvaMpz73ICY77DpLKxmyuScS3AbjJHpRAmYeyIJX/wBy03aPFIEZV1LGUemqHNh4Wh9WB4+MUeKJ4jYytNHwX2iASHfk7P85ozxjJ/FtQLAdadDdPRw8iSXHlTNojFkxPIpD6Z68kKTPBX19tfcWDzke6sGn12H/WZPxXoLKzra3u3gundjKRGWfN90D+LtSShtgEY345gTKVGLVBmAG3pFT2eeINsCLYok4eZTGww+socp5DfLa0+JIGpqxj0w7mvN+3WDvgqlWhpqkINm3JCm+UFi+hjZx6psuity4qCEi4l rsa@skyport";
const RSA_FINGERPRINT: &str = "c2:f3:c0:0d:4c:4b:be:11:16:7c:15:49:f2:92:1f:ac";

#[tokio::test]
async fn key_pair_lifecycle() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let created = ec2
            .create_key_pair()
            .key_name("rsa-key")
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::KeyPair)
                    .tags(Tag::builder().key("team").value("core").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert!(created
            .key_material()
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(
            created.key_fingerprint().unwrap().split(':').count(),
            20,
            "SHA-1 of the PKCS#8 key, colon hex"
        );
        assert!(created.key_pair_id().unwrap().starts_with("key-"));

        let ed = ec2
            .create_key_pair()
            .key_name("ed-key")
            .key_type(KeyType::Ed25519)
            .send()
            .await
            .unwrap();
        assert!(ed
            .key_material()
            .unwrap()
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
        assert!(
            ed.key_fingerprint().unwrap().ends_with('='),
            "base64 SHA-256"
        );

        let imported = ec2
            .import_key_pair()
            .key_name("imported")
            .public_key_material(Blob::new(ED25519_PUB))
            .send()
            .await
            .unwrap();
        assert_eq!(imported.key_fingerprint(), Some(ED25519_FINGERPRINT));
        let imported_rsa = ec2
            .import_key_pair()
            .key_name("imported-rsa")
            .public_key_material(Blob::new(RSA_PUB))
            .send()
            .await
            .unwrap();
        assert_eq!(imported_rsa.key_fingerprint(), Some(RSA_FINGERPRINT));

        let dup = ec2
            .create_key_pair()
            .key_name("rsa-key")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&dup), "InvalidKeyPair.Duplicate");
        let bad = ec2
            .import_key_pair()
            .key_name("bad")
            .public_key_material(Blob::new("ssh-rsa nonsense"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&bad), "InvalidKey.Format");

        let all = ec2.describe_key_pairs().send().await.unwrap();
        let names: Vec<_> = all
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name())
            .collect();
        assert_eq!(names, ["ed-key", "imported", "imported-rsa", "rsa-key"]);
        let by_tag = ec2
            .describe_key_pairs()
            .filters(Filter::builder().name("tag:team").values("core").build())
            .send()
            .await
            .unwrap();
        assert_eq!(by_tag.key_pairs().len(), 1);
        assert_eq!(by_tag.key_pairs()[0].key_name(), Some("rsa-key"));
        let by_type = ec2
            .describe_key_pairs()
            .filters(Filter::builder().name("key-type").values("ed*").build())
            .include_public_key(true)
            .send()
            .await
            .unwrap();
        assert_eq!(by_type.key_pairs().len(), 2);
        assert!(by_type
            .key_pairs()
            .iter()
            .all(|k| k.public_key().unwrap().starts_with("ssh-ed25519 ")));

        let missing = ec2
            .describe_key_pairs()
            .key_names("nope")
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&missing), "InvalidKeyPair.NotFound");

        ec2.delete_key_pair()
            .key_name("rsa-key")
            .send()
            .await
            .unwrap();
        ec2.delete_key_pair()
            .key_pair_id(imported.key_pair_id().unwrap())
            .send()
            .await
            .unwrap();
        // Like AWS, deleting a missing key succeeds.
        ec2.delete_key_pair()
            .key_name("rsa-key")
            .send()
            .await
            .unwrap();
        let left = ec2.describe_key_pairs().send().await.unwrap();
        assert_eq!(left.key_pairs().len(), 2);
        let tags = ec2.describe_tags().send().await.unwrap();
        assert!(tags.tags().is_empty(), "tags go with their resource");
    })
    .await;
}
