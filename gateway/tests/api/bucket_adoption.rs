//! A tenant cannot take over a bucket that already exists in a target's
//! account by naming it in CreateBucket: not the operator's own, and not
//! another tenant's reached through a second target on the same account with
//! another `bucket_prefix`. The create is refused (409 BucketAlreadyExists) and
//! no object call of that tenant reaches the foreign bucket.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CreateBucketConfiguration, Tag};

use crate::common::{s3_code, Database, Server};
use crate::moto::Moto;

const POLICIES: &str = r#"
[[target]]
name = "left"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { storage_gb_month = 0.03 }

[[target]]
name = "right"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { storage_gb_month = 0.02 }

[[rule]]
name = "left-side"
match = { tags = { side = "left" } }
rank = ["prefer"]
prefer = ["left"]

[[rule]]
name = "cost-first"
rank = ["cheapest"]
"#;

/// Every object call a tenant could aim at `bucket` fails as for a missing bucket.
async fn unreachable(s3: &aws_sdk_s3::Client, bucket: &str) {
    let get = s3.get_object().bucket(bucket).key("secret").send().await;
    assert_eq!(s3_code(&get.unwrap_err()), "NoSuchBucket");
    let put = s3
        .put_object()
        .bucket(bucket)
        .key("secret")
        .body(ByteStream::from_static(b"overwritten"))
        .send()
        .await;
    assert_eq!(s3_code(&put.unwrap_err()), "NoSuchBucket");
    let list = s3.list_objects_v2().bucket(bucket).send().await;
    assert_eq!(s3_code(&list.unwrap_err()), "NoSuchBucket");
    let delete = s3.delete_object().bucket(bucket).key("secret").send().await;
    assert_eq!(s3_code(&delete.unwrap_err()), "NoSuchBucket");
    let drop = s3.delete_bucket().bucket(bucket).send().await;
    assert_eq!(s3_code(&drop.unwrap_err()), "NoSuchBucket");
}

async fn remote_body(moto: &Moto, bucket: &str) -> Vec<u8> {
    let object = moto
        .s3()
        .get_object()
        .bucket(bucket)
        .key("secret")
        .send()
        .await
        .unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn buckets_already_in_a_targets_account_are_never_adopted() {
    let cloud = Moto::start("us-east-1");
    let policy_dir = tempfile::tempdir().unwrap();
    std::fs::write(policy_dir.path().join("policies.toml"), POLICIES).unwrap();
    // Two targets on one account: "left" prefixes bucket names, "right" does not.
    let left = cloud.target_toml("left").replace(
        "[targets.left]\n",
        "[targets.left]\nbucket_prefix = \"site-a-\"\n",
    );
    let config = format!(
        "policy_dir = \"{}\"\n{left}{}",
        policy_dir.path().display(),
        cloud.target_toml("right")
    );
    let server = Server::start(Database::Sqlite, Some(&config)).await;
    let mallory = server.s3(&server.tenant("mallory"));

    // The operator's own bucket (us-east-1 answers a create of it with 200).
    let operator = cloud.s3();
    operator
        .create_bucket()
        .bucket("ops-data")
        .send()
        .await
        .unwrap();
    operator
        .put_object()
        .bucket("ops-data")
        .key("secret")
        .body(ByteStream::from_static(b"operator"))
        .send()
        .await
        .unwrap();
    let refused = mallory.create_bucket().bucket("ops-data").send().await;
    let error = refused.unwrap_err();
    assert_eq!(s3_code(&error), "BucketAlreadyExists");
    assert_eq!(error.raw_response().unwrap().status().as_u16(), 409);
    unreachable(&mallory, "ops-data").await;
    assert_eq!(remote_body(&cloud, "ops-data").await, b"operator");

    // Alice's bucket through "left" is `site-a-files` in the account; Mallory
    // names that through "right".
    let alice = server.s3(&server.tenant("alice"));
    alice
        .create_bucket()
        .bucket("files")
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .tags(Tag::builder().key("side").value("left").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket("files")
        .key("secret")
        .body(ByteStream::from_static(b"alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(remote_body(&cloud, "site-a-files").await, b"alice");
    let refused = mallory.create_bucket().bucket("site-a-files").send().await;
    assert_eq!(s3_code(&refused.unwrap_err()), "BucketAlreadyExists");
    unreachable(&mallory, "site-a-files").await;
    assert_eq!(remote_body(&cloud, "site-a-files").await, b"alice");
    // Alice still has her bucket, and a name free everywhere is still created.
    let listed = alice
        .list_objects_v2()
        .bucket("files")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.contents().len(), 1);
    mallory
        .create_bucket()
        .bucket("mallory-own")
        .send()
        .await
        .unwrap();
}
