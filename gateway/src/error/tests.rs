//! One row per wire mapping: every domain and auth error, its code and status in each protocol.

use super::*;

#[test]
fn sts_codes_per_auth_error() {
    for (error, status, code) in [
        (AuthError::Missing, 403, "MissingAuthenticationToken"),
        (AuthError::UnknownKey, 403, "InvalidClientTokenId"),
        (AuthError::SignatureMismatch, 403, "SignatureDoesNotMatch"),
        (AuthError::Expired, 403, "SignatureDoesNotMatch"),
        (AuthError::Malformed("x".into()), 400, "IncompleteSignature"),
        (
            AuthError::Lookup(Error::internal("db down")),
            500,
            "InternalFailure",
        ),
    ] {
        let wire = StsError::from(error);
        assert_eq!((wire.status.as_u16(), wire.code.as_str()), (status, code));
    }
}

#[test]
fn ec2_codes_per_domain_error() {
    let rows: Vec<(Error, &str, u16)> = vec![
        (
            Error::not_found(ResourceKind::KeyPair, "k"),
            "InvalidKeyPair.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::SecurityGroup, "sg-1"),
            "InvalidGroup.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::SecurityGroupRule, "r"),
            "InvalidPermission.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::SecurityGroupRule, "sgr-0123456789abcdef0"),
            "InvalidSecurityGroupRuleId.NotFound",
            400,
        ),
        (
            Error::duplicate(ResourceKind::KeyPair, "k"),
            "InvalidKeyPair.Duplicate",
            400,
        ),
        (
            Error::duplicate(ResourceKind::SecurityGroup, "g"),
            "InvalidGroup.Duplicate",
            400,
        ),
        (
            Error::duplicate(ResourceKind::SecurityGroupRule, "r"),
            "InvalidPermission.Duplicate",
            400,
        ),
        (
            Error::invalid("PublicKeyMaterial", "bad"),
            "InvalidKey.Format",
            400,
        ),
        (Error::invalid("ResourceId", "bad"), "InvalidID", 400),
        (
            Error::invalid("CidrIp", "bad"),
            "InvalidParameterValue",
            400,
        ),
        (
            Error::DependencyViolation("x".into()),
            "DependencyViolation",
            400,
        ),
        (Error::CannotDelete("x".into()), "CannotDelete", 400),
        (
            Error::OperationNotPermitted("x".into()),
            "OperationNotPermitted",
            400,
        ),
        (
            Error::not_found(ResourceKind::Vpc, "vpc-1"),
            "InvalidVpcID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::Subnet, "subnet-1"),
            "InvalidSubnetID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::InternetGateway, "igw-1"),
            "InvalidInternetGatewayID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::RouteTable, "rtb-1"),
            "InvalidRouteTableID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::Route, "r"),
            "InvalidRoute.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::ElasticIp, "eipalloc-1"),
            "InvalidAllocationID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::AddressAssociation, "eipassoc-1"),
            "InvalidAssociationID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::NetworkInterface, "eni-1"),
            "InvalidNetworkInterfaceID.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::Volume, "vol-1"),
            "InvalidVolume.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::Snapshot, "snap-1"),
            "InvalidSnapshot.NotFound",
            400,
        ),
        (
            Error::IncorrectVolumeState("x".into()),
            "IncorrectState",
            400,
        ),
        (Error::VolumeInUse("x".into()), "VolumeInUse", 400),
        (
            Error::AttachmentNotFound("x".into()),
            "InvalidAttachment.NotFound",
            400,
        ),
        (
            Error::ZoneMismatch("x".into()),
            "InvalidVolume.ZoneMismatch",
            400,
        ),
        (
            Error::BadBlock {
                kind: ResourceKind::Vpc,
                block: "10.0.0.0/8".into(),
            },
            "InvalidVpc.Range",
            400,
        ),
        (
            Error::BadBlock {
                kind: ResourceKind::Subnet,
                block: "10.9.0.0/24".into(),
            },
            "InvalidSubnet.Range",
            400,
        ),
        (
            Error::BlockConflict("10.0.1.0/24".into()),
            "InvalidSubnet.Conflict",
            400,
        ),
        (
            Error::AlreadyAssociated("x".into()),
            "Resource.AlreadyAssociated",
            400,
        ),
        (Error::NotAttached("x".into()), "Gateway.NotAttached", 400),
        (
            Error::RouteExists("0.0.0.0/0".into()),
            "RouteAlreadyExists",
            400,
        ),
        (
            Error::AddressInUse("x".into()),
            "InvalidIPAddress.InUse",
            400,
        ),
        (
            Error::AddressPoolExhausted,
            "InsufficientAddressCapacity",
            400,
        ),
        (Error::SegmentsExhausted, "SubnetLimitExceeded", 400),
        (Error::InvalidTag("x".into()), "InvalidParameterValue", 400),
        (
            Error::QuotaExceeded {
                resource: "instances",
                limit: 1,
            },
            "InstanceLimitExceeded",
            400,
        ),
        (
            Error::QuotaExceeded {
                resource: "vcpus",
                limit: 1,
            },
            "ResourceLimitExceeded",
            400,
        ),
        (Error::PlacementRefused("x".into()), "Unsupported", 400),
        (Error::Unavailable("x".into()), "ServiceUnavailable", 503),
        (
            Error::MalformedId {
                kind: ResourceKind::Vpc,
                id: "vpc-x".into(),
            },
            "InvalidVpcID.Malformed",
            400,
        ),
        (
            Error::not_found(ResourceKind::ElasticIp, "198.51.100.7"),
            "InvalidAddress.NotFound",
            400,
        ),
        (
            Error::not_found(ResourceKind::ElasticIp, "eipalloc-0123456789abcdef0"),
            "InvalidAllocationID.NotFound",
            400,
        ),
        (Error::Throttled("x".into()), "RequestLimitExceeded", 503),
        (
            Error::Remote {
                code: "InvalidAMIID.NotFound".into(),
                message: "x".into(),
                status: 400,
            },
            "InvalidAMIID.NotFound",
            400,
        ),
        (
            Error::AccessDenied("x".into()),
            "UnauthorizedOperation",
            403,
        ),
        (Error::internal("db down"), "InternalError", 500),
    ];
    for (error, code, status) in rows {
        let wire = Ec2Error::from(error);
        assert_eq!((wire.code.as_str(), wire.status.as_u16()), (code, status));
    }
    let internal = Ec2Error::from(Error::internal("secret table name"));
    assert!(!internal.message.contains("secret table"));
}

