//! This crate's error, and the one place where SDK failures become it and it
//! becomes the domain's `cloud::Error`.
//!
//! | SDK outcome                                          | `Error`        | `cloud::Error` |
//! |------------------------------------------------------|----------------|----------------|
//! | service error with a throttling code, or HTTP 429    | `Throttled`    | `Throttled`    |
//! | other service error with HTTP 5xx (not 501)          | `Unavailable`  | `Unavailable`  |
//! | other service error                                  | `Remote`       | `Remote`       |
//! | refused by the open circuit breaker                  | `CircuitOpen`  | `Unavailable`  |
//! | dispatch failure, timeout, construction failure      | `Unavailable`  | `Unavailable`  |
//! | unreadable (e.g. truncated) response                 | `BadResponse`  | `Unavailable`  |

use std::error::Error as StdError;
use std::path::PathBuf;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::connector::CircuitOpen;

/// Error codes AWS and compatible clouds use to say "slow down".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "SlowDown",
    "TooManyRequestsException",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
];

/// Whether `code` is an AWS throttling error code.
pub(crate) fn is_throttling_code(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

/// The `<Code>` of an AWS XML error document (EC2 and S3 both use it).
pub(crate) fn error_code_in_body(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let length = text[start..].find("</Code>")?;
    Some(text[start..start + length].trim())
}

/// A failure talking to one target, or in setting it up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target's configuration cannot be used.
    #[error("target {target}: {message}")]
    InvalidConfig { target: String, message: String },
    /// `secret_access_key_file` could not be read.
    #[error("target {target}: cannot read secret_access_key_file {}", path.display())]
    SecretFile {
        target: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The circuit breaker is open: the call was refused without touching the network.
    #[error("target {target} is unavailable (circuit open after {failures} failures)")]
    CircuitOpen { target: String, failures: u32 },
    /// Unreachable, timed out, or failing with 5xx after retries.
    #[error("target {target} is unavailable: {reason}")]
    Unavailable { target: String, reason: String },
    /// Still throttling after our retries.
    #[error("target {target} kept throttling requests ({code})")]
    Throttled { target: String, code: String },
    /// The target refused the call with an error of its own.
    #[error("target {target} refused the call: {code}: {message}")]
    Remote {
        target: String,
        code: String,
        message: String,
        status: u16,
    },
    /// The response could not be read (truncated, malformed, missing fields).
    #[error("target {target} is unavailable: unusable response: {detail}")]
    BadResponse { target: String, detail: String },
}

impl Error {
    /// Classifies a failed SDK call to `target`.
    pub(crate) fn from_sdk<E>(target: &str, error: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let target = target.to_owned();
        match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().unwrap_or_default().to_owned();
                let message = service.err().message().unwrap_or_default().to_owned();
                if is_throttling_code(&code) || status == 429 {
                    let code = if code.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        code
                    };
                    Error::Throttled { target, code }
                } else if status >= 500 && status != 501 {
                    let reason = match code.as_str() {
                        "" => format!("HTTP {status}"),
                        code => format!("HTTP {status} {code}"),
                    };
                    Error::Unavailable { target, reason }
                } else {
                    let code = if code.is_empty() {
                        format!("Http{status}")
                    } else {
                        code
                    };
                    Error::Remote {
                        target,
                        code,
                        message,
                        status,
                    }
                }
            }
            SdkError::DispatchFailure(_) => match find_source::<CircuitOpen>(&error) {
                Some(open) => Error::CircuitOpen {
                    target,
                    failures: open.failures,
                },
                None => Error::Unavailable {
                    target,
                    reason: root_cause(&error),
                },
            },
            SdkError::ResponseError(_) => Error::BadResponse {
                target,
                detail: root_cause(&error),
            },
            _ => Error::Unavailable {
                target,
                reason: root_cause(&error),
            },
        }
    }
}

impl From<Error> for cloud::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Remote {
                code,
                message,
                status,
                ..
            } => cloud::Error::Remote {
                code,
                message,
                status,
            },
            Error::Throttled { .. } => cloud::Error::Throttled(error.to_string()),
            Error::CircuitOpen { .. } | Error::Unavailable { .. } | Error::BadResponse { .. } => {
                cloud::Error::Unavailable(error.to_string())
            }
            Error::InvalidConfig { .. } | Error::SecretFile { .. } => cloud::Error::internal(error),
        }
    }
}

/// The first error of type `T` in `error`'s source chain.
fn find_source<'a, T: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// The innermost message of `error`'s chain ("Connection refused (os error 111)").
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<DescribeInstancesError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(DescribeInstancesError::generic(meta), raw)
    }

    fn check(error: SdkError<DescribeInstancesError, HttpResponse>) -> cloud::Error {
        cloud::Error::from(Error::from_sdk("aws-tokyo", error))
    }

    #[test]
    fn sdk_errors_map_to_domain_errors() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "SlowDown",
            "TooManyRequestsException",
        ] {
            let mapped = check(service_error(503, code, "slow down"));
            assert!(
                matches!(&mapped, cloud::Error::Throttled(m) if m.contains("aws-tokyo") && m.contains(code)),
                "{mapped:?}"
            );
        }
        let mapped = check(service_error(500, "InternalError", "oops"));
        assert!(
            matches!(&mapped, cloud::Error::Unavailable(m) if m == "target aws-tokyo is unavailable: HTTP 500 InternalError")
        );
        let mapped = check(service_error(
            400,
            "InvalidAMIID.NotFound",
            "The image id '[ami-1]' does not exist",
        ));
        assert!(
            matches!(&mapped, cloud::Error::Remote { code, message, status: 400 }
            if code == "InvalidAMIID.NotFound" && message == "The image id '[ami-1]' does not exist")
        );
        let mapped = check(service_error(501, "NotImplemented", "no"));
        assert!(
            matches!(&mapped, cloud::Error::Remote { status: 501, .. }),
            "{mapped:?}"
        );

        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let mapped = check(SdkError::dispatch_failure(ConnectorError::io(Box::new(
            refused,
        ))));
        assert!(
            matches!(&mapped, cloud::Error::Unavailable(m) if m == "target aws-tokyo is unavailable: connection refused")
        );

        let open = CircuitOpen {
            target: "aws-tokyo".into(),
            failures: 3,
        };
        let mapped = check(SdkError::dispatch_failure(ConnectorError::other(
            Box::new(open),
            None,
        )));
        assert!(matches!(&mapped, cloud::Error::Unavailable(m)
            if m == "target aws-tokyo is unavailable (circuit open after 3 failures)"));

        let mapped = check(SdkError::timeout_error(
            "operation timeout occurred after 30s",
        ));
        assert!(
            matches!(&mapped, cloud::Error::Unavailable(m) if m.contains("aws-tokyo") && m.contains("30s"))
        );

        let raw = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::empty());
        let mapped = check(SdkError::response_error("unexpected end of body", raw));
        assert!(
            matches!(&mapped, cloud::Error::Unavailable(m) if m.contains("unexpected end of body"))
        );
    }

    #[test]
    fn finds_the_code_of_an_error_document() {
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>x</Message></Error></Errors></Response>";
        assert_eq!(error_code_in_body(ec2), Some("RequestLimitExceeded"));
        assert_eq!(
            error_code_in_body(b"<Error><Code>SlowDown</Code></Error>"),
            Some("SlowDown")
        );
        assert_eq!(error_code_in_body(b"Service Unavailable"), None);
    }
}
