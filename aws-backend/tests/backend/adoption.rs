//! CreateBucket never adopts a bucket that already exists on the target: the
//! account's own (us-east-1 answers 200 for it, other regions 409
//! BucketAlreadyOwnedByYou) or anyone else's (403 on HeadBucket).

use aws_backend::AwsTarget;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{config, Moto};

fn taken(result: cloud::Result<()>, name: &str) {
    assert!(
        matches!(&result, Err(cloud::Error::BucketTakenByOther(n)) if n == name),
        "{result:?}"
    );
}

#[tokio::test]
async fn existing_buckets_are_refused_on_moto_in_both_kinds_of_region() {
    let moto = Moto::start();
    for region in ["us-east-1", "ap-northeast-1"] {
        let mut config = config(&moto.endpoint);
        config.region = region.to_owned();
        let target = AwsTarget::new("moto", &config).unwrap();
        // The operator's own bucket in the target's account, with data in it.
        let own = format!("operator-{region}");
        let mut create = target.s3_client().create_bucket().bucket(&own);
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        create.send().await.unwrap();
        taken(target.create_bucket(&own, None).await, &own);
        // A bucket Skyport creates is created once; a second create is not "ours again".
        let fresh = format!("fresh-{region}");
        target.create_bucket(&fresh, None).await.unwrap();
        taken(target.create_bucket(&fresh, None).await, &fresh);
    }
}

/// A target whose HeadBucket answers `head` and whose CreateBucket answers `create`.
async fn scripted(head: u16, create: ResponseTemplate, creates: u64) -> (MockServer, AwsTarget) {
    let server = MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path_regex("^/b/?$"))
        .respond_with(ResponseTemplate::new(head))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex("^/b/?$"))
        .respond_with(create)
        .expect(creates)
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.region = "eu-west-1".to_owned();
    let target = AwsTarget::new("scripted", &config).unwrap();
    (server, target)
}

fn s3_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>m</Message><BucketName>b</BucketName></Error>"),
        "application/xml",
    )
}

#[tokio::test]
async fn every_answer_that_says_the_bucket_exists_is_a_refusal() {
    // HeadBucket: ours (200), someone else's (403), another region's (301): no create at all.
    for head in [200, 403, 301] {
        let (server, target) = scripted(head, ResponseTemplate::new(200), 0).await;
        taken(target.create_bucket("b", None).await, "b");
        server.verify().await;
    }
    // Created between the check and the create (or a lost answer retried): 409s are not ours.
    for code in ["BucketAlreadyOwnedByYou", "BucketAlreadyExists"] {
        let (server, target) = scripted(404, s3_error(409, code), 1).await;
        taken(target.create_bucket("b", None).await, "b");
        server.verify().await;
    }
    // Not there: created.
    let (server, target) = scripted(404, ResponseTemplate::new(200), 1).await;
    target.create_bucket("b", None).await.unwrap();
    server.verify().await;
}
