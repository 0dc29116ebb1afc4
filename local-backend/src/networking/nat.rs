//! The nftables table of a VPC's router namespace: forwarding between the
//! VPC's subnets, SNAT to the router's public address for subnets routed to
//! the internet gateway, and 1:1 NAT for elastic IPs. The namespace is the
//! VPC's own, so this table is the only ruleset there; it is replaced whole,
//! atomically, on every pass.

use std::fmt::Write;

use super::names;
use cloud::network_plan::VpcPlan;

/// The table's name (family `ip`).
pub const TABLE: &str = "skyport";

/// The ruleset text for `nft -f -`: creates the table if missing, then
/// replaces it in the same transaction.
pub fn ruleset(vpc: &VpcPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "add table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{"
    );
    // Elastic IPs only work from subnets routed to the internet gateway.
    let elastic: Vec<_> = vpc
        .elastic
        .iter()
        .filter(|m| {
            vpc.gateway.is_some()
                && vpc
                    .subnets
                    .iter()
                    .any(|s| s.internet && s.cidr.contains(&m.private))
        })
        .collect();
    let _ = writeln!(
        out,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;"
    );
    for mapping in &elastic {
        let _ = writeln!(
            out,
            "    iifname \"{}\" ip daddr {} dnat to {}",
            names::EXTERNAL_PORT,
            mapping.public,
            mapping.private
        );
    }
    let _ = writeln!(out, "  }}");
    let _ = writeln!(
        out,
        "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;"
    );
    if let Some(gateway) = vpc.gateway {
        for mapping in &elastic {
            let _ = writeln!(
                out,
                "    oifname \"{}\" ip saddr {} snat to {}",
                names::EXTERNAL_PORT,
                mapping.private,
                mapping.public
            );
        }
        for subnet in vpc.subnets.iter().filter(|s| s.internet) {
            let _ = writeln!(
                out,
                "    oifname \"{}\" ip saddr {} snat to {gateway}",
                names::EXTERNAL_PORT,
                subnet.cidr
            );
        }
    }
    let _ = writeln!(out, "  }}");
    let _ = writeln!(
        out,
        "  chain forward {{\n    type filter hook forward priority filter; policy drop;\n    ct state established,related accept"
    );
    let ports: Vec<String> = vpc
        .subnets
        .iter()
        .map(|s| format!("\"{}\"", names::router_port(s.segment)))
        .collect();
    if !ports.is_empty() {
        let set = ports.join(", ");
        let _ = writeln!(out, "    iifname {{ {set} }} oifname {{ {set} }} accept");
    }
    if vpc.gateway.is_some() {
        for subnet in vpc.subnets.iter().filter(|s| s.internet) {
            let _ = writeln!(
                out,
                "    iifname \"{}\" ip saddr {} oifname \"{}\" accept",
                names::router_port(subnet.segment),
                subnet.cidr,
                names::EXTERNAL_PORT
            );
        }
        for mapping in &elastic {
            let _ = writeln!(
                out,
                "    iifname \"{}\" ip daddr {} ct status dnat accept",
                names::EXTERNAL_PORT,
                mapping.private
            );
        }
    }
    let _ = writeln!(out, "  }}\n}}");
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use cloud::network_plan::{ElasticMapping, SubnetPlan};

    fn subnet(segment: u32, cidr: &str, internet: bool) -> SubnetPlan {
        SubnetPlan {
            id: format!("subnet-{segment}"),
            segment,
            cidr: cidr.parse().unwrap(),
            internet,
            leases: Vec::new(),
        }
    }

    #[test]
    fn elastic_ips_and_snat_only_for_subnets_routed_out() {
        let vpc = VpcPlan {
            id: "vpc-1".into(),
            subnets: vec![
                subnet(1001, "10.0.1.0/24", true),
                subnet(1002, "10.0.2.0/24", false),
            ],
            gateway: Some(Ipv4Addr::new(203, 0, 113, 2)),
            elastic: vec![
                ElasticMapping {
                    public: Ipv4Addr::new(203, 0, 113, 3),
                    private: Ipv4Addr::new(10, 0, 1, 4),
                },
                ElasticMapping {
                    public: Ipv4Addr::new(203, 0, 113, 4),
                    private: Ipv4Addr::new(10, 0, 2, 4),
                },
            ],
            dns: cloud::network_plan::DnsPlan::default(),
        };
        let text = ruleset(&vpc);
        assert!(text.contains("ip daddr 203.0.113.3 dnat to 10.0.1.4"));
        assert!(text.contains("ip saddr 10.0.1.4 snat to 203.0.113.3"));
        assert!(text.contains("ip saddr 10.0.1.0/24 snat to 203.0.113.2"));
        // The second subnet has no route out: neither its EIP nor SNAT exists.
        assert!(!text.contains("203.0.113.4"));
        assert!(!text.contains("10.0.2.0/24 snat"));
        assert!(text.contains(
            "iifname { \"sn1001\", \"sn1002\" } oifname { \"sn1001\", \"sn1002\" } accept"
        ));
        assert!(text.starts_with("add table ip skyport\ndelete table ip skyport\n"));
    }

    #[test]
    fn without_a_gateway_nothing_leaves() {
        let vpc = VpcPlan {
            id: "vpc-2".into(),
            subnets: vec![subnet(1003, "10.1.0.0/24", true)],
            gateway: None,
            elastic: Vec::new(),
            dns: cloud::network_plan::DnsPlan::default(),
        };
        let text = ruleset(&vpc);
        assert!(!text.contains("snat"));
        assert!(!text.contains("qg0"));
    }
}
