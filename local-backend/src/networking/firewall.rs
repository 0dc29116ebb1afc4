//! Security groups on every host: one nftables table (family `ip`) whose
//! forward hook sees bridged IPv4 traffic (br_netfilter). For a bridged
//! packet that hook's input and output interface are both the bridge (not
//! its ports), so a packet is known by its bridge and addresses: the
//! sender's chain by `(input bridge, source)`, the receiver's by `(output
//! bridge, destination)`. A new flow must pass both, as on AWS: first the
//! sender's egress chain, which returns when a rule allows and drops
//! otherwise, then the receiver's ingress chain, which accepts when a rule
//! allows and drops otherwise. Routed traffic crosses a bridge on each side
//! of the VPC's router, so its sender is judged on the first and its
//! receiver on the second. Stateful: replies and related packets pass. Each
//! subnet's traffic is tracked in its own conntrack zone, so tenants using
//! the same addresses never share a connection entry. The table is replaced
//! whole, atomically, on every pass.

use std::fmt::Write;

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use cloud::network::router_address;
use cloud::network_plan::{Plan, PortPlan, RulePlan};

use super::names;

/// The site's table: named after its first segment id, so sites sharing a
/// machine keep apart.
pub fn table_name(first_segment: i64) -> String {
    format!("skyport_sg_{first_segment}")
}

/// The conntrack zone of a segment (zones are 16 bits).
fn zone(segment: u32) -> u32 {
    segment & 0xffff
}

/// `nft` match text for one rule; `direction` is `saddr` (ingress: where
/// traffic comes from) or `daddr` (egress: where it goes).
fn rule_match(rule: &RulePlan, direction: &str) -> String {
    let peers: Vec<String> = rule.peers.iter().map(|p| p.to_string()).collect();
    let mut text = format!("ip {direction} {{ {} }}", peers.join(", "));
    let ports = |from: Option<i32>, to: Option<i32>| match (from, to) {
        (Some(from), Some(to)) if from == to => format!(" {from}"),
        (Some(from), Some(to)) => format!(" {from}-{to}"),
        _ => String::new(),
    };
    match rule.protocol.as_str() {
        "-1" => {}
        "tcp" | "udp" => {
            let range = ports(rule.from_port, rule.to_port);
            if range.is_empty() {
                let _ = write!(text, " meta l4proto {}", rule.protocol);
            } else {
                let _ = write!(text, " {} dport{range}", rule.protocol);
            }
        }
        "icmp" => {
            let _ = write!(text, " meta l4proto icmp");
            if let Some(kind) = rule.from_port.filter(|t| *t >= 0) {
                let _ = write!(text, " icmp type {kind}");
                if let Some(code) = rule.to_port.filter(|c| *c >= 0) {
                    let _ = write!(text, " icmp code {code}");
                }
            }
        }
        number => {
            let _ = write!(text, " meta l4proto {number}");
        }
    }
    text
}

/// One port's chains. `router` is its subnet's router, which serves DHCP and
/// DNS whatever the groups say, as on AWS (and so does the metadata address).
fn port_chains(out: &mut String, index: usize, port: &PortPlan, router: Option<Ipv4Addr>) {
    let _ = writeln!(out, "  chain in_{index} {{");
    if let Some(router) = router {
        let _ = writeln!(
            out,
            "    ip saddr {router} udp sport 67 udp dport 68 accept"
        );
    }
    for rule in &port.ingress {
        let _ = writeln!(out, "    {} accept", rule_match(rule, "saddr"));
    }
    let _ = writeln!(out, "    drop\n  }}");
    if let Some(egress) = &port.egress {
        let _ = writeln!(out, "  chain out_{index} {{");
        // `return`: allowed out, and on to the receiver's ingress.
        if let Some(router) = router {
            let _ = writeln!(
                out,
                "    ip daddr {{ {router}, 255.255.255.255 }} udp dport 67 return"
            );
            let _ = writeln!(
                out,
                "    ip daddr {router} meta l4proto {{ tcp, udp }} th dport 53 return"
            );
        }
        let _ = writeln!(out, "    ip daddr 169.254.169.254 tcp dport 80 return");
        for rule in egress {
            let _ = writeln!(out, "    {} return", rule_match(rule, "daddr"));
        }
        let _ = writeln!(out, "    drop\n  }}");
    }
}

