//! Tenant networks' data plane as it should be: computed from the records by
//! the account layer, made real on the hosts by the local backend's fabric.

use std::net::Ipv4Addr;

use async_trait::async_trait;
use ipnet::Ipv4Net;

use crate::error::Result;

/// A fixed DHCP lease: the address DescribeInstances reports for this MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub mac: String,
    pub ip: Ipv4Addr,
    pub hostname: String,
}

/// One subnet: its own L2 segment, its router port and DHCP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetPlan {
    pub id: String,
    pub segment: u32,
    pub cidr: Ipv4Net,
    /// Whether its route table sends 0.0.0.0/0 to the VPC's attached gateway.
    pub internet: bool,
    pub leases: Vec<Lease>,
}

/// An elastic IP mapped 1:1 to an instance's private address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElasticMapping {
    pub public: Ipv4Addr,
    pub private: Ipv4Addr,
}

/// One VPC: a router namespace joining its subnets, and its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcPlan {
    pub id: String,
    pub subnets: Vec<SubnetPlan>,
    /// The router's own public address, when an internet gateway is attached
    /// and the site has a public pool: outbound traffic leaves as this.
    pub gateway: Option<Ipv4Addr>,
    pub elastic: Vec<ElasticMapping>,
    /// What its DHCP and DNS give instances (the VPC's DNS attributes).
    pub dns: DnsPlan,
}

/// A VPC's DNS, as its `enableDnsSupport` and `enableDnsHostnames` attributes ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsPlan {
    /// enableDnsSupport: each subnet's router answers DNS for the instances'
    /// names (`ip-10-0-1-5.ec2.internal`) and DHCP names it as the resolver.
    pub resolver: bool,
    /// enableDnsHostnames: DHCP gives each instance its hostname and the domain.
    pub hostnames: bool,
    /// The private domain: `ec2.internal` in us-east-1, else `REGION.compute.internal`.
    pub domain: String,
}

impl DnsPlan {
    /// The private domain of a region, as AWS names it.
    pub fn domain_of(region: &str) -> String {
        if region == "us-east-1" {
            "ec2.internal".into()
        } else {
            format!("{region}.compute.internal")
        }
    }
}

impl Default for DnsPlan {
    /// A new VPC's on AWS: DNS served, no hostnames.
    fn default() -> DnsPlan {
        DnsPlan {
            resolver: true,
            hostnames: false,
            domain: DnsPlan::domain_of("us-east-1"),
        }
    }
}

/// What one security group rule lets through, with group peers resolved to
/// their members' addresses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RulePlan {
    /// `tcp`, `udp`, `icmp`, `-1` (all) or a protocol number.
    pub protocol: String,
    /// Ports for tcp/udp; ICMP type and code for icmp (-1 = any).
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// Where traffic may come from (ingress) or go to (egress).
    pub peers: Vec<Ipv4Net>,
}

/// An instance's interface and the rules of its security groups: stateful,
/// everything else in is dropped, and out when `egress` is `Some`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    pub instance_id: String,
    pub segment: u32,
    pub ip: Ipv4Addr,
    pub ingress: Vec<RulePlan>,
    /// `None`: all outbound traffic allowed (a rule for all protocols to 0.0.0.0/0).
    pub egress: Option<Vec<RulePlan>>,
}

/// The whole site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub vpcs: Vec<VpcPlan>,
    /// Every instance on a tenant subnet, with its security groups' rules.
    pub ports: Vec<PortPlan>,
    /// The public pool: the network node's public bridge takes its first host.
    pub public_pool: Option<Ipv4Net>,
}

impl Plan {
    /// Every subnet of every VPC.
    pub fn subnets(&self) -> impl Iterator<Item = &SubnetPlan> {
        self.vpcs.iter().flat_map(|vpc| vpc.subnets.iter())
    }
}

/// Whatever makes the hosts match a plan (the local backend's fabric).
#[async_trait]
pub trait DataPlane: Send + Sync {
    /// Converges every host on `plan`; idempotent.
    async fn apply(&self, plan: &Plan) -> Result<()>;
}
