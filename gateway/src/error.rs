//! The one place where failures become wire errors: EC2 codes, S3 codes, and
//! admin API statuses. Client text and internal detail stay apart: internal
//! detail is logged here and never sent.

use cloud::{Error, ResourceKind};
use http::StatusCode;
use s3s::{S3Error, S3ErrorCode};

use crate::auth::AuthError;

/// An error as the EC2 Query API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Error {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl Ec2Error {
    /// A 400 with the given code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Ec2Error {
        Ec2Error {
            status: StatusCode::BAD_REQUEST,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `InvalidParameterValue`.
    pub fn invalid_value(message: impl Into<String>) -> Ec2Error {
        Ec2Error::bad_request("InvalidParameterValue", message)
    }

    /// `MissingParameter`.
    pub fn missing(parameter: &str) -> Ec2Error {
        Ec2Error::bad_request(
            "MissingParameter",
            format!("The request must contain the parameter {parameter}"),
        )
    }
}

/// An action's error as that action names it: an outage (no target able to
/// take the work now, 503 `ServiceUnavailable`) is `InsufficientInstanceCapacity`
/// for what launches instances and `InsufficientVolumeCapacity` for CreateVolume.
pub fn for_action(action: &str, mut error: Ec2Error) -> Ec2Error {
    if error.status == StatusCode::SERVICE_UNAVAILABLE && error.code == "ServiceUnavailable" {
        match action {
            "RunInstances" | "StartInstances" => error.code = "InsufficientInstanceCapacity".into(),
            "CreateVolume" => error.code = "InsufficientVolumeCapacity".into(),
            _ => {}
        }
    }
    error
}

/// EC2's code for an ID that is not of its kind's form (AWS's spelling varies by kind).
fn malformed_code(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Instance => "InvalidInstanceID.Malformed",
        ResourceKind::Vpc => "InvalidVpcID.Malformed",
        ResourceKind::Subnet => "InvalidSubnetID.Malformed",
        ResourceKind::SecurityGroup => "InvalidGroupId.Malformed",
        ResourceKind::SecurityGroupRule => "InvalidSecurityGroupRuleId.Malformed",
        ResourceKind::Volume => "InvalidVolumeID.Malformed",
        ResourceKind::Snapshot => "InvalidSnapshotID.Malformed",
        ResourceKind::Image => "InvalidAMIID.Malformed",
        ResourceKind::ElasticIp => "InvalidAllocationID.Malformed",
        ResourceKind::AddressAssociation | ResourceKind::RouteTableAssociation => {
            "InvalidAssociationID.Malformed"
        }
        ResourceKind::InternetGateway => "InvalidInternetGatewayId.Malformed",
        ResourceKind::RouteTable => "InvalidRouteTableId.Malformed",
        ResourceKind::NetworkInterface => "InvalidNetworkInterfaceId.Malformed",
        ResourceKind::KeyPair => "InvalidKeyPair.Malformed",
        _ => "InvalidID",
    }
}

fn not_found_code(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::KeyPair => "InvalidKeyPair.NotFound",
        ResourceKind::SecurityGroup => "InvalidGroup.NotFound",
        ResourceKind::SecurityGroupRule => "InvalidPermission.NotFound",
        ResourceKind::Instance => "InvalidInstanceID.NotFound",
        ResourceKind::Image => "InvalidAMIID.NotFound",
        ResourceKind::Vpc => "InvalidVpcID.NotFound",
        ResourceKind::Subnet => "InvalidSubnetID.NotFound",
        ResourceKind::InternetGateway => "InvalidInternetGatewayID.NotFound",
        ResourceKind::RouteTable => "InvalidRouteTableID.NotFound",
        ResourceKind::RouteTableAssociation | ResourceKind::AddressAssociation => {
            "InvalidAssociationID.NotFound"
        }
        ResourceKind::ElasticIp => "InvalidAllocationID.NotFound",
        ResourceKind::Route => "InvalidRoute.NotFound",
        ResourceKind::NetworkInterface => "InvalidNetworkInterfaceID.NotFound",
        ResourceKind::Volume => "InvalidVolume.NotFound",
        ResourceKind::Snapshot => "InvalidSnapshot.NotFound",
        _ => "InvalidID.NotFound",
    }
}

fn duplicate_code(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::KeyPair => "InvalidKeyPair.Duplicate",
        ResourceKind::SecurityGroup => "InvalidGroup.Duplicate",
        ResourceKind::SecurityGroupRule => "InvalidPermission.Duplicate",
        ResourceKind::Image => "InvalidAMIName.Duplicate",
        _ => "InvalidParameterValue",
    }
}

