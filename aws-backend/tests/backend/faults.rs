//! Fault injection against the EC2 client through `cloud::Compute`: throttling,
//! 5xx, the circuit breaker, slow and truncated responses, the rate limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_backend::AwsTarget;
use cloud::Compute;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{
    config, describe_availability_zones_body, describe_instances_body, ec2_error_body, free_port,
};

const INSTANCE: &str = "i-0123456789abcdef0";

fn ids() -> Vec<String> {
    vec![INSTANCE.to_owned()]
}

fn describe_instances() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/"))
        .and(body_string_contains("Action=DescribeInstances"))
}

fn instances_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(describe_instances_body(INSTANCE), "text/xml")
}

fn throttled(retry_after: &str) -> ResponseTemplate {
    ResponseTemplate::new(503)
        .insert_header("Retry-After", retry_after)
        .set_body_raw(
            ec2_error_body("RequestLimitExceeded", "Request limit exceeded."),
            "text/xml",
        )
}

fn server_error() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_raw(
        ec2_error_body("InternalError", "An internal error has occurred"),
        "text/xml",
    )
}

async fn requests(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .len()
}

#[tokio::test]
async fn throttling_waits_for_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    describe_instances()
        .respond_with(throttled("1"))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    describe_instances()
        .respond_with(instances_ok())
        .mount(&server)
        .await;
    let target = AwsTarget::new("throttled", &config(&server.uri())).unwrap();

    let started = Instant::now();
    let instances = target.describe_instances(&ids()).await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].remote_id, INSTANCE);
    assert_eq!(instances[0].state, cloud::InstanceState::Running);
    assert_eq!(
        instances[0].launch_time.as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
    assert_eq!(requests(&server).await, 3);
    // Two Retry-After: 1 waits; the SDK's own backoff here would be ~10-40 ms.
    assert!(
        elapsed >= Duration::from_millis(1900),
        "retried after {elapsed:?}, not after Retry-After"
    );
    assert!(
        target.healthy(),
        "throttling is not a failure of the target"
    );
}

#[tokio::test]
async fn persistent_throttling_is_throttled_and_retry_after_is_capped() {
    let server = MockServer::start().await;
    describe_instances()
        .respond_with(throttled("30"))
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.max_retry_after = Duration::from_millis(200);
    let target = AwsTarget::new("throttled", &config).unwrap();

    let started = Instant::now();
    let error = target.describe_instances(&ids()).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "Retry-After: 30 was not capped: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&error, cloud::Error::Throttled(message) if message == "target throttled kept throttling requests (RequestLimitExceeded)"),
        "{error:?}"
    );
    assert_eq!(requests(&server).await, 3);
    assert!(target.healthy());
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = MockServer::start().await;
    describe_instances()
        .respond_with(server_error())
        .up_to_n_times(2)
        .mount(&server)
        .await;
    describe_instances()
        .respond_with(instances_ok())
        .mount(&server)
        .await;
    let target = AwsTarget::new("flaky", &config(&server.uri())).unwrap();

    let instances = target.describe_instances(&ids()).await.unwrap();

    assert_eq!(instances.len(), 1);
    assert_eq!(requests(&server).await, 3);
    assert!(target.healthy(), "a success resets the failure count");
    assert!(target.latency_ms().is_some());
}

#[tokio::test]
async fn remote_errors_pass_through_without_retries() {
    let server = MockServer::start().await;
    Mock::given(body_string_contains("Action=DescribeImages"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(
            ec2_error_body(
                "InvalidAMIID.NotFound",
                "The image id '[ami-00000000]' does not exist",
            ),
            "text/xml",
        ))
        .mount(&server)
        .await;
    let target = AwsTarget::new("strict", &config(&server.uri())).unwrap();

    let error = target
        .describe_images(&["ami-00000000".to_owned()])
        .await
        .unwrap_err();

    assert!(
        matches!(&error, cloud::Error::Remote { code, message, status: 400 }
            if code == "InvalidAMIID.NotFound" && message == "The image id '[ami-00000000]' does not exist"),
        "{error:?}"
    );
    assert_eq!(requests(&server).await, 1);
    assert!(target.healthy());
}

#[tokio::test]
async fn persistent_failure_opens_the_breaker_and_a_probe_closes_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(server_error())
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.breaker_failures = 3;
    config.breaker_cooldown = Duration::from_secs(2);
    let target = AwsTarget::new("aws-tokyo", &config).unwrap();

    let error = target.describe_instances(&ids()).await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message == "target aws-tokyo is unavailable: HTTP 500 InternalError"),
        "{error:?}"
    );
    assert_eq!(requests(&server).await, 3);
    assert!(!target.healthy());

    // Open: refused at once, nothing reaches the server — probes included, until the cooldown passes.
    let started = Instant::now();
    let error = target.describe_instances(&ids()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&error, cloud::Error::Unavailable(message)
            if message == "target aws-tokyo is unavailable (circuit open after 3 failures)"),
        "{error:?}"
    );
    assert!(matches!(
        target.probe().await,
        Err(cloud::Error::Unavailable(_))
    ));
    assert_eq!(requests(&server).await, 3);

    server.reset().await;
    Mock::given(body_string_contains("Action=DescribeAvailabilityZones"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(describe_availability_zones_body(), "text/xml"),
        )
        .mount(&server)
        .await;
    describe_instances()
        .respond_with(instances_ok().set_delay(Duration::from_millis(1000)))
        .mount(&server)
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // Cooled down: one call goes out as the trial (slowly); others still fail fast, probes pass.
    let trial = tokio::spawn({
        let target = target.clone();
        async move { target.describe_instances(&ids()).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let error = target.describe_instances(&ids()).await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.contains("circuit open")),
        "{error:?}"
    );
    target.probe().await.unwrap();
    assert!(target.healthy());
    assert_eq!(requests(&server).await, 2, "the trial and the probe");
    assert_eq!(trial.await.unwrap().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_probe_keeps_the_breaker_open() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(server_error())
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.breaker_cooldown = Duration::from_secs(1);
    let target = AwsTarget::new("down", &config).unwrap();

    target.describe_instances(&ids()).await.unwrap_err();
    assert!(!target.healthy());
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let error = target.probe().await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.contains("HTTP 500")),
        "{error:?}"
    );
    assert_eq!(
        requests(&server).await,
        4,
        "the probe is one attempt, not retried"
    );
    assert!(!target.healthy());
    let error = target.describe_instances(&ids()).await.unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.contains("circuit open")),
        "{error:?}"
    );
}

