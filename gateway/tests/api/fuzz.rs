//! Arbitrary EC2 and S3 requests, validly signed, against a live gateway:
//! every one gets an answer, none an `InternalError`. The signature is
//! right so that the input reaches the handlers' own parsing (parameters,
//! filters, IDs, CIDRs, ports, tags, ACLs, copy sources, ranges, XML bodies).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use gateway::auth::sigv4::{sign_s3_request_at, ClientKey};

use crate::common::{Database, Keys, Server};
use crate::raw::{code_of, ec2_post};

const NO_LIMITS: &str = "[rate_limit]\nper_key_per_second = 1000000\nper_key_burst = 1000000\nper_tenant_per_second = 1000000\nper_tenant_burst = 1000000\n";

const EC2_ACTIONS: &[&str] = &[
    "DescribeRegions",
    "DescribeAvailabilityZones",
    "DescribeAccountAttributes",
    "CreateKeyPair",
    "ImportKeyPair",
    "DescribeKeyPairs",
    "DeleteKeyPair",
    "CreateSecurityGroup",
    "DescribeSecurityGroups",
    "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "DescribeSecurityGroupRules",
    "ModifySecurityGroupRules",
    "CreateTags",
    "DeleteTags",
    "DescribeTags",
    "RunInstances",
    "DescribeInstances",
    "DescribeInstanceStatus",
    "StartInstances",
    "StopInstances",
    "TerminateInstances",
    "GetConsoleOutput",
    "DescribeInstanceAttribute",
    "ModifyInstanceAttribute",
    "DescribeImages",
    "RegisterImage",
    "DeregisterImage",
    "DescribeImageAttribute",
    "ModifyImageAttribute",
    "CreateVpc",
    "DescribeVpcs",
    "DeleteVpc",
    "DescribeVpcAttribute",
    "ModifyVpcAttribute",
    "CreateSubnet",
    "DescribeSubnets",
    "DeleteSubnet",
    "CreateInternetGateway",
    "AttachInternetGateway",
    "DescribeInternetGateways",
    "CreateRouteTable",
    "DescribeRouteTables",
    "CreateRoute",
    "ReplaceRoute",
    "AssociateRouteTable",
    "ReplaceRouteTableAssociation",
    "AllocateAddress",
    "AssociateAddress",
    "DescribeAddresses",
    "ReleaseAddress",
    "CreateVolume",
    "DescribeVolumes",
    "CreateSnapshot",
    "DescribeSnapshots",
];

const EC2_PARAMS: &[&str] = &[
    "GroupName",
    "GroupId",
    "GroupId.1",
    "GroupName.1",
    "Description",
    "VpcId",
    "VpcId.1",
    "SubnetId",
    "CidrBlock",
    "KeyName",
    "KeyName.1",
    "KeyType",
    "PublicKeyMaterial",
    "InstanceId",
    "InstanceId.1",
    "ImageId",
    "ImageId.1",
    "MinCount",
    "MaxCount",
    "InstanceType",
    "MaxResults",
    "NextToken",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "Filter.2.Name",
    "Filter.2.Value.1",
    "IpPermissions.1.IpProtocol",
    "IpPermissions.1.FromPort",
    "IpPermissions.1.ToPort",
    "IpPermissions.1.IpRanges.1.CidrIp",
    "IpPermissions.1.Groups.1.GroupId",
    "IpPermissions.1.Ipv6Ranges.1.CidrIpv6",
    "ResourceId.1",
    "Tag.1.Key",
    "Tag.1.Value",
    "TagSpecification.1.ResourceType",
    "TagSpecification.1.Tag.1.Key",
    "TagSpecification.1.Tag.1.Value",
    "DryRun",
    "Size",
    "AvailabilityZone",
    "VolumeId",
    "Domain",
    "AllocationId",
    "PublicIp",
    "RouteTableId",
    "AssociationId",
    "DestinationCidrBlock",
    "GatewayId",
    "InternetGatewayId",
    "Attribute",
    "UserData",
    "UserData.Value",
    "InstanceType.Value",
    "DisableApiTermination.Value",
    "SecurityGroupRuleId.1",
    "SecurityGroupRule.1.SecurityGroupRuleId",
    "SecurityGroupRule.1.SecurityGroupRule.IpProtocol",
    "SecurityGroupRule.1.SecurityGroupRule.FromPort",
    "EnableDnsSupport.Value",
    "EnableDnsHostnames.Value",
    "LaunchPermission.Add.1.UserId",
    "LaunchPermission.Add.1.Group",
    "RegionName.1",
    "ZoneName.1",
    "AttributeName.1",
    "Owner.1",
    "ExecutableBy.1",
    "ImageLocation",
    "Name",
    "Force",
    "IncludeAllInstances",
    "SnapshotId",
    "Placement.AvailabilityZone",
    "ClientToken",
    "Latest",
];

