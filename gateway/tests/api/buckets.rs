//! S3 bucket operations on the local store.

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};

use crate::common::{on_both_databases, s3_code};

#[tokio::test]
async fn bucket_lifecycle() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("alpha").send().await.unwrap();
        s3.create_bucket().bucket("beta.logs").send().await.unwrap();
        assert!(server.data_dir.join("objects/alpha").is_dir());

        let listed = s3.list_buckets().send().await.unwrap();
        let names: Vec<_> = listed.buckets().iter().filter_map(|b| b.name()).collect();
        assert_eq!(names, ["alpha", "beta.logs"]);
        assert!(listed.buckets()[0].creation_date().is_some());

        s3.head_bucket().bucket("alpha").send().await.unwrap();
        let missing = s3
            .head_bucket()
            .bucket("nothing-here")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            missing.raw_response().map(|r| r.status().as_u16()),
            Some(404)
        );

        let location = s3
            .get_bucket_location()
            .bucket("alpha")
            .send()
            .await
            .unwrap();
        assert_eq!(
            location
                .location_constraint()
                .map(|c| c.as_str())
                .unwrap_or(""),
            "",
            "us-east-1 reports an empty constraint"
        );

        let again = s3.create_bucket().bucket("alpha").send().await.unwrap_err();
        assert_eq!(s3_code(&again), "BucketAlreadyOwnedByYou");
        let invalid = s3
            .create_bucket()
            .bucket("Bad_Name")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&invalid), "InvalidBucketName");
        let elsewhere = s3
            .create_bucket()
            .bucket("gamma")
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&elsewhere), "InvalidLocationConstraint");

        // A non-empty bucket cannot be deleted.
        s3.put_object()
            .bucket("alpha")
            .key("object")
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
        let full = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
        assert_eq!(s3_code(&full), "BucketNotEmpty");
        s3.delete_object()
            .bucket("alpha")
            .key("object")
            .send()
            .await
            .unwrap();

        s3.delete_bucket().bucket("alpha").send().await.unwrap();
        let gone = s3.delete_bucket().bucket("alpha").send().await.unwrap_err();
        assert_eq!(s3_code(&gone), "NoSuchBucket");
        assert!(!server.data_dir.join("objects/alpha").exists());
    })
    .await;
}

#[tokio::test]
async fn bucket_quota_is_enforced() {
    on_both_databases(|server| async move {
        let keys = server.tenant("quota-t");
        server
            .admin(&["quota", "set", "--tenant", "quota-t", "--buckets", "1"])
            .unwrap();
        let s3 = server.s3(&keys);
        s3.create_bucket().bucket("quota-one").send().await.unwrap();
        let over = s3
            .create_bucket()
            .bucket("quota-two")
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&over), "TooManyBuckets");
    })
    .await;
}
