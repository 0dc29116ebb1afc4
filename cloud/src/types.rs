//! Records tenants own, as the domain sees them (no wire or SQL shapes here).

/// A key/value tag on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A tag together with the resource it is attached to (DescribeTags rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTag {
    pub resource_id: String,
    pub resource_type: &'static str,
    pub key: String,
    pub value: String,
}

/// Key pair algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    /// The EC2 wire name (`rsa`, `ed25519`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// Parses the EC2 wire name.
    pub fn parse(text: &str) -> Option<KeyType> {
        match text {
            "rsa" => Some(KeyType::Rsa),
            "ed25519" => Some(KeyType::Ed25519),
            _ => None,
        }
    }
}

/// A stored key pair: the public half only; private material is returned once at creation.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub id: String,
    pub name: String,
    pub key_type: KeyType,
    pub fingerprint: String,
    /// OpenSSH one-line public key, injected into instances later.
    pub public_key: String,
    pub created_at: i64,
    pub tags: Vec<Tag>,
}

/// Traffic direction of a security group rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// The peer a rule admits: an address range or another group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RulePeer {
    Cidr4 {
        cidr: String,
        description: Option<String>,
    },
    Cidr6 {
        cidr: String,
        description: Option<String>,
    },
    Group {
        group_id: String,
        description: Option<String>,
    },
}

/// One (protocol, port range, peer) permission; the unit that Authorize/Revoke add and remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or `-1` for all.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: RulePeer,
}

/// A security group with its rules.
#[derive(Debug, Clone)]
pub struct SecurityGroup {
    pub id: String,
    /// The VPC the group belongs to (`None` only for groups older than VPCs,
    /// until the tenant's default VPC adopts them).
    pub vpc_id: Option<String>,
    pub name: String,
    pub description: String,
    pub owner_id: String,
    pub rules: Vec<Rule>,
    pub tags: Vec<Tag>,
}

/// A bucket as the tenant sees it.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub created_at: i64,
    /// Where the bucket lives when it is not in this site's object store.
    pub remote: Option<RemoteBucket>,
}

/// A bucket placed on a remote target, under the name it has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteBucket {
    pub target: String,
    pub name: String,
}

/// Standard HTTP headers stored with an object and returned on GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    pub expires: Option<String>,
}

/// A flexible checksum: algorithm (`CRC32`, `CRC32C`, `SHA1`, `SHA256`, `CRC64NVME`) and base64 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: String,
    pub value: String,
}

/// Canned access: who may read a bucket's listing or an object besides its owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CannedAcl {
    #[default]
    Private,
    /// Anyone, signed or not, may read (GET/HEAD; listing for buckets).
    PublicRead,
}

impl CannedAcl {
    /// Parses an `x-amz-acl` value. ACLs that would grant more than reading are refused.
    pub fn parse(text: &str) -> Option<CannedAcl> {
        match text {
            "private" | "bucket-owner-read" | "bucket-owner-full-control" => {
                Some(CannedAcl::Private)
            }
            "public-read" => Some(CannedAcl::PublicRead),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CannedAcl::Private => "private",
            CannedAcl::PublicRead => "public-read",
        }
    }
}

/// One CORS rule of a bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

/// One lifecycle rule of a bucket (expiration only).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LifecycleRule {
    pub id: Option<String>,
    /// Objects whose key starts with this.
    pub prefix: String,
    pub enabled: bool,
    /// Delete objects this many days after their last modification.
    pub expiration_days: Option<u32>,
    /// Abort multipart uploads this many days after they started.
    pub abort_incomplete_days: Option<u32>,
}

/// What describes an object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    pub headers: ObjectHeaders,
    pub acl: CannedAcl,
    /// `x-amz-meta-*` pairs, names lowercased, without the prefix.
    pub user_metadata: std::collections::BTreeMap<String, String>,
    /// Object tags, in the order they were given.
    pub tags: Vec<Tag>,
}

/// An object as stored: its blobs in order, and what S3 reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// The ETag without quotes: hex MD5, or `hex-N` for multipart objects.
    pub etag: String,
    pub meta: ObjectMeta,
    pub checksum: Option<Checksum>,
    pub parts_count: Option<u32>,
    /// Unix milliseconds.
    pub last_modified: i64,
    pub blobs: Vec<crate::StoredBlob>,
    /// The version ID; `None` is S3's "null" version (unversioned or suspended buckets).
    pub version_id: Option<String>,
}

/// Versioning state of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    Unversioned,
    Enabled,
    Suspended,
}

/// One entry of ListObjectVersions: a version or a delete marker.
#[derive(Debug, Clone)]
pub struct VersionEntry {
    pub info: ObjectInfo,
    pub is_delete_marker: bool,
    pub is_latest: bool,
}

/// What a DELETE did.
#[derive(Debug, Clone, Default)]
pub struct DeleteOutcome {
    /// A delete marker was created (or a delete marker was the version removed).
    pub delete_marker: bool,
    pub version_id: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ObjectListing {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix returned, where the next page starts after.
    pub last: Option<String>,
}