/// Values near what each parameter expects, and far from it.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "-?[0-9]{1,25}",
        "(sg|vpc|subnet|igw|rtb|i|ami|vol|snap|eipalloc|sgr|rtbassoc)-[0-9a-fx]{0,20}",
        "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}(/[0-9]{1,3})?",
        "(true|false|TRUE|yes|1|0)",
        "(tcp|udp|icmp|-1|all|6|17|300)",
        "[A-Za-z0-9+/=]{0,40}",
        "\\PC{0,24}",
        "[*?a-z:.-]{0,12}",
    ]
}

fn ec2_body() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(EC2_ACTIONS),
        proptest::collection::vec((proptest::sample::select(EC2_PARAMS), value()), 0..7),
    )
        .prop_map(|(action, params)| {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action)
                .append_pair("Version", "2016-11-15");
            for (name, value) in params {
                form.append_pair(name, &value);
            }
            form.finish()
        })
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn check(status: u16, body: &str, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        status != 500 && code_of(body) != "InternalError",
        "{what} answered {status}: {body}"
    );
    Ok(())
}

/// Codes that would mean a request stopped at authentication.
const AUTHENTICATION_CODES: &[&str] = &[
    "AuthFailure",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "RequestExpired",
    "RequestTimeTooSkewed",
];

/// Answers seen, by status and error code (empty for successes): how many,
/// and the first request that got it.
type Seen = std::collections::BTreeMap<(u16, String), (u32, String)>;

fn record(seen: &std::cell::RefCell<Seen>, status: u16, body: &str, request: &str) {
    let code = if (200..300).contains(&status) {
        String::new()
    } else {
        code_of(body).to_string()
    };
    seen.borrow_mut()
        .entry((status, code))
        .or_insert_with(|| (0, request.to_string()))
        .0 += 1;
}

/// The signatures hold, so every request gets past authentication to a
/// handler (which may refuse its parameters), and some succeed.
fn reached_handlers(seen: &Seen) {
    let stopped: Vec<_> = seen
        .iter()
        .filter(|((_, code), _)| AUTHENTICATION_CODES.contains(&code.as_str()))
        .collect();
    assert!(
        stopped.is_empty(),
        "validly signed requests stopped at authentication: {stopped:?}"
    );
    assert!(
        seen.keys().any(|(status, _)| (200..300).contains(status)),
        "no request succeeded: {seen:?}"
    );
}

#[test]
fn arbitrary_ec2_requests_never_fail_inside() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::start(Database::Sqlite, Some(NO_LIMITS)));
    let keys = server.admin_keys();
    let seen = std::cell::RefCell::new(Seen::new());
    runner(300)
        .run(&ec2_body(), |body| {
            let now = time::OffsetDateTime::now_utc();
            let (status, xml) = runtime.block_on(ec2_post(&server, Some(&keys), &body, now));
            record(&seen, status, &xml, &body);
            check(status, &xml, &body)
        })
        .unwrap();
    reached_handlers(&seen.borrow());
}

const S3_QUERY: &[&str] = &[
    "acl",
    "tagging",
    "uploads",
    "uploadId",
    "partNumber",
    "versioning",
    "versionId",
    "cors",
    "lifecycle",
    "delete",
    "location",
    "list-type",
    "max-keys",
    "prefix",
    "delimiter",
    "marker",
    "continuation-token",
    "start-after",
    "encoding-type",
    "versions",
    "key-marker",
    "version-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "fetch-owner",
];