fn log_internal(detail: &str) {
    tracing::warn!(detail, "internal error");
}

impl From<Error> for Ec2Error {
    fn from(error: Error) -> Ec2Error {
        let message = error.to_string();
        match error {
            // A rule named by its ID (not by its content) is missing.
            Error::NotFound {
                kind: ResourceKind::SecurityGroupRule,
                id,
            } if id.starts_with("sgr-") => Ec2Error::bad_request(
                "InvalidSecurityGroupRuleId.NotFound",
                format!("The security group rule ID '{id}' does not exist"),
            ),
            // An elastic IP named by its address rather than its allocation ID.
            Error::NotFound {
                kind: ResourceKind::ElasticIp | ResourceKind::AddressAssociation,
                id,
            } if id.parse::<std::net::IpAddr>().is_ok() => Ec2Error::bad_request(
                "InvalidAddress.NotFound",
                format!("Address '{id}' not found."),
            ),
            Error::NotFound { kind, id } => {
                let message = match kind {
                    ResourceKind::KeyPair => format!("The key pair '{id}' does not exist"),
                    ResourceKind::SecurityGroup => {
                        format!("The security group '{id}' does not exist")
                    }
                    ResourceKind::SecurityGroupRule => {
                        "The specified rule does not exist in this security group.".into()
                    }
                    ResourceKind::Instance => format!("The instance ID '{id}' does not exist"),
                    ResourceKind::Image => format!("The image id '[{id}]' does not exist"),
                    ResourceKind::Vpc => format!("The vpc ID '{id}' does not exist"),
                    ResourceKind::Subnet => format!("The subnet ID '{id}' does not exist"),
                    ResourceKind::InternetGateway => {
                        format!("The internetGateway ID '{id}' does not exist")
                    }
                    ResourceKind::RouteTable => format!("The routeTable ID '{id}' does not exist"),
                    ResourceKind::RouteTableAssociation | ResourceKind::AddressAssociation => {
                        format!("The association ID '{id}' does not exist")
                    }
                    ResourceKind::ElasticIp => format!("The allocation ID '{id}' does not exist"),
                    // The domain's message already says which route of which table.
                    ResourceKind::Route => id,
                    ResourceKind::NetworkInterface => {
                        format!("The networkInterface ID '{id}' does not exist")
                    }
                    ResourceKind::Volume => format!("The volume '{id}' does not exist."),
                    ResourceKind::Snapshot => format!("The snapshot '{id}' does not exist."),
                    _ => message,
                };
                Ec2Error::bad_request(not_found_code(kind), message)
            }
            Error::Duplicate { kind, id } => {
                let message = match kind {
                    ResourceKind::KeyPair => format!("The keypair '{id}' already exists."),
                    ResourceKind::SecurityGroup => {
                        format!("The security group '{id}' already exists")
                    }
                    ResourceKind::SecurityGroupRule => {
                        format!("the specified rule \"peer: {id}\" already exists")
                    }
                    _ => message,
                };
                Ec2Error::bad_request(duplicate_code(kind), message)
            }
            Error::InvalidParameter { parameter, message } => {
                let code = match parameter.as_str() {
                    "UserId" => "InvalidAMIAttributeItemValue",
                    "PublicKeyMaterial" => "InvalidKey.Format",
                    "Placement.AvailabilityZone" => "InvalidParameterValue",
                    "InstanceType" => "InvalidParameterValue",
                    "ResourceId" => "InvalidID",
                    "Tag" | "Tag.Key" | "Tag.Value" => "InvalidParameterValue",
                    _ => "InvalidParameterValue",
                };
                Ec2Error::bad_request(code, message)
            }
            Error::DependencyViolation(_) => Ec2Error::bad_request("DependencyViolation", message),
            Error::BadBlock {
                kind: ResourceKind::Vpc,
                ..
            } => Ec2Error::bad_request("InvalidVpc.Range", message),
            Error::BadBlock { .. } => Ec2Error::bad_request("InvalidSubnet.Range", message),
            Error::BlockConflict(_) => Ec2Error::bad_request("InvalidSubnet.Conflict", message),
            Error::AlreadyAssociated(_) => {
                Ec2Error::bad_request("Resource.AlreadyAssociated", message)
            }
            Error::NotAttached(_) => Ec2Error::bad_request("Gateway.NotAttached", message),
            Error::RouteExists(_) => Ec2Error::bad_request("RouteAlreadyExists", message),
            Error::AddressPoolExhausted => {
                Ec2Error::bad_request("InsufficientAddressCapacity", message)
            }
            Error::SegmentsExhausted => Ec2Error::bad_request("SubnetLimitExceeded", message),
            Error::InvalidTag(_) => Ec2Error::invalid_value(message),
            Error::DeleteMarker(_) => Ec2Error::bad_request("InvalidRequest", message),
            Error::AddressInUse(_) => Ec2Error::bad_request("InvalidIPAddress.InUse", message),
            Error::IncorrectState(_) => Ec2Error::bad_request("IncorrectInstanceState", message),
            Error::IncorrectVolumeState(_) => Ec2Error::bad_request("IncorrectState", message),
            Error::VolumeInUse(_) => Ec2Error::bad_request("VolumeInUse", message),
            Error::AttachmentNotFound(_) => {
                Ec2Error::bad_request("InvalidAttachment.NotFound", message)
            }
            Error::ZoneMismatch(_) => Ec2Error::bad_request("InvalidVolume.ZoneMismatch", message),
            Error::CannotDelete(_) => Ec2Error::bad_request("CannotDelete", message),
            Error::OperationNotPermitted(_) => {
                Ec2Error::bad_request("OperationNotPermitted", message)
            }
            Error::QuotaExceeded {
                resource: "instances",
                ..
            } => Ec2Error::bad_request("InstanceLimitExceeded", message),
            Error::QuotaExceeded {
                resource: "volume GiB",
                ..
            } => Ec2Error::bad_request("VolumeLimitExceeded", message),
            Error::QuotaExceeded { .. } => Ec2Error::bad_request("ResourceLimitExceeded", message),
            Error::AccessDenied(_) => Ec2Error {
                status: StatusCode::FORBIDDEN,
                code: "UnauthorizedOperation".into(),
                message,
            },
            // Placement: see docs/policies.md, "What clients see".
            Error::PlacementRefused(_) => Ec2Error::bad_request("Unsupported", message),
            // Launches and CreateVolume name it their way: `for_action`.
            Error::Unavailable(_) => Ec2Error {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "ServiceUnavailable".into(),
                message,
            },
            Error::MalformedId { kind, id } => Ec2Error::bad_request(
                malformed_code(kind),
                format!("Invalid id: \"{id}\" (expecting \"{}-...\")", kind.prefix()),
            ),
            Error::Throttled(_) => Ec2Error {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "RequestLimitExceeded".into(),
                message,
            },
            Error::Remote { code, status, .. } => Ec2Error {
                status: StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::BAD_REQUEST),
                code,
                message,
            },
            Error::BucketNotEmpty(_)
            | Error::BucketTakenByOther(_)
            | Error::BadDigest(_)
            | Error::ContentSha256Mismatch
            | Error::IncompleteBody(_)
            | Error::PreconditionFailed
            | Error::NotModified
            | Error::InvalidPart(_)
            | Error::InvalidPartOrder
            | Error::EntityTooSmall
            | Error::InvalidRange => Ec2Error::bad_request("InvalidParameterValue", message),
            Error::Internal { detail } => {
                log_internal(&detail);
                Ec2Error {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "InternalError".into(),
                    message: "An internal error has occurred".into(),
                }
            }
        }
    }
}