/// `vmap` lines sending `(interface, address)` pairs to chains; nothing when
/// there are none (nft refuses an empty map).
fn dispatch(out: &mut String, key: &str, entries: &[String]) {
    if !entries.is_empty() {
        let _ = writeln!(out, "    {key} vmap {{ {} }}", entries.join(", "));
    }
}

/// Drops new flows from (`saddr`) or to (`daddr`) an address of a subnet
/// that is no instance's and not its router's: a guest that takes an
/// address nobody was given would otherwise have no chain to pass. Only its
/// router stays reachable (DHCP, DNS, metadata), and broadcasts.
fn strangers(out: &mut String, plan: &Plan, interface: &str, direction: &str) {
    for subnet in plan.subnets() {
        let router = router_address(&subnet.cidr);
        let mut known: BTreeSet<Ipv4Addr> = plan
            .ports
            .iter()
            .filter(|port| port.segment == subnet.segment)
            .map(|port| port.ip)
            .collect();
        known.insert(router);
        let known: Vec<String> = known.iter().map(Ipv4Addr::to_string).collect();
        let (other, allowed) = if direction == "saddr" {
            (
                "daddr",
                format!("{router}, 169.254.169.254, 255.255.255.255"),
            )
        } else {
            ("saddr", router.to_string())
        };
        let _ = writeln!(
            out,
            "    {interface} \"{}\" ip {direction} {} ip {direction} != {{ {} }} ip {other} != {{ {allowed} }} drop",
            names::bridge(subnet.segment),
            subnet.cidr.trunc(),
            known.join(", "),
        );
    }
}

