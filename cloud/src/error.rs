//! The domain error: what went wrong, in terms a caller can act on.
//! Protocol layers turn it into EC2 or S3 wire errors (gateway/src/error.rs).

use crate::ids::ResourceKind;

/// Result with the domain [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed domain operation. Messages are safe to show to clients; internal
/// detail (SQL, file paths) stays in `Internal::detail` and in logs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist, or belongs to another tenant (never say which).
    #[error("the {kind} '{id}' does not exist")]
    NotFound { kind: ResourceKind, id: String },
    /// An ID that does not have its kind's form (`i-` and 8 or 17 hex digits…):
    /// EC2 tells this apart from a well-formed ID that names nothing.
    #[error("the {kind} ID '{id}' is malformed")]
    MalformedId { kind: ResourceKind, id: String },
    /// A resource with this name or identity already exists for the tenant.
    #[error("the {kind} '{id}' already exists")]
    Duplicate { kind: ResourceKind, id: String },
    /// A bucket name is taken by another tenant.
    #[error("the bucket '{0}' is owned by another account")]
    BucketTakenByOther(String),
    /// A request parameter has an unacceptable value.
    #[error("{message}")]
    InvalidParameter { parameter: String, message: String },
    /// The operation conflicts with resources that still depend on this one.
    #[error("{0}")]
    DependencyViolation(String),
    /// The operation is not allowed on this resource (e.g. deleting a default group).
    #[error("{0}")]
    CannotDelete(String),
    /// The bucket still holds objects.
    #[error("the bucket '{0}' is not empty")]
    BucketNotEmpty(String),
    /// A per-tenant quota would be exceeded.
    #[error("quota exceeded: {resource} limit is {limit}")]
    QuotaExceeded { resource: &'static str, limit: i64 },
    /// The resource is not in a state that allows this (e.g. changing the type
    /// of a running instance).
    #[error("{0}")]
    IncorrectState(String),
    /// The volume is not in a state that allows this (attaching an in-use
    /// volume, detaching an available one).
    #[error("{0}")]
    IncorrectVolumeState(String),
    /// The volume is attached to an instance.
    #[error("{0}")]
    VolumeInUse(String),
    /// DetachVolume named an instance or device the volume is not attached to.
    #[error("{0}")]
    AttachmentNotFound(String),
    /// The volume and the instance (or snapshot) live on different targets or zones.
    #[error("{0}")]
    ZoneMismatch(String),
    /// The caller is not allowed to do this.
    #[error("{0}")]
    AccessDenied(String),
    /// The resource's own settings forbid the operation (a terminate of an
    /// instance with termination protection).
    #[error("{0}")]
    OperationNotPermitted(String),
    /// The body did not match the digest the client sent (Content-MD5 or a checksum).
    #[error("{0}")]
    BadDigest(String),
    /// The body's SHA-256 is not the `x-amz-content-sha256` the request was signed with.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch,
    /// The client stopped sending before the body was complete.
    #[error("the request body ended early: {0}")]
    IncompleteBody(String),
    /// A conditional request's precondition failed (HTTP 412).
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    /// A conditional GET/HEAD found nothing new (HTTP 304).
    #[error("not modified")]
    NotModified,
    /// CompleteMultipartUpload named a part that was not uploaded or whose ETag differs.
    #[error("{0}")]
    InvalidPart(String),
    /// CompleteMultipartUpload listed parts out of ascending order.
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    /// A part other than the last is smaller than the 5 MiB minimum.
    #[error("Your proposed upload is smaller than the minimum allowed object size.")]
    EntityTooSmall,
    /// A byte range outside the object.
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    /// An address block is malformed for its resource: wrong size, or outside
    /// the VPC it should belong to.
    #[error("The CIDR '{block}' is invalid.")]
    BadBlock { kind: ResourceKind, block: String },
    /// An address block overlaps one already in use in the VPC.
    #[error("The CIDR '{0}' conflicts with another subnet")]
    BlockConflict(String),
    /// The resource is already attached or associated elsewhere.
    #[error("{0}")]
    AlreadyAssociated(String),
    /// The gateway is not attached to the named VPC.
    #[error("{0}")]
    NotAttached(String),
    /// A route for this destination already exists in the table.
    #[error("The route identified by {0} already exists.")]
    RouteExists(String),
    /// The address is still associated with an instance.
    #[error("{0}")]
    AddressInUse(String),
    /// The site's public address pool has no address left.
    #[error("There are no more public addresses available in this site's pool")]
    AddressPoolExhausted,
    /// An object tag S3 would refuse (key too long, a key used twice…).
    #[error("{0}")]
    InvalidTag(String),
    /// The version asked for is a delete marker, which has no tags or body.
    #[error("The specified method is not allowed against this resource.")]
    DeleteMarker(String),
    /// The site's range of segment ids (VLAN ids or VNIs) is used up.
    #[error("There are no more network segments (VLAN ids or VNIs) available for subnets")]
    SegmentsExhausted,
    /// Placement policy allows no target for this request; the message names the
    /// rules responsible. Nothing was created anywhere.
    #[error("{0}")]
    PlacementRefused(String),
    /// A backend target cannot take the call now (unreachable, circuit open, timed
    /// out, failing after retries). Nothing is known to have changed there.
    #[error("{0}")]
    Unavailable(String),
    /// A backend target kept throttling us after our retries.
    #[error("{0}")]
    Throttled(String),
    /// A backend target refused the call with an AWS error of its own
    /// (`InvalidAMIID.NotFound`…), passed on to the client as it came.
    #[error("{message}")]
    Remote {
        code: String,
        message: String,
        status: u16,
    },
    /// Something broke on our side; `detail` is logged, never sent to clients.
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl Error {
    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: ResourceKind, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// Shorthand for [`Error::Duplicate`].
    pub fn duplicate(kind: ResourceKind, id: impl Into<String>) -> Self {
        Error::Duplicate {
            kind,
            id: id.into(),
        }
    }

    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    /// Wraps any internal failure, keeping its text for the logs only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Error::Internal {
            detail: detail.to_string(),
        }
    }
}