#[tokio::test]
async fn slow_responses_time_out_and_count_as_failures() {
    let server = MockServer::start().await;
    describe_instances()
        .respond_with(instances_ok().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.attempt_timeout = Duration::from_millis(300);
    config.max_attempts = 2;
    config.breaker_failures = 2;
    let target = AwsTarget::new("slow", &config).unwrap();

    let started = Instant::now();
    let error = target.describe_instances(&ids()).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.starts_with("target slow is unavailable")),
        "{error:?}"
    );
    assert_eq!(requests(&server).await, 2);
    assert!(
        !target.healthy(),
        "two attempts cut by the attempt timeout open the breaker"
    );
}

#[tokio::test]
async fn the_operation_timeout_bounds_the_whole_call() {
    let server = MockServer::start().await;
    describe_instances()
        .respond_with(instances_ok().set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.attempt_timeout = Duration::from_secs(4);
    config.operation_timeout = Duration::from_millis(500);
    let target = AwsTarget::new("slow", &config).unwrap();

    let started = Instant::now();
    let error = target.describe_instances(&ids()).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(&error, cloud::Error::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn s3_calls_and_streamed_uploads_time_out_too() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.attempt_timeout = Duration::from_millis(300);
    config.max_attempts = 1;
    config.breaker_failures = 2;
    let target = AwsTarget::new("slow-s3", &config).unwrap();

    let started = Instant::now();
    let error = target.create_bucket("bucket", None).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.starts_with("target slow-s3 is unavailable")),
        "{error:?}"
    );

    // A streamed body: the connector's own timer starts once the body is sent.
    let frames = futures::stream::iter((0..4).map(|_| {
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from(vec![
            7u8;
            1024
        ])))
    }));
    let body =
        aws_smithy_types::body::SdkBody::from_body_1_x(http_body_util::StreamBody::new(frames));
    let started = Instant::now();
    let put = target
        .s3_client()
        .put_object()
        .bucket("bucket")
        .key("key")
        .content_length(4096)
        .body(aws_sdk_s3::primitives::ByteStream::new(body))
        .send()
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    let error = put.unwrap_err();
    assert!(
        format!("{:?}", error).contains("no response within"),
        "{error:?}"
    );
    assert!(
        !target.healthy(),
        "both timed-out attempts count as failures"
    );
}

/// A server that answers every request with headers promising more body than it sends, then hangs up.
async fn truncating_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                read_request(&mut socket).await;
                let body = describe_instances_body(INSTANCE);
                let partial = &body.as_bytes()[..body.len() / 2];
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                socket.write_all(head.as_bytes()).await.unwrap();
                socket.write_all(partial).await.unwrap();
                socket.shutdown().await.ok();
            });
        }
    });
    (endpoint, connections)
}

/// Reads one HTTP request: the head, then Content-Length bytes of body.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = socket.read(&mut buffer).await.unwrap();
        if read == 0 {
            return;
        }
        received.extend_from_slice(&buffer[..read]);
        let Some(head_end) = received.windows(4).position(|window| window == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|value| value.trim().parse().unwrap())
            .unwrap_or(0);
        if received.len() >= head_end + 4 + length {
            return;
        }
    }
}

#[tokio::test]
async fn a_truncated_body_is_an_error_not_a_hang() {
    let (endpoint, connections) = truncating_server().await;
    let target = AwsTarget::new("truncating", &config(&endpoint)).unwrap();

    let outcome =
        tokio::time::timeout(Duration::from_secs(10), target.describe_instances(&ids())).await;

    let error = outcome
        .expect("the call hung on a truncated body")
        .unwrap_err();
    assert!(
        matches!(&error, cloud::Error::Unavailable(message) if message.starts_with("target truncating is unavailable")),
        "{error:?}"
    );
    assert!(connections.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn an_unreachable_target_is_unavailable_and_trips_the_breaker() {
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let target = AwsTarget::new("gone", &config(&endpoint)).unwrap();

    let error = target.describe_instances(&ids()).await.unwrap_err();

    assert!(
        matches!(&error, cloud::Error::Unavailable(message)
            if message.starts_with("target gone is unavailable: ") && message.to_lowercase().contains("connection refused")),
        "{error:?}"
    );
    assert!(!target.healthy());
}

#[tokio::test]
async fn the_rate_limit_spaces_calls() {
    let server = MockServer::start().await;
    describe_instances()
        .respond_with(instances_ok())
        .mount(&server)
        .await;
    let mut config = config(&server.uri());
    config.requests_per_second = 5;
    config.burst = 1;
    let target = AwsTarget::new("limited", &config).unwrap();

    let started = Instant::now();
    for _ in 0..6 {
        target.describe_instances(&ids()).await.unwrap();
    }
    let elapsed = started.elapsed();

    // One at once, then one every 200 ms.
    assert!(
        elapsed >= Duration::from_millis(950),
        "6 calls at 5/s took only {elapsed:?}"
    );
    assert_eq!(requests(&server).await, 6);
}