impl From<AuthError> for Ec2Error {
    fn from(error: AuthError) -> Ec2Error {
        let (status, code) = match &error {
            AuthError::Missing => (StatusCode::UNAUTHORIZED, "MissingAuthenticationToken"),
            AuthError::UnknownKey => (StatusCode::UNAUTHORIZED, "AuthFailure"),
            // EC2's own words (S3's SignatureDoesNotMatch / RequestTimeTooSkewed
            // are S3's): a wrong secret is AuthFailure; a date too far from now,
            // either way, or past a presigned expiry is RequestExpired.
            AuthError::SignatureMismatch => (StatusCode::UNAUTHORIZED, "AuthFailure"),
            AuthError::Skewed | AuthError::Expired => (StatusCode::BAD_REQUEST, "RequestExpired"),
            AuthError::Malformed(_) => (StatusCode::BAD_REQUEST, "IncompleteSignature"),
            AuthError::Lookup(inner) => {
                log_internal(&inner.to_string());
                return Ec2Error {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "InternalError".into(),
                    message: "An internal error has occurred".into(),
                };
            }
        };
        let message = match &error {
            AuthError::UnknownKey => {
                "AWS was not able to validate the provided access credentials".to_string()
            }
            AuthError::SignatureMismatch => {
                "AWS was not able to validate the provided access credentials".to_string()
            }
            AuthError::Skewed | AuthError::Expired => {
                "Request has expired: its date is more than 15 minutes from the server's time, \
                 or past its expiry."
                    .to_string()
            }
            other => other.to_string(),
        };
        Ec2Error {
            status,
            code: code.into(),
            message,
        }
    }
}

