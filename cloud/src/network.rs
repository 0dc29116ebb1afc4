//! Tenant networks in the EC2-VPC model: VPCs, subnets, internet gateways,
//! route tables and elastic addresses, plus the IPv4 block arithmetic they share.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::ids::ResourceKind;
use crate::types::Tag;

/// A VPC: one tenant's private address space.
#[derive(Debug, Clone)]
pub struct Vpc {
    pub id: String,
    pub cidr: String,
    pub is_default: bool,
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

/// A subnet: one L2 domain (one VLAN id or VNI, its `segment`) inside a VPC.
#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
    pub cidr: String,
    pub availability_zone: String,
    pub is_default: bool,
    pub map_public_ip_on_launch: bool,
    /// Addresses left for instances (AWS keeps five per subnet back).
    pub available_ips: u32,
    pub segment: i64,
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

/// An internet gateway, attached to at most one VPC.
#[derive(Debug, Clone)]
pub struct InternetGateway {
    pub id: String,
    pub vpc_id: Option<String>,
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

/// One route: traffic to `destination` goes to `gateway_id` (`local` = within the VPC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: String,
    pub gateway_id: String,
}

/// A subnet explicitly associated with a route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTableAssociation {
    pub id: String,
    pub subnet_id: String,
}

/// A route table; the VPC's main table serves every subnet not associated elsewhere.
#[derive(Debug, Clone)]
pub struct RouteTable {
    pub id: String,
    pub vpc_id: String,
    pub main: bool,
    pub routes: Vec<Route>,
    pub associations: Vec<RouteTableAssociation>,
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

impl RouteTable {
    /// The main table's implicit association, with an ID derived from the
    /// table's: it moves (and so changes) when another table becomes main.
    pub fn main_association_id(&self) -> Option<String> {
        self.main
            .then(|| format!("rtbassoc-{}", self.id.trim_start_matches("rtb-")))
    }
}

/// An elastic IP address from the site's public pool.
#[derive(Debug, Clone)]
pub struct Address {
    pub allocation_id: String,
    pub public_ip: String,
    pub association_id: Option<String>,
    pub instance_id: Option<String>,
    pub private_ip: Option<String>,
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

/// An instance's (primary) interface on a tenant subnet.
#[derive(Debug, Clone)]
pub struct NetworkInterface {
    pub id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub mac: String,
    pub private_ip: String,
    pub private_dns: String,
    pub instance_id: String,
    /// Its security groups, as (ID, name).
    pub groups: Vec<(String, String)>,
    /// The elastic IP mapped to it: (public address, allocation ID, association ID).
    pub elastic: Option<(String, String, String)>,
    pub launched_at: i64,
    pub owner_id: String,
    pub tags: Vec<Tag>,
}

/// Parses an IPv4 block in canonical form (`10.0.0.0/16`, not `10.0.0.1/16`)
/// with a prefix between `shortest` and `longest` (AWS: /16 to /28) for a
/// resource of `kind`; `parameter` names the request field in errors.
pub fn parse_block(
    kind: ResourceKind,
    parameter: &str,
    text: &str,
    shortest: u8,
    longest: u8,
) -> Result<Ipv4Net> {
    let net: Ipv4Net = text.parse().map_err(|_| {
        Error::invalid(
            parameter,
            format!("Value ({text}) for parameter {parameter} is invalid. This is not a valid CIDR block."),
        )
    })?;
    if net.network() != net.addr() {
        return Err(Error::invalid(
            parameter,
            format!("Value ({text}) for parameter {parameter} is invalid. This is not a valid CIDR block."),
        ));
    }
    if !(shortest..=longest).contains(&net.prefix_len()) {
        return Err(Error::BadBlock {
            kind,
            block: text.to_string(),
        });
    }
    Ok(net)
}

/// Whether two blocks share any address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The addresses AWS reserves in every subnet: network, router (+1), DNS (+2),
/// future use (+3) and broadcast.
pub const RESERVED_PER_SUBNET: u32 = 5;

/// The subnet's router address (its first host), which the gateway side of
/// the segment takes.
pub fn router_address(net: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

/// Addresses instances may take: from network+4 to broadcast-1.
pub fn instance_addresses(net: &Ipv4Net) -> impl Iterator<Item = Ipv4Addr> {
    let first = u32::from(net.network()) + 4;
    let last = u32::from(net.broadcast()).saturating_sub(1);
    (first..=last).map(Ipv4Addr::from)
}

/// How many addresses a subnet offers instances.
pub fn usable_count(net: &Ipv4Net) -> u32 {
    let size = 1u64 << (32 - net.prefix_len());
    (size.saturating_sub(RESERVED_PER_SUBNET as u64)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_must_be_canonical_and_sized() {
        assert!(parse_block(ResourceKind::Vpc, "CidrBlock", "10.0.0.0/16", 16, 28).is_ok());
        assert!(matches!(
            parse_block(ResourceKind::Vpc, "CidrBlock", "10.0.0.1/16", 16, 28),
            Err(Error::InvalidParameter { .. })
        ));
        assert!(matches!(
            parse_block(ResourceKind::Vpc, "CidrBlock", "10.0.0.0/8", 16, 28),
            Err(Error::BadBlock { .. })
        ));
        assert!(parse_block(ResourceKind::Vpc, "CidrBlock", "banana", 16, 28).is_err());
    }

    #[test]
    fn overlap_and_usable_addresses() {
        let vpc: Ipv4Net = "10.0.0.0/16".parse().unwrap();
        let a: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        let b: Ipv4Net = "10.0.1.128/25".parse().unwrap();
        let c: Ipv4Net = "10.0.2.0/24".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a) && overlaps(&vpc, &c));
        assert!(!overlaps(&a, &c));
        assert_eq!(usable_count(&a), 251);
        assert_eq!(instance_addresses(&a).count(), 251);
        assert_eq!(
            instance_addresses(&a).next(),
            Some(Ipv4Addr::new(10, 0, 1, 4))
        );
        assert_eq!(router_address(&a), Ipv4Addr::new(10, 0, 1, 1));
    }
}