const S3_HEADERS: &[&str] = &[
    "x-amz-acl",
    "x-amz-tagging",
    "x-amz-copy-source",
    "x-amz-copy-source-range",
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "content-md5",
    "x-amz-checksum-crc32",
    "x-amz-checksum-sha256",
    "x-amz-checksum-algorithm",
    "x-amz-meta-a",
    "content-type",
    "x-amz-metadata-directive",
    "x-amz-tagging-directive",
    "cache-control",
    "expires",
    "x-amz-copy-source-if-match",
    "x-amz-object-lock-mode",
    "x-amz-storage-class",
];

fn s3_value() -> impl Strategy<Value = String> {
    prop_oneof![
        value(),
        "(private|public-read|public-read-write|bucket-owner-full-control|foo)",
        "bytes=[0-9-]{0,8}(,[0-9-]{0,6})?",
        "/?fuzz-bucket/[a-z0-9/%?=]{0,12}",
        "[A-Za-z0-9]{1,6}=[A-Za-z0-9%&=]{0,10}",
        "\"[0-9a-f]{0,32}\"",
        "(COPY|REPLACE|CRC32|SHA256|STANDARD|GLACIER)",
    ]
}

fn s3_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..64),
        "(<[A-Za-z]{1,8}>|</[A-Za-z]{1,8}>|<Tagging>|<TagSet>|<Tag>|<Key>|<Value>|<Delete>|<Object>|<Part>|<PartNumber>|<ETag>|<CORSRule>|<Rule>|<Status>|<Days>|[0-9a-z\"]{0,6}){0,14}"
            .prop_map(String::into_bytes),
    ]
}

type S3Case = (
    &'static str,
    String,
    Vec<(String, String)>,
    Vec<(&'static str, String)>,
    Vec<u8>,
);

fn s3_request() -> impl Strategy<Value = S3Case> {
    (
        proptest::sample::select(&["GET", "PUT", "POST", "DELETE", "HEAD"][..]),
        prop_oneof![
            Just("/fuzz-bucket".to_string()),
            "/fuzz-bucket/[a-z0-9-]{1,8}(/[a-z0-9]{1,4})?",
            "/[a-z0-9-]{1,12}(/[a-z0-9-]{0,8})?",
        ],
        proptest::collection::vec(
            (
                proptest::sample::select(S3_QUERY).prop_map(str::to_string),
                s3_value(),
            ),
            0..4,
        ),
        proptest::collection::vec((proptest::sample::select(S3_HEADERS), s3_value()), 0..4),
        s3_body(),
    )
}

async fn send_s3(server: &Server, keys: &Keys, case: &S3Case) -> (u16, String) {
    let (method, path, query, headers, body) = case;
    let host = format!("127.0.0.1:{}", server.port);
    let key = ClientKey {
        access_key: &keys.access_key,
        secret: &keys.secret_key,
        region: "us-east-1",
        service: "s3",
    };
    let now = time::OffsetDateTime::now_utc();
    let signed = sign_s3_request_at(method, path, query, &host, body, &key, now);
    let mut url = reqwest::Url::parse(&format!("{}{path}", server.endpoint)).unwrap();
    if !query.is_empty() {
        url.set_query(Some(
            &query
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        gateway::auth::percent_encode_strict(k),
                        gateway::auth::percent_encode_strict(v)
                    )
                })
                .collect::<Vec<_>>()
                .join("&"),
        ));
    }
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .body(body.clone());
    for (name, value) in headers {
        if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
            request = request.header(*name, value);
        }
    }
    for (name, value) in signed {
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .expect("an answer, not a closed connection");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[test]
fn arbitrary_s3_requests_never_fail_inside() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(Server::start(Database::Sqlite, Some(NO_LIMITS)));
    let keys = server.admin_keys();
    let s3 = server.s3(&keys);
    runtime.block_on(async {
        s3.create_bucket()
            .bucket("fuzz-bucket")
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("fuzz-bucket")
            .key("obj")
            .body(b"0123456789".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let seen = std::cell::RefCell::new(Seen::new());
    runner(400)
        .run(&s3_request(), |case| {
            let (status, body) = runtime.block_on(send_s3(&server, &keys, &case));
            let request = format!("{} {} {:?} {:?}", case.0, case.1, case.2, case.3);
            record(&seen, status, &body, &request);
            check(status, &body, &request)
        })
        .unwrap();
    reached_handlers(&seen.borrow());
}