/// An error as STS reports it (its own codes and `ErrorResponse` document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl StsError {
    /// A 400 the caller caused.
    pub fn sender(code: &str, message: impl Into<String>) -> StsError {
        StsError {
            status: StatusCode::BAD_REQUEST,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<AuthError> for StsError {
    fn from(error: AuthError) -> StsError {
        let (status, code, message) = match &error {
            AuthError::Missing => (
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token".to_string(),
            ),
            AuthError::UnknownKey => (
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.".to_string(),
            ),
            AuthError::SignatureMismatch => (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method."
                    .to_string(),
            ),
            AuthError::Skewed | AuthError::Expired => (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "Signature expired: the request time is too far from the server time".to_string(),
            ),
            AuthError::Malformed(detail) => (
                StatusCode::BAD_REQUEST,
                "IncompleteSignature",
                detail.clone(),
            ),
            AuthError::Lookup(inner) => {
                log_internal(&inner.to_string());
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalFailure",
                    "The request processing has failed because of an unknown error.".to_string(),
                )
            }
        };
        StsError {
            status,
            code: code.into(),
            message,
        }
    }
}

/// What a remote target's S3 answered, as Skyport's answer: the target's
/// failure is ours to report as unavailability (a 503 SDKs retry), not as our
/// own internal error; everything else the target said passes through.
pub fn remote_s3_error(error: S3Error) -> S3Error {
    if *error.code() == S3ErrorCode::InternalError {
        let message = error
            .message()
            .unwrap_or("the target cloud failed")
            .to_string();
        return S3Error::with_message(
            S3ErrorCode::ServiceUnavailable,
            format!("remote target: {message}"),
        );
    }
    error
}

/// Maps a domain error to an S3 error.
pub fn s3_error(error: Error) -> S3Error {
    let message = error.to_string();
    let code = match &error {
        Error::NotFound {
            kind: ResourceKind::Bucket,
            ..
        } => S3ErrorCode::NoSuchBucket,
        Error::NotFound {
            kind: ResourceKind::MultipartUpload,
            ..
        } => S3ErrorCode::NoSuchUpload,
        Error::NotFound {
            kind: ResourceKind::ObjectVersion,
            ..
        } => S3ErrorCode::NoSuchVersion,
        Error::NotFound { .. } => S3ErrorCode::NoSuchKey,
        Error::BadDigest(_) => S3ErrorCode::BadDigest,
        Error::IncompleteBody(_) => S3ErrorCode::IncompleteBody,
        Error::PreconditionFailed => S3ErrorCode::PreconditionFailed,
        Error::NotModified => S3ErrorCode::NotModified,
        Error::InvalidPart(_) => S3ErrorCode::InvalidPart,
        Error::InvalidPartOrder => S3ErrorCode::InvalidPartOrder,
        Error::EntityTooSmall => S3ErrorCode::EntityTooSmall,
        Error::InvalidRange => S3ErrorCode::InvalidRange,
        Error::Duplicate {
            kind: ResourceKind::Bucket,
            ..
        } => S3ErrorCode::BucketAlreadyOwnedByYou,
        Error::BucketTakenByOther(_) => S3ErrorCode::BucketAlreadyExists,
        Error::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        Error::InvalidParameter { parameter, .. } if parameter == "Bucket" => {
            S3ErrorCode::InvalidBucketName
        }
        Error::InvalidParameter { parameter, .. } if parameter == "Key" => {
            S3ErrorCode::KeyTooLongError
        }
        Error::InvalidParameter { .. } | Error::Duplicate { .. } | Error::MalformedId { .. } => {
            S3ErrorCode::InvalidArgument
        }
        Error::QuotaExceeded {
            resource: "buckets",
            ..
        } => S3ErrorCode::TooManyBuckets,
        Error::QuotaExceeded { .. } => S3ErrorCode::Custom("QuotaExceeded".into()),
        Error::AccessDenied(_) | Error::CannotDelete(_) | Error::OperationNotPermitted(_) => {
            S3ErrorCode::AccessDenied
        }
        Error::DependencyViolation(_)
        | Error::BadBlock { .. }
        | Error::BlockConflict(_)
        | Error::AlreadyAssociated(_)
        | Error::NotAttached(_)
        | Error::RouteExists(_)
        | Error::AddressInUse(_)
        | Error::AddressPoolExhausted
        | Error::SegmentsExhausted => S3ErrorCode::InvalidRequest,
        Error::InvalidTag(_) => S3ErrorCode::InvalidTag,
        Error::DeleteMarker(_) => S3ErrorCode::MethodNotAllowed,
        Error::IncorrectState(_)
        | Error::IncorrectVolumeState(_)
        | Error::VolumeInUse(_)
        | Error::AttachmentNotFound(_)
        | Error::ZoneMismatch(_) => S3ErrorCode::InvalidRequest,
        Error::PlacementRefused(_) => S3ErrorCode::InvalidLocationConstraint,
        Error::Unavailable(_) => S3ErrorCode::ServiceUnavailable,
        Error::Throttled(_) => S3ErrorCode::SlowDown,
        Error::Remote { code, .. } => S3ErrorCode::from_bytes(code.as_bytes())
            .unwrap_or_else(|| S3ErrorCode::Custom(code.clone().into())),
        Error::ContentSha256Mismatch => {
            // s3s has no such code; its custom codes need their status.
            let code = S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into());
            let mut wire = S3Error::with_message(code, message);
            wire.set_status_code(StatusCode::BAD_REQUEST);
            return wire;
        }
        Error::Internal { detail } => {
            log_internal(detail);
            return S3Error::with_message(
                S3ErrorCode::InternalError,
                "We encountered an internal error. Please try again.",
            );
        }
    };
    S3Error::with_message(code, message)
}

