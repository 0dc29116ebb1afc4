//! Prometheus metrics: requests by protocol, action and status, and latency.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("skyport_request_duration_seconds".into()),
                    &buckets,
                )
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed, in which case metrics go there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Records one finished request.
pub fn record(protocol: &'static str, action: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("protocol", protocol.to_string()),
        ("action", action.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("skyport_requests_total", &labels).increment(1);
    metrics::histogram!("skyport_request_duration_seconds", "protocol" => protocol, "action" => action.to_string())
        .record(elapsed.as_secs_f64());
}
