//! Bucket versioning: versions, delete markers, version deletes, suspension.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

use crate::common::{on_both_databases, s3_code};

async fn text_of(
    s3: &aws_sdk_s3::Client,
    key: &str,
    version: Option<&str>,
) -> Result<String, String> {
    match s3
        .get_object()
        .bucket("ver")
        .key(key)
        .set_version_id(version.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => {
            Ok(String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap())
        }
        Err(e) => Err(s3_code(&e)),
    }
}

#[tokio::test]
async fn versions_and_delete_markers() {
    on_both_databases(|server| async move {
        let s3 = server.s3(&server.admin_keys());
        s3.create_bucket().bucket("ver").send().await.unwrap();
        assert!(s3
            .get_bucket_versioning()
            .bucket("ver")
            .send()
            .await
            .unwrap()
            .status()
            .is_none());
        s3.put_object()
            .bucket("ver")
            .key("doc")
            .body(ByteStream::from_static(b"v0"))
            .send()
            .await
            .unwrap();
        let enable = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Enabled)
            .build();
        s3.put_bucket_versioning()
            .bucket("ver")
            .versioning_configuration(enable)
            .send()
            .await
            .unwrap();
        assert_eq!(
            s3.get_bucket_versioning()
                .bucket("ver")
                .send()
                .await
                .unwrap()
                .status(),
            Some(&BucketVersioningStatus::Enabled)
        );

        let v1 = s3
            .put_object()
            .bucket("ver")
            .key("doc")
            .body(ByteStream::from_static(b"v1"))
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap();
        let v2 = s3
            .put_object()
            .bucket("ver")
            .key("doc")
            .body(ByteStream::from_static(b"v2"))
            .send()
            .await
            .unwrap()
            .version_id
            .unwrap();
        assert_ne!(v1, v2);
        assert_eq!(text_of(&s3, "doc", None).await.unwrap(), "v2");
        assert_eq!(text_of(&s3, "doc", Some(&v1)).await.unwrap(), "v1");
        assert_eq!(
            text_of(&s3, "doc", Some("null")).await.unwrap(),
            "v0",
            "the pre-versioning object is the null version"
        );

        let deleted = s3
            .delete_object()
            .bucket("ver")
            .key("doc")
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.delete_marker(), Some(true));
        let marker = deleted.version_id().unwrap().to_string();
        assert_eq!(text_of(&s3, "doc", None).await.unwrap_err(), "NoSuchKey");
        assert_eq!(text_of(&s3, "doc", Some(&v2)).await.unwrap(), "v2");
        assert!(s3
            .list_objects_v2()
            .bucket("ver")
            .send()
            .await
            .unwrap()
            .contents()
            .is_empty());

        let listed = s3
            .list_object_versions()
            .bucket("ver")
            .send()
            .await
            .unwrap();
        assert_eq!(listed.versions().len(), 3);
        assert_eq!(listed.delete_markers().len(), 1);
        assert_eq!(listed.delete_markers()[0].is_latest(), Some(true));
        assert!(listed
            .versions()
            .iter()
            .all(|v| v.is_latest() == Some(false)));
        let order: Vec<_> = listed
            .versions()
            .iter()
            .map(|v| v.version_id().unwrap().to_string())
            .collect();
        assert_eq!(
            order,
            [v2.clone(), v1.clone(), "null".to_string()],
            "newest first"
        );

        // Removing the delete marker brings v2 back.
        s3.delete_object()
            .bucket("ver")
            .key("doc")
            .version_id(&marker)
            .send()
            .await
            .unwrap();
        assert_eq!(text_of(&s3, "doc", None).await.unwrap(), "v2");
        // Deleting the current version for good promotes v1.
        s3.delete_object()
            .bucket("ver")
            .key("doc")
            .version_id(&v2)
            .send()
            .await
            .unwrap();
        assert_eq!(text_of(&s3, "doc", None).await.unwrap(), "v1");
        assert_eq!(
            text_of(&s3, "doc", Some(&v2)).await.unwrap_err(),
            "NoSuchVersion"
        );

        // Paging through versions.
        let page = s3
            .list_object_versions()
            .bucket("ver")
            .max_keys(1)
            .send()
            .await
            .unwrap();
        assert_eq!(page.is_truncated(), Some(true));
        let next = s3
            .list_object_versions()
            .bucket("ver")
            .max_keys(1)
            .key_marker(page.next_key_marker().unwrap())
            .version_id_marker(page.next_version_id_marker().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(next.versions()[0].version_id(), Some("null"));
        assert_eq!(next.is_truncated(), Some(false));

        // Suspended: writes replace the null version.
        let suspend = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Suspended)
            .build();
        s3.put_bucket_versioning()
            .bucket("ver")
            .versioning_configuration(suspend)
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("ver")
            .key("doc")
            .body(ByteStream::from_static(b"s1"))
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("ver")
            .key("doc")
            .body(ByteStream::from_static(b"s2"))
            .send()
            .await
            .unwrap();
        assert_eq!(text_of(&s3, "doc", Some("null")).await.unwrap(), "s2");
        assert_eq!(text_of(&s3, "doc", Some(&v1)).await.unwrap(), "v1");
        let listed = s3
            .list_object_versions()
            .bucket("ver")
            .send()
            .await
            .unwrap();
        assert_eq!(listed.versions().len(), 2, "v1 and the one null version");

        // Versions roll up into common prefixes at a delimiter.
        s3.put_object()
            .bucket("ver")
            .key("logs/a")
            .body(ByteStream::from_static(b"a"))
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("ver")
            .key("logs/b")
            .body(ByteStream::from_static(b"b"))
            .send()
            .await
            .unwrap();
        let rolled = s3
            .list_object_versions()
            .bucket("ver")
            .delimiter("/")
            .send()
            .await
            .unwrap();
        let prefixes: Vec<_> = rolled
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .collect();
        assert_eq!(prefixes, ["logs/"]);
        assert!(rolled.versions().iter().all(|v| v.key() == Some("doc")));
        let under = s3
            .list_object_versions()
            .bucket("ver")
            .prefix("logs/")
            .send()
            .await
            .unwrap();
        assert_eq!(under.versions().len(), 2);

        // A bucket with versions left is not empty.
        let err = s3.delete_bucket().bucket("ver").send().await.unwrap_err();
        assert_eq!(s3_code(&err), "BucketNotEmpty");
    })
    .await;
}