#[test]
fn ec2_codes_per_auth_error() {
    let rows = [
        (AuthError::Missing, "MissingAuthenticationToken", 401),
        (AuthError::UnknownKey, "AuthFailure", 401),
        (AuthError::SignatureMismatch, "AuthFailure", 401),
        (AuthError::Skewed, "RequestExpired", 400),
        (AuthError::Expired, "RequestExpired", 400),
        (AuthError::Malformed("x".into()), "IncompleteSignature", 400),
    ];
    for (error, code, status) in rows {
        let wire = Ec2Error::from(error);
        assert_eq!((wire.code.as_str(), wire.status.as_u16()), (code, status));
    }
}

#[test]
fn s3_codes_per_domain_error() {
    let rows = [
        (
            Error::not_found(ResourceKind::Bucket, "b"),
            S3ErrorCode::NoSuchBucket,
        ),
        (
            Error::duplicate(ResourceKind::Bucket, "b"),
            S3ErrorCode::BucketAlreadyOwnedByYou,
        ),
        (
            Error::BucketTakenByOther("b".into()),
            S3ErrorCode::BucketAlreadyExists,
        ),
        (
            Error::BucketNotEmpty("b".into()),
            S3ErrorCode::BucketNotEmpty,
        ),
        (
            Error::invalid("Bucket", "bad"),
            S3ErrorCode::InvalidBucketName,
        ),
        (
            Error::QuotaExceeded {
                resource: "buckets",
                limit: 1,
            },
            S3ErrorCode::TooManyBuckets,
        ),
        (Error::AccessDenied("x".into()), S3ErrorCode::AccessDenied),
        (Error::InvalidTag("x".into()), S3ErrorCode::InvalidTag),
        (
            Error::DeleteMarker("v".into()),
            S3ErrorCode::MethodNotAllowed,
        ),
        (
            Error::not_found(ResourceKind::Object, "k"),
            S3ErrorCode::NoSuchKey,
        ),
        (
            Error::not_found(ResourceKind::MultipartUpload, "u"),
            S3ErrorCode::NoSuchUpload,
        ),
        (
            Error::not_found(ResourceKind::ObjectVersion, "v"),
            S3ErrorCode::NoSuchVersion,
        ),
        (Error::BadDigest("x".into()), S3ErrorCode::BadDigest),
        (
            Error::IncompleteBody("x".into()),
            S3ErrorCode::IncompleteBody,
        ),
        (Error::PreconditionFailed, S3ErrorCode::PreconditionFailed),
        (Error::InvalidPart("x".into()), S3ErrorCode::InvalidPart),
        (Error::InvalidPartOrder, S3ErrorCode::InvalidPartOrder),
        (Error::EntityTooSmall, S3ErrorCode::EntityTooSmall),
        (Error::invalid("Key", "long"), S3ErrorCode::KeyTooLongError),
        (Error::internal("x"), S3ErrorCode::InternalError),
    ];
    for (error, code) in rows {
        assert_eq!(s3_error(error).code(), &code);
    }
}

#[test]
fn a_remote_targets_failure_is_unavailability_and_the_rest_passes_through() {
    let failed = remote_s3_error(S3Error::with_message(S3ErrorCode::InternalError, "boom"));
    assert_eq!(*failed.code(), S3ErrorCode::ServiceUnavailable);
    assert_eq!(failed.message(), Some("remote target: boom"));
    let missing = remote_s3_error(S3Error::with_message(S3ErrorCode::NoSuchKey, "gone"));
    assert_eq!(*missing.code(), S3ErrorCode::NoSuchKey);
    assert_eq!(missing.message(), Some("gone"));
}
