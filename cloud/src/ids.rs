//! Resource kinds and AWS-style identifiers (`sg-0123456789abcdef0`).

use std::fmt;

use rand::Rng;

/// Every kind of resource a tenant can own. The EC2 resource-type name
/// (as `DescribeTags` reports it) and the ID prefix come from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    KeyPair,
    SecurityGroup,
    SecurityGroupRule,
    Bucket,
    Object,
    ObjectVersion,
    MultipartUpload,
    Instance,
    Reservation,
    Volume,
    Snapshot,
    Image,
    Vpc,
    Subnet,
    InternetGateway,
    RouteTable,
    RouteTableAssociation,
    Route,
    ElasticIp,
    AddressAssociation,
    NetworkInterface,
    Tenant,
    User,
    AccessKey,
}

impl ResourceKind {
    /// The ID prefix AWS uses for this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            ResourceKind::KeyPair => "key",
            ResourceKind::SecurityGroup => "sg",
            ResourceKind::SecurityGroupRule => "sgr",
            ResourceKind::Bucket => "bucket",
            ResourceKind::Object => "object",
            ResourceKind::ObjectVersion => "version",
            ResourceKind::MultipartUpload => "upload",
            ResourceKind::Instance => "i",
            ResourceKind::Reservation => "r",
            ResourceKind::Volume => "vol",
            ResourceKind::Snapshot => "snap",
            ResourceKind::Image => "ami",
            ResourceKind::Vpc => "vpc",
            ResourceKind::Subnet => "subnet",
            ResourceKind::InternetGateway => "igw",
            ResourceKind::RouteTable => "rtb",
            ResourceKind::RouteTableAssociation => "rtbassoc",
            ResourceKind::Route => "route",
            ResourceKind::ElasticIp => "eipalloc",
            ResourceKind::AddressAssociation => "eipassoc",
            ResourceKind::NetworkInterface => "eni",
            ResourceKind::Tenant => "tenant",
            ResourceKind::User => "user",
            ResourceKind::AccessKey => "akid",
        }
    }

    /// The EC2 `resource-type` name (DescribeTags, TagSpecification).
    pub fn ec2_type(self) -> &'static str {
        match self {
            ResourceKind::KeyPair => "key-pair",
            ResourceKind::SecurityGroup => "security-group",
            ResourceKind::SecurityGroupRule => "security-group-rule",
            ResourceKind::Bucket => "bucket",
            ResourceKind::Object => "object",
            ResourceKind::ObjectVersion => "object-version",
            ResourceKind::MultipartUpload => "multipart-upload",
            ResourceKind::Instance => "instance",
            ResourceKind::Reservation => "reservation",
            ResourceKind::Volume => "volume",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Image => "image",
            ResourceKind::Vpc => "vpc",
            ResourceKind::Subnet => "subnet",
            ResourceKind::InternetGateway => "internet-gateway",
            ResourceKind::RouteTable => "route-table",
            ResourceKind::RouteTableAssociation => "route-table-association",
            ResourceKind::Route => "route",
            ResourceKind::ElasticIp => "elastic-ip",
            ResourceKind::AddressAssociation => "elastic-ip-association",
            ResourceKind::NetworkInterface => "network-interface",
            ResourceKind::Tenant => "tenant",
            ResourceKind::User => "user",
            ResourceKind::AccessKey => "access-key",
        }
    }

    /// The kind an EC2 resource ID belongs to, judged by its prefix.
    pub fn of_id(id: &str) -> Option<ResourceKind> {
        let (prefix, rest) = id.split_once('-')?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        [
            ResourceKind::KeyPair,
            ResourceKind::SecurityGroup,
            ResourceKind::SecurityGroupRule,
            ResourceKind::Instance,
            ResourceKind::Volume,
            ResourceKind::Snapshot,
            ResourceKind::Image,
            ResourceKind::Vpc,
            ResourceKind::Subnet,
            ResourceKind::InternetGateway,
            ResourceKind::RouteTable,
            ResourceKind::ElasticIp,
            ResourceKind::NetworkInterface,
        ]
        .into_iter()
        .find(|kind| kind.prefix() == prefix)
    }

    /// Whether `id` has this kind's form: the prefix, a dash and hex digits —
    /// 8 or 17 of them, AWS's two lengths (every ID Skyport issues has 17).
    /// Images keep their target's IDs, so any length up to 32 counts for them
    /// (compatible clouds and emulators issue others). Anything else is
    /// malformed, which clients are told apart from a well-formed ID that names
    /// nothing.
    pub fn is_well_formed(self, id: &str) -> bool {
        let Some(digits) = id
            .strip_prefix(self.prefix())
            .and_then(|rest| rest.strip_prefix('-'))
        else {
            return false;
        };
        let lengths_ok = match self {
            ResourceKind::Image => (1..=32).contains(&digits.len()),
            _ => digits.len() == 8 || digits.len() == 17,
        };
        lengths_ok && digits.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// `id` when it has this kind's form, else [`Error::MalformedId`](crate::Error::MalformedId).
    pub fn parse_id(self, id: &str) -> crate::Result<&str> {
        if self.is_well_formed(id) {
            Ok(id)
        } else {
            Err(crate::Error::MalformedId {
                kind: self,
                id: id.to_string(),
            })
        }
    }

    /// A fresh ID: the prefix, a dash and 17 lowercase hex digits, as AWS issues them.
    pub fn new_id(self) -> String {
        let mut rng = rand::thread_rng();
        let digits: String = (0..17)
            .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
            .collect();
        format!("{}-{digits}", self.prefix())
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ResourceKind::KeyPair => "key pair",
            ResourceKind::SecurityGroup => "security group",
            ResourceKind::SecurityGroupRule => "security group rule",
            ResourceKind::Bucket => "bucket",
            ResourceKind::Object => "object",
            ResourceKind::ObjectVersion => "object version",
            ResourceKind::MultipartUpload => "multipart upload",
            ResourceKind::Instance => "instance",
            ResourceKind::Reservation => "reservation",
            ResourceKind::Volume => "volume",
            ResourceKind::Snapshot => "snapshot",
            ResourceKind::Image => "image",
            ResourceKind::Vpc => "VPC",
            ResourceKind::Subnet => "subnet",
            ResourceKind::InternetGateway => "internet gateway",
            ResourceKind::RouteTable => "route table",
            ResourceKind::RouteTableAssociation => "route table association",
            ResourceKind::Route => "route",
            ResourceKind::ElasticIp => "address",
            ResourceKind::AddressAssociation => "address association",
            ResourceKind::NetworkInterface => "network interface",
            ResourceKind::Tenant => "tenant",
            ResourceKind::User => "user",
            ResourceKind::AccessKey => "access key",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_look_like_aws_ids_and_parse_back() {
        let id = ResourceKind::SecurityGroup.new_id();
        assert!(id.starts_with("sg-"));
        assert_eq!(id.len(), 3 + 17);
        assert_eq!(ResourceKind::of_id(&id), Some(ResourceKind::SecurityGroup));
        assert_eq!(
            ResourceKind::of_id("key-0123456789abcdef0"),
            Some(ResourceKind::KeyPair)
        );
        assert_eq!(ResourceKind::of_id("sg-xyz"), None);
        assert_eq!(ResourceKind::of_id("vol-0123"), Some(ResourceKind::Volume));
        assert_eq!(ResourceKind::of_id("vol-xyz"), None);
        assert_eq!(
            ResourceKind::of_id("i-0123456789abcdef0"),
            Some(ResourceKind::Instance)
        );
    }

    #[test]
    fn well_formed_ids_have_the_prefix_and_8_or_17_hex_digits() {
        for kind in [
            ResourceKind::Instance,
            ResourceKind::Vpc,
            ResourceKind::Volume,
        ] {
            assert!(kind.is_well_formed(&kind.new_id()));
            assert!(kind.is_well_formed(&format!("{}-0123abcd", kind.prefix())));
            for bad in [
                "",
                "nope",
                "i-",
                "vpc-xyz",
                "vol-012",
                "sg-0123456789abcdef0",
            ] {
                assert!(!kind.is_well_formed(bad), "{kind}: {bad}");
            }
            assert!(matches!(
                kind.parse_id("x"),
                Err(crate::Error::MalformedId { kind: k, .. }) if k == kind
            ));
        }
        assert!(ResourceKind::Image.is_well_formed("ami-1"));
        assert!(ResourceKind::Image.is_well_formed("ami-1a2b3c"));
        assert!(!ResourceKind::Image.is_well_formed("ami-"));
        assert!(!ResourceKind::Image.is_well_formed("emi-12345678"));
        assert!(!ResourceKind::SecurityGroup.is_well_formed("sgr-0123456789abcdef0"));
    }
}