/// The ruleset text for `nft -f -`: creates the table if missing, then
/// replaces it in the same transaction.
pub fn ruleset(table: &str, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "add table ip {table}\ndelete table ip {table}\ntable ip {table} {{"
    );
    let _ = writeln!(
        out,
        "  chain zones {{\n    type filter hook prerouting priority raw; policy accept;"
    );
    for subnet in plan.subnets() {
        let _ = writeln!(
            out,
            "    iifname \"{}\" ct zone set {}",
            names::bridge(subnet.segment),
            zone(subnet.segment)
        );
    }
    let _ = writeln!(out, "  }}");
    let _ = writeln!(
        out,
        "  chain filtering {{\n    type filter hook forward priority filter; policy accept;"
    );
    let bridges: Vec<String> = plan
        .subnets()
        .map(|s| format!("\"{}\"", names::bridge(s.segment)))
        .collect();
    if !bridges.is_empty() {
        let _ = writeln!(
            out,
            "    iifname {{ {} }} ct state established,related accept",
            bridges.join(", ")
        );
    }
    // Senders first (their chains return or drop), then receivers.
    let key = |index: usize, port: &PortPlan, chain: &str| {
        format!(
            "\"{}\" . {} : jump {chain}_{index}",
            names::bridge(port.segment),
            port.ip
        )
    };
    let senders: Vec<String> = plan
        .ports
        .iter()
        .enumerate()
        .filter(|(_, port)| port.egress.is_some())
        .map(|(index, port)| key(index, port, "out"))
        .collect();
    dispatch(&mut out, "iifname . ip saddr", &senders);
    strangers(&mut out, plan, "iifname", "saddr");
    let receivers: Vec<String> = plan
        .ports
        .iter()
        .enumerate()
        .map(|(index, port)| key(index, port, "in"))
        .collect();
    dispatch(&mut out, "oifname . ip daddr", &receivers);
    strangers(&mut out, plan, "oifname", "daddr");
    let _ = writeln!(out, "  }}");
    let routers: HashMap<u32, Ipv4Addr> = plan
        .subnets()
        .map(|s| (s.segment, router_address(&s.cidr)))
        .collect();
    for (index, port) in plan.ports.iter().enumerate() {
        port_chains(&mut out, index, port, routers.get(&port.segment).copied());
    }
    let _ = writeln!(out, "}}");
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use cloud::network_plan::SubnetPlan;

    use super::*;

    fn rule(protocol: &str, from: Option<i32>, to: Option<i32>, peer: &str) -> RulePlan {
        RulePlan {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            peers: vec![peer.parse().unwrap()],
        }
    }

    #[test]
    fn rules_become_matches() {
        assert_eq!(
            rule_match(&rule("tcp", Some(22), Some(22), "0.0.0.0/0"), "saddr"),
            "ip saddr { 0.0.0.0/0 } tcp dport 22"
        );
        assert_eq!(
            rule_match(&rule("udp", Some(1000), Some(2000), "10.0.0.0/8"), "saddr"),
            "ip saddr { 10.0.0.0/8 } udp dport 1000-2000"
        );
        assert_eq!(
            rule_match(&rule("icmp", Some(8), Some(-1), "10.0.1.5/32"), "saddr"),
            "ip saddr { 10.0.1.5/32 } meta l4proto icmp icmp type 8"
        );
        assert_eq!(
            rule_match(&rule("-1", None, None, "10.0.1.5/32"), "daddr"),
            "ip daddr { 10.0.1.5/32 }"
        );
        assert_eq!(
            rule_match(&rule("47", None, None, "10.0.0.0/8"), "saddr"),
            "ip saddr { 10.0.0.0/8 } meta l4proto 47"
        );
    }

    #[test]
    fn ports_get_chains_and_subnets_zones() {
        let plan = Plan {
            vpcs: vec![cloud::network_plan::VpcPlan {
                id: "vpc-1".into(),
                subnets: vec![SubnetPlan {
                    id: "subnet-1".into(),
                    segment: 70_000,
                    cidr: "10.0.1.0/24".parse().unwrap(),
                    internet: false,
                    leases: Vec::new(),
                }],
                gateway: None,
                elastic: Vec::new(),
                dns: cloud::network_plan::DnsPlan::default(),
            }],
            ports: vec![
                PortPlan {
                    instance_id: "i-1".into(),
                    segment: 70_000,
                    ip: Ipv4Addr::new(10, 0, 1, 4),
                    ingress: vec![rule("tcp", Some(22), Some(22), "0.0.0.0/0")],
                    egress: Some(vec![rule("tcp", Some(22), Some(22), "0.0.0.0/0")]),
                },
                PortPlan {
                    instance_id: "i-2".into(),
                    segment: 70_000,
                    ip: Ipv4Addr::new(10, 0, 1, 5),
                    ingress: Vec::new(),
                    egress: None,
                },
            ],
            public_pool: None,
        };
        let text = ruleset("skyport_sg_1000", &plan);
        assert!(
            text.contains("iifname \"skb70000\" ct zone set 4464"),
            "{text}"
        );
        // Every sender's egress (where restricted) before any receiver's
        // ingress; addresses no instance has reach only their router.
        assert!(text.contains(
            "  chain filtering {\n\
             \x20   type filter hook forward priority filter; policy accept;\n\
             \x20   iifname { \"skb70000\" } ct state established,related accept\n\
             \x20   iifname . ip saddr vmap { \"skb70000\" . 10.0.1.4 : jump out_0 }\n\
             \x20   iifname \"skb70000\" ip saddr 10.0.1.0/24 ip saddr != { 10.0.1.1, 10.0.1.4, 10.0.1.5 } \
             ip daddr != { 10.0.1.1, 169.254.169.254, 255.255.255.255 } drop\n\
             \x20   oifname . ip daddr vmap { \"skb70000\" . 10.0.1.4 : jump in_0, \"skb70000\" . 10.0.1.5 : jump in_1 }\n\
             \x20   oifname \"skb70000\" ip daddr 10.0.1.0/24 ip daddr != { 10.0.1.1, 10.0.1.4, 10.0.1.5 } \
             ip saddr != { 10.0.1.1 } drop\n  }"
        ), "{text}");
        // Ingress accepts or drops; egress returns (on to the receiver) or drops.
        assert!(text.contains("  chain in_0 {\n    ip saddr 10.0.1.1 udp sport 67 udp dport 68 accept\n    ip saddr { 0.0.0.0/0 } tcp dport 22 accept\n    drop\n  }"), "{text}");
        assert!(text.contains("    ip saddr { 0.0.0.0/0 } tcp dport 22 accept\n    drop\n  }"));
        assert!(text.contains("  chain out_0 {\n    ip daddr { 10.0.1.1, 255.255.255.255 } udp dport 67 return\n    ip daddr 10.0.1.1 meta l4proto { tcp, udp } th dport 53 return\n    ip daddr 169.254.169.254 tcp dport 80 return\n    ip daddr { 0.0.0.0/0 } tcp dport 22 return\n    drop\n  }"), "{text}");
        assert!(!text.contains("out_1"));
    }

    #[test]
    fn no_ports_no_maps() {
        let text = ruleset("skyport_sg_1000", &Plan::default());
        assert!(!text.contains("vmap"), "{text}");
    }
}
