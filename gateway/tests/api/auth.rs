//! Authentication failures and malformed input: AWS's codes, never a 500.

use crate::common::{ec2_code, on_both_databases, s3_code, Keys};
use crate::raw::{code_of, ec2_post};

#[tokio::test]
async fn bad_credentials_get_aws_codes() {
    on_both_databases(|server| async move {
        let admin = server.admin_keys();
        let wrong_secret = Keys {
            access_key: admin.access_key.clone(),
            secret_key: "x".repeat(40),
        };
        let unknown = Keys {
            access_key: "AKIAUNKNOWNUNKNOWN00".into(),
            secret_key: "y".repeat(40),
        };

        let err = server
            .ec2(&wrong_secret)
            .describe_regions()
            .send()
            .await
            .unwrap_err();
        // EC2's words for a wrong secret; S3 keeps its own below.
        assert_eq!(ec2_code(&err), "AuthFailure");
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 401);
        let err = server
            .ec2(&unknown)
            .describe_regions()
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&err), "AuthFailure");
        let err = server
            .s3(&wrong_secret)
            .list_buckets()
            .send()
            .await
            .unwrap_err();
        assert_eq!(s3_code(&err), "SignatureDoesNotMatch");
        let err = server.s3(&unknown).list_buckets().send().await.unwrap_err();
        assert_eq!(s3_code(&err), "InvalidAccessKeyId");

        let now = time::OffsetDateTime::now_utc();
        let body = "Action=DescribeRegions&Version=2016-11-15";
        let (status, xml) = ec2_post(&server, Some(&admin), body, now).await;
        assert_eq!(status, 200, "{xml}");
        let (status, xml) = ec2_post(
            &server,
            Some(&admin),
            body,
            now - time::Duration::minutes(20),
        )
        .await;
        assert_eq!((status, code_of(&xml)), (400, "RequestExpired"));
        let (status, xml) = ec2_post(
            &server,
            Some(&admin),
            body,
            now + time::Duration::minutes(14),
        )
        .await;
        assert_eq!(status, 200, "within the 15 minute window: {xml}");
        let (status, xml) = ec2_post(&server, None, body, now).await;
        assert_eq!((status, code_of(&xml)), (401, "MissingAuthenticationToken"));
        assert!(xml.contains("<RequestID>"));

        // Anonymous S3 is refused.
        let response = reqwest::get(format!("{}/", server.endpoint)).await.unwrap();
        assert_eq!(response.status().as_u16(), 403);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>"));
    })
    .await;
}

#[tokio::test]
async fn malformed_requests_are_client_errors() {
    let server = crate::common::Server::start(crate::common::Database::Sqlite, None).await;
    let admin = server.admin_keys();
    let now = time::OffsetDateTime::now_utc();
    let cases = [
        ("Action=LaunchMissiles&Version=2016-11-15", "InvalidAction"),
        ("Action=ModifyVolume&Version=2016-11-15", "UnsupportedOperation"),
        ("Action=CreateVolume&Version=2016-11-15&AvailabilityZone=z&Size=1", "Unsupported"),
        ("Action=RunInstances&Version=2016-11-15&ImageId=ami-1&MinCount=1&MaxCount=1", "Unsupported"),
        ("Version=2016-11-15&Action=CreateKeyPair", "MissingParameter"),
        ("Action=DescribeRegions&Bogus=1", "UnknownParameter"),
        ("Action=DescribeKeyPairs&Filter.1.Value.1=x", "MissingParameter"),
        ("Action=DescribeSecurityGroups&MaxResults=abc", "InvalidParameterValue"),
        ("Action=DescribeTags&NextToken=%%%", "InvalidNextToken"),
        ("Action=AuthorizeSecurityGroupIngress&GroupName=default&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=99999&IpPermissions.1.ToPort=1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0", "InvalidParameterValue"),
        ("Action=ImportKeyPair&KeyName=x&PublicKeyMaterial=!!!notbase64", "InvalidKey.Format"),
        ("\u{1}\u{2}garbage=%ZZ&&&==", "MissingAction"),
    ];
    for (body, code) in cases {
        let (status, xml) = ec2_post(&server, Some(&admin), body, now).await;
        assert_eq!((status, code_of(&xml)), (400, code), "{body}: {xml}");
    }

    // Oversized headers are refused by the HTTP layer, not a crash.
    let response = reqwest::Client::new()
        .get(format!("{}/?Action=DescribeRegions", server.endpoint))
        .header("x-padding", "a".repeat(200 * 1024))
        .send()
        .await;
    if let Ok(response) = response {
        assert!(response.status().is_client_error(), "{}", response.status());
    }
    // Malformed S3 XML body.
    let response = reqwest::Client::new()
        .put(format!("{}/xml-bucket", server.endpoint))
        .body("<CreateBucketConfiguration><oops")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    // The server is still up.
    assert_eq!(
        reqwest::get(format!("{}/health", server.endpoint))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}
