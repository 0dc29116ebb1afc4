//! The whole surface against moto_server: compute through `cloud::Compute`,
//! buckets, a streamed object, and the target going away.

use std::convert::Infallible;

use aws_backend::AwsTarget;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use cloud::{Compute, InstanceState, LaunchSpec};
use http_body::Frame;

use crate::support::{config, Moto};

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPv/RXVoJP/5s2gGDysJFw+03GVnJaTDe8KZ+WuETTRm skyport-test";

#[tokio::test]
async fn compute_buckets_objects_and_an_outage_against_moto() {
    let mut moto = Moto::start();
    let mut config = config(&moto.endpoint);
    config.bucket_prefix = "site1-".to_owned();
    let target = AwsTarget::new("moto", &config).unwrap();

    target.probe().await.unwrap();
    compute(&target).await;
    buckets_and_objects(&target).await;
    assert!(target.healthy());
    assert!(target.latency_ms().is_some_and(|latency| latency > 0.0));

    moto.kill();
    let error = target.describe_images(&[]).await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.starts_with("target moto is unavailable: ")),
        "{error:?}"
    );
    assert!(
        !target.healthy(),
        "three refused connections open the breaker"
    );
    let error = target.create_bucket("site1-after", None).await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.contains("circuit open")),
        "{error:?}"
    );
}

async fn compute(target: &AwsTarget) {
    let images = target.describe_images(&[]).await.unwrap();
    let image = images
        .iter()
        .find(|image| image.state == "available")
        .expect("moto ships default AMIs");
    let by_id = target
        .describe_images(std::slice::from_ref(&image.image_id))
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].image_id, image.image_id);
    let error = target
        .describe_images(&["ami-00000000000000000".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Remote { code, status: 400, .. } if code == "InvalidAMIID.NotFound"),
        "{error:?}"
    );

    target
        .ensure_key_pair("skyport-test", PUBLIC_KEY)
        .await
        .unwrap();
    target
        .ensure_key_pair("skyport-test", PUBLIC_KEY)
        .await
        .unwrap();

    let spec = LaunchSpec {
        image_id: image.image_id.clone(),
        instance_type: "t3.micro".to_owned(),
        count: 2,
        key_name: Some("skyport-test".to_owned()),
        tags: vec![cloud::types::Tag {
            key: "Name".to_owned(),
            value: "web".to_owned(),
        }],
        ..LaunchSpec::default()
    };
    let launched = target.run_instances(&spec).await.unwrap();
    assert_eq!(launched.len(), 2);
    for instance in &launched {
        assert!(instance.remote_id.starts_with("i-"), "{instance:?}");
        assert!(matches!(
            instance.state,
            InstanceState::Pending | InstanceState::Running
        ));
        assert_eq!(instance.image_id, image.image_id);
        assert_eq!(instance.instance_type, "t3.micro");
        assert_eq!(instance.key_name.as_deref(), Some("skyport-test"));
        assert!(instance.private_ip.is_some());
        assert!(instance.launch_time.is_some());
    }
    let ids: Vec<String> = launched
        .iter()
        .map(|instance| instance.remote_id.clone())
        .collect();

    let mut asked = ids.clone();
    asked.push("i-00000000000000000".to_owned());
    let described = target.describe_instances(&asked).await.unwrap();
    let mut described_ids: Vec<String> = described
        .iter()
        .map(|instance| instance.remote_id.clone())
        .collect();
    described_ids.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(described_ids, expected, "unknown IDs are simply absent");

    let stopped = target.stop_instances(&ids, false).await.unwrap();
    assert_eq!(stopped.len(), 2);
    assert!(stopped.iter().all(|change| matches!(
        change.current,
        InstanceState::Stopping | InstanceState::Stopped
    )));
    // While stopped: a new type and new user data reach the target.
    target.set_instance_type(&ids[0], "t3.small").await.unwrap();
    target
        .set_user_data(&ids[0], Some("aGVsbG8="))
        .await
        .unwrap();
    let resized = target.describe_instances(&ids[..1]).await.unwrap();
    assert_eq!(resized[0].instance_type, "t3.small");
    let started = target.start_instances(&ids).await.unwrap();
    assert_eq!(started.len(), 2);
    assert!(started.iter().all(|change| matches!(
        change.current,
        InstanceState::Pending | InstanceState::Running
    )));
    target.reboot_instances(&ids).await.unwrap();

    let (console, _captured) = target.console_output(&ids[0]).await.unwrap();
    assert!(!console.is_empty(), "moto returns a canned console output");

    let terminated = target.terminate_instances(&ids).await.unwrap();
    assert_eq!(terminated.len(), 2);
    assert!(terminated.iter().all(|change| matches!(
        change.current,
        InstanceState::ShuttingDown | InstanceState::Terminated
    )));
    let after = target.describe_instances(&ids).await.unwrap();
    assert!(
        after
            .iter()
            .all(|instance| instance.state == InstanceState::Terminated),
        "{after:?}"
    );
}

async fn buckets_and_objects(target: &AwsTarget) {
    let bucket = target.remote_bucket_name("photos");
    assert_eq!(bucket, "site1-photos");
    target.create_bucket(&bucket, None).await.unwrap();
    let again = target.create_bucket(&bucket, None).await;
    assert!(
        matches!(&again, Err(cloud::Error::BucketTakenByOther(_))),
        "{again:?}"
    );

    // A few MiB streamed in chunks, as the gateway proxies a client's body.
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let chunks = 48;
    let length = chunk.len() * chunks;
    let frames = futures::stream::iter(
        (0..chunks).map(move |_| Ok::<_, Infallible>(Frame::data(Bytes::from(chunk.clone())))),
    );
    let body = ByteStream::new(SdkBody::from_body_1_x(http_body_util::StreamBody::new(
        frames,
    )));
    let s3 = target.s3_client();
    s3.put_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .content_length(length as i64)
        .body(body)
        .send()
        .await
        .unwrap();

    let object = s3
        .get_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(object.content_length(), Some(length as i64));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.len(), length);
    assert!(bytes.chunks(64 * 1024).all(|piece| piece
        .iter()
        .enumerate()
        .all(|(i, byte)| *byte == (i % 251) as u8)));

    let error = target.delete_bucket(&bucket).await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::BucketNotEmpty(name) if name == &bucket),
        "{error:?}"
    );
    s3.delete_object()
        .bucket(&bucket)
        .key("big/object.bin")
        .send()
        .await
        .unwrap();
    target.delete_bucket(&bucket).await.unwrap();
    target.delete_bucket(&bucket).await.unwrap();
}