/// An admin API error: HTTP status and a JSON `{"error": code, "message": …}` body.
pub fn admin_status(error: &Error) -> (StatusCode, &'static str) {
    match error {
        Error::NotFound { .. } => (StatusCode::NOT_FOUND, "NotFound"),
        Error::Duplicate { .. } | Error::BucketTakenByOther(_) => {
            (StatusCode::CONFLICT, "AlreadyExists")
        }
        Error::InvalidParameter { .. } | Error::MalformedId { .. } => {
            (StatusCode::BAD_REQUEST, "InvalidParameter")
        }
        Error::DependencyViolation(_)
        | Error::BucketNotEmpty(_)
        | Error::CannotDelete(_)
        | Error::OperationNotPermitted(_)
        | Error::IncorrectState(_)
        | Error::IncorrectVolumeState(_)
        | Error::VolumeInUse(_)
        | Error::AttachmentNotFound(_)
        | Error::ZoneMismatch(_)
        | Error::BlockConflict(_)
        | Error::AlreadyAssociated(_)
        | Error::NotAttached(_)
        | Error::RouteExists(_)
        | Error::AddressInUse(_) => (StatusCode::CONFLICT, "DependencyViolation"),
        Error::BadBlock { .. } | Error::InvalidTag(_) => {
            (StatusCode::BAD_REQUEST, "InvalidParameter")
        }
        Error::DeleteMarker(_) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        Error::AddressPoolExhausted | Error::SegmentsExhausted => {
            (StatusCode::CONFLICT, "QuotaExceeded")
        }
        Error::BadDigest(_)
        | Error::ContentSha256Mismatch
        | Error::IncompleteBody(_)
        | Error::PreconditionFailed
        | Error::NotModified
        | Error::InvalidPart(_)
        | Error::InvalidPartOrder
        | Error::EntityTooSmall
        | Error::InvalidRange => (StatusCode::BAD_REQUEST, "InvalidParameter"),
        Error::QuotaExceeded { .. } => (StatusCode::CONFLICT, "QuotaExceeded"),
        Error::AccessDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
        Error::PlacementRefused(_) => (StatusCode::CONFLICT, "PlacementRefused"),
        Error::Unavailable(_) | Error::Throttled(_) | Error::Remote { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "TargetUnavailable")
        }
        Error::Internal { detail } => {
            log_internal(detail);
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
    }
}

/// The S3 error document: every S3 error the gateway writes itself (refusals
/// before s3s, CORS preflights, panics) has this shape.
pub fn s3_error_document(code: &str, message: &str, request_id: &str) -> String {
    use crate::ec2::xml::escape;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests;
