//! Honouring `Retry-After` on 429 and 503 answers.
//!
//! How: a retry classifier that runs after the SDK's own ones. Classifiers may
//! attach an explicit delay to a "retry" verdict, and the SDK's standard retry
//! strategy then sleeps that delay instead of its exponential backoff (capped by
//! `max_backoff`). So this classifier only refines verdicts: when a 429/503
//! carries `Retry-After` (seconds or an HTTP date), it puts that delay — cut to
//! `max_retry_after` — on the SDK's retry verdict; it also caps a delay the SDK
//! took from `x-amz-retry-after`, and makes a bare 429 a retryable throttling
//! error. Attempts, the retry quota and the operation timeout stay the SDK's.

use std::time::{Duration, SystemTime};

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_types::retry::ErrorKind;
use time::macros::format_description;
use time::PrimitiveDateTime;

/// Puts the server's `Retry-After` on retry verdicts, at most `cap`.
#[derive(Debug, Clone)]
pub(crate) struct RetryAfterClassifier {
    cap: Duration,
}

impl RetryAfterClassifier {
    pub fn new(cap: Duration) -> Self {
        RetryAfterClassifier { cap }
    }

    fn delay(&self, ctx: &InterceptorContext) -> Option<Duration> {
        let response = ctx.response()?;
        if !matches!(response.status().as_u16(), 429 | 503) {
            return None;
        }
        let header = response.headers().get("retry-after")?;
        parse_retry_after(header, SystemTime::now()).map(|delay| delay.min(self.cap))
    }
}

impl ClassifyRetry for RetryAfterClassifier {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        self.classify_retry_v2(ctx, &RetryAction::NoActionIndicated)
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        let server_delay = self.delay(ctx);
        match previous {
            RetryAction::RetryIndicated(RetryReason::RetryableError { kind, retry_after }) => {
                let delay = server_delay.or(retry_after.map(|delay| delay.min(self.cap)));
                match delay {
                    Some(delay) if Some(delay) != *retry_after => {
                        RetryAction::retryable_error_with_explicit_delay(*kind, delay)
                    }
                    _ => RetryAction::NoActionIndicated,
                }
            }
            RetryAction::NoActionIndicated
                if ctx.response().is_some_and(|r| r.status().as_u16() == 429) =>
            {
                match server_delay {
                    Some(delay) => RetryAction::retryable_error_with_explicit_delay(
                        ErrorKind::ThrottlingError,
                        delay,
                    ),
                    None => RetryAction::throttling_error(),
                }
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "Retry-After"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// `Retry-After: <seconds>` or `Retry-After: <IMF-fixdate>` (RFC 9110 §10.2.3).
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = PrimitiveDateTime::parse(value, format).ok()?.assume_utc();
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:39 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO),
            "a past date"
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
