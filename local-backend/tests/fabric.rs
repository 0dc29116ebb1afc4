//! Both segment drivers for real, on namespaces this test creates: two
//! "hosts" joined by a veth fabric (VXLAN between their addresses, or a VLAN
//! trunk between their Open vSwitch bridges), an "internet" namespace on an
//! uplink of the site's edge (where the public pool lives, never on a host),
//! and guest stand-ins (namespaces on the subnet bridges) that get their
//! address from the subnet's dnsmasq with busybox's udhcpc. Two tenants use
//! the very same block. Proves same-tenant reachability across hosts,
//! isolation between tenants, DHCP addresses equal to the plan's, the VPCs'
//! DNS attributes (resolver, hostnames and domain, or no DNS at all), SNAT and
//! elastic IPs from and to the internet, idempotent passes and clean removal.
//! Needs root with ip, bridge, nft, dnsmasq, busybox and a running Open
//! vSwitch (scripts/setup.sh installs and starts them).

mod common;

use std::net::Ipv4Addr;

use cloud::network_plan::{
    DnsPlan, ElasticMapping, Lease, Plan, PortPlan, RulePlan, SubnetPlan, VpcPlan,
};
use common::{in_ns, ns_ok, ok, pings, sh, tcp, Guest, Server};
use local_backend::networking::{names, Fabric, NetworkConfig, SegmentDriver};

const HOST_A: &str = "sktest-hosta";
const HOST_B: &str = "sktest-hostb";
const INTERNET: &str = "sktest-inet";
const VPC_1: &str = "vpc-00000000000fab001";
const VPC_2: &str = "vpc-00000000000fab002";
/// The first id of this test site's segment range: its identity on the machine.
const SITE: i64 = 3000;

/// Removes everything the test made, also when it fails half-way.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup();
    }
}

/// The VLAN trunk between the two hosts' Open vSwitch bridges (OVS lives in
/// the machine's root namespace).
const TRUNK_A: &str = "sktesttrunka";
const TRUNK_B: &str = "sktesttrunkb";

fn cleanup() {
    common::clean_hosts(SITE, TRUNK_A, "300", |name| {
        name.starts_with("sktest-")
            || name == format!("skyport-{VPC_1}")
            || name == format!("skyport-{VPC_2}")
            || name == names::edge_ns(SITE)
    });
}

/// The public bridge's name, in the site's edge now and in the network
/// node before.
const OLD_PUBLIC_BRIDGE: &str = "skpub3000";

/// The internet beside the site's edge, where the operator plugs an uplink.
fn connect_internet() {
    let edge = names::edge_ns(SITE);
    let edge = edge.as_str();
    ok(&["ip", "netns", "add", INTERNET]);
    ns_ok(INTERNET, &["ip", "link", "set", "lo", "up"]);
    ok(&[
        "ip", "-n", edge, "link", "add", "up0", "type", "veth", "peer", "name", "up0", "netns",
        INTERNET,
    ]);
    ok(&[
        "ip",
        "-n",
        edge,
        "addr",
        "add",
        "198.18.0.1/30",
        "dev",
        "up0",
    ]);
    ok(&[
        "ip",
        "-n",
        INTERNET,
        "addr",
        "add",
        "198.18.0.2/30",
        "dev",
        "up0",
    ]);
    ok(&["ip", "-n", edge, "link", "set", "up0", "up"]);
    ok(&["ip", "-n", INTERNET, "link", "set", "up0", "up"]);
    ok(&[
        "ip",
        "-n",
        INTERNET,
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "198.18.0.1",
    ]);
}

/// docs/networking.md's masquerade block, run for this test's edge and uplink.
fn masquerade_as_documented() {
    let docs = include_str!("../../docs/networking.md");
    let block = docs
        .split("<!-- masquerade-example -->")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("the masquerade example in docs/networking.md");
    let block = block
        .replace("skyport-edge1000", &names::edge_ns(SITE))
        .replace("\"upl0\"", "\"up0\"");
    ok(&["bash", "-euxc", &block]);
}

const GUESTS: [Guest; 4] = [
    // Tenant 1, one guest on each host.
    Guest {
        ns: "sktest-g1",
        host: HOST_A,
        segment: 3001,
        mac: "02:00:0a:14:01:05",
        ip: Ipv4Addr::new(10, 20, 1, 5),
    },
    Guest {
        ns: "sktest-g2",
        host: HOST_B,
        segment: 3001,
        mac: "02:00:0a:14:01:06",
        ip: Ipv4Addr::new(10, 20, 1, 6),
    },
    // Tenant 2: the same block, its own addresses.
    Guest {
        ns: "sktest-g3",
        host: HOST_A,
        segment: 3002,
        mac: "02:00:0a:14:01:07",
        ip: Ipv4Addr::new(10, 20, 1, 7),
    },
    Guest {
        ns: "sktest-g4",
        host: HOST_B,
        segment: 3002,
        mac: "02:00:0a:14:01:08",
        ip: Ipv4Addr::new(10, 20, 1, 8),
    },
];

fn lease(guest: &Guest) -> Lease {
    Lease {
        mac: guest.mac.into(),
        ip: guest.ip,
        hostname: format!("ip-{}", guest.ip.to_string().replace('.', "-")),
    }
}

/// A rule for `protocol` (and port) from `peers`.
fn allow(protocol: &str, port: Option<i32>, peers: &[&str]) -> RulePlan {
    RulePlan {
        protocol: protocol.into(),
        from_port: port,
        to_port: port,
        peers: peers.iter().map(|p| p.parse().unwrap()).collect(),
    }
}

/// Each tenant's guests form one group that lets its members in; g1 also
/// takes TCP 2222 from anywhere, and TCP 22 when `open_ssh`.
fn ports(with_second_vpc: bool, open_ssh: bool) -> Vec<PortPlan> {
    let tenants: &[&[usize]] = if with_second_vpc {
        &[&[0, 1], &[2, 3]]
    } else {
        &[&[0, 1]]
    };
    let mut ports = Vec::new();
    for members in tenants {
        let peers: Vec<String> = members
            .iter()
            .map(|&i| format!("{}/32", GUESTS[i].ip))
            .collect();
        let peers: Vec<&str> = peers.iter().map(String::as_str).collect();
        for &i in *members {
            let mut ingress = vec![allow("-1", None, &peers)];
            if i == 0 {
                ingress.push(allow("tcp", Some(2222), &["0.0.0.0/0"]));
                if open_ssh {
                    ingress.push(allow("tcp", Some(22), &["0.0.0.0/0"]));
                }
            }
            ports.push(PortPlan {
                instance_id: GUESTS[i].ns.into(),
                segment: GUESTS[i].segment,
                ip: GUESTS[i].ip,
                ingress,
                egress: None,
            });
        }
    }
    ports
}

fn plan(with_second_vpc: bool) -> Plan {
    plan_with(with_second_vpc, false)
}

fn plan_with(with_second_vpc: bool, open_ssh: bool) -> Plan {
    let mut vpcs = vec![VpcPlan {
        id: VPC_1.into(),
        subnets: vec![SubnetPlan {
            id: "subnet-1".into(),
            segment: 3001,
            cidr: "10.20.1.0/24".parse().unwrap(),
            internet: true,
            leases: GUESTS[..2].iter().map(lease).collect(),
        }],
        gateway: Some(Ipv4Addr::new(203, 0, 113, 2)),
        elastic: vec![ElasticMapping {
            public: Ipv4Addr::new(203, 0, 113, 10),
            private: GUESTS[0].ip,
        }],
        dns: DnsPlan {
            resolver: true,
            hostnames: true,
            domain: "ec2.internal".into(),
        },
    }];
    if with_second_vpc {
        vpcs.push(VpcPlan {
            id: VPC_2.into(),
            subnets: vec![SubnetPlan {
                id: "subnet-2".into(),
                segment: 3002,
                cidr: "10.20.1.0/24".parse().unwrap(),
                internet: false,
                leases: GUESTS[2..].iter().map(lease).collect(),
            }],
            gateway: None,
            elastic: Vec::new(),
            dns: DnsPlan {
                resolver: false,
                hostnames: false,
                domain: "ec2.internal".into(),
            },
        });
    }
    Plan {
        vpcs,
        ports: ports(with_second_vpc, open_ssh),
        public_pool: Some("203.0.113.0/24".parse().unwrap()),
    }
}

/// Asks the subnet's router (DNS) for `name` from inside `ns`.
fn resolve(ns: &str, name: &str) -> Option<String> {
    let out = in_ns(
        ns,
        &["timeout", "4", "busybox", "nslookup", name, "10.20.1.1"],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let answer = text.split(name).nth(1)?.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Address:")
            .map(|a| a.trim().to_string())
    });
    out.status.success().then_some(answer).flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_drivers_isolate_tenants_and_reach_the_internet() {
    // One after the other: both use the same namespaces and addresses.
    prove(SegmentDriver::Vxlan).await;
    prove(SegmentDriver::Vlan).await;
}

async fn prove(driver: SegmentDriver) {
    cleanup();
    let _cleanup = Cleanup;
    // Two hosts on a fabric, and the internet beside host A (the network node).
    let hosts = common::two_hosts(driver, (HOST_A, HOST_B), "10.250.0", (TRUNK_A, TRUNK_B));
    // What an earlier version left: the public bridge in the network
    // node's own namespace, holding the pool's first address.
    ns_ok(
        HOST_A,
        &["ip", "link", "add", OLD_PUBLIC_BRIDGE, "type", "bridge"],
    );
    ns_ok(
        HOST_A,
        &[
            "ip",
            "addr",
            "add",
            "203.0.113.1/24",
            "dev",
            OLD_PUBLIC_BRIDGE,
        ],
    );

    let state = tempfile::tempdir().unwrap();
    let vlan = driver == SegmentDriver::Vlan;
    let config = NetworkConfig {
        driver,
        segment_range: [SITE, 3099],
        public_pool: "203.0.113.0/24".into(),
        hosts,
        ..NetworkConfig::default()
    };
    let fabric = Fabric::open(&config, state.path().join("dhcp"))
        .await
        .unwrap();
    fabric.apply(&plan(true)).await.unwrap();
    // The pool lives in the site's edge and the routers only: the network
    // node itself holds no address and no route of it.
    for host in [HOST_A, HOST_B] {
        let routes = ns_ok(host, &["ip", "-4", "route"]) + &ns_ok(host, &["ip", "-4", "addr"]);
        assert!(!routes.contains("203.0.113."), "{host}: {routes}");
        assert!(!ns_ok(host, &["ip", "-br", "link"]).contains(OLD_PUBLIC_BRIDGE));
    }
    connect_internet();

    for guest in &GUESTS {
        guest.plug(&format!("gp{}", &guest.ns[guest.ns.len() - 1..]));
    }
    // DHCP hands each guest the address of the plan, and its subnet's router.
    for guest in &GUESTS {
        let offer = common::dhcp(guest.ns, state.path());
        assert_eq!(offer.address, guest.ip.to_string(), "{}", guest.ns);
        assert_eq!(offer.router, "10.20.1.1");
        if guest.segment == 3001 {
            // VPC 1 has DNS support and hostnames (the default VPC's settings).
            let name = format!("ip-{}", guest.ip.to_string().replace('.', "-"));
            assert_eq!(offer.hostname, name, "{}", guest.ns);
            assert_eq!(offer.domain, "ec2.internal");
            assert_eq!(offer.dns, "10.20.1.1");
        } else {
            // VPC 2 has DNS support off: no resolver, no names.
            assert_eq!(
                (
                    offer.hostname.as_str(),
                    offer.domain.as_str(),
                    offer.dns.as_str()
                ),
                ("", "", ""),
                "{}",
                guest.ns
            );
        }
    }
    // The router resolves VPC 1's names; VPC 2's router answers no DNS.
    assert_eq!(
        resolve("sktest-g1", "ip-10-20-1-6.ec2.internal").as_deref(),
        Some("10.20.1.6")
    );
    assert_eq!(resolve("sktest-g3", "ip-10-20-1-8.ec2.internal"), None);
    // Turning VPC 2's DNS support on restarts its dnsmasq with a resolver
    // that knows its own names only.
    let mut with_dns = plan(true);
    with_dns.vpcs[1].dns.resolver = true;
    fabric.apply(&with_dns).await.unwrap();
    assert_eq!(
        resolve("sktest-g3", "ip-10-20-1-8.ec2.internal").as_deref(),
        Some("10.20.1.8")
    );
    assert_eq!(resolve("sktest-g3", "ip-10-20-1-6.ec2.internal"), None);
    assert!(
        common::dhcp(GUESTS[2].ns, state.path()).hostname.is_empty(),
        "no hostnames in VPC 2"
    );
    fabric.apply(&plan(true)).await.unwrap();

    // Same tenant, across hosts (VXLAN), both ways; and the router.
    assert!(pings("sktest-g1", "10.20.1.6"));
    assert!(pings("sktest-g2", "10.20.1.5"));
    assert!(pings("sktest-g4", "10.20.1.7"));
    assert!(pings("sktest-g1", "10.20.1.1"));
    let server = Server::start("sktest-g2", 5555);
    assert_eq!(
        tcp("sktest-g1", "10.20.1.6", 5555).as_deref(),
        Some("10.20.1.5")
    );
    // Across tenants: nothing, ICMP or TCP, on the same host or another.
    assert!(!pings("sktest-g1", "10.20.1.7"));
    assert!(!pings("sktest-g1", "10.20.1.8"));
    assert!(!pings("sktest-g3", "10.20.1.6"));
    assert_eq!(tcp("sktest-g4", "10.20.1.6", 5555), None);
    drop(server);

    // Out to the internet: g1 leaves as its elastic IP, g2 as the router.
    let internet = Server::start(INTERNET, 8080);
    assert_eq!(
        tcp("sktest-g1", "198.18.0.2", 8080).as_deref(),
        Some("203.0.113.10")
    );
    assert_eq!(
        tcp("sktest-g2", "198.18.0.2", 8080).as_deref(),
        Some("203.0.113.2")
    );
    // Tenant 2 has no internet gateway: it does not get out.
    assert_eq!(tcp("sktest-g3", "198.18.0.2", 8080), None);
    drop(internet);
    // In from the internet, to the elastic IP only.
    let inside = Server::start("sktest-g1", 2222);
    assert_eq!(
        tcp(INTERNET, "203.0.113.10", 2222).as_deref(),
        Some("198.18.0.2")
    );
    drop(inside);

    // Another pass changes nothing: no duplicate rules, FDB entries or ports.
    let snapshot = |ns: &str| {
        (
            ns_ok(ns, &["nft", "list", "ruleset"]),
            ns_ok(ns, &["ip", "-br", "addr"]),
        )
    };
    let router_1 = format!("skyport-{VPC_1}");
    // What joins the hosts: the FDB of the VXLAN device, or OVS's ports.
    let joins = || {
        if vlan {
            ok(&["ovs-vsctl", "list-ports", &names::ovs_bridge(SITE, 0)])
        } else {
            ns_ok(HOST_A, &["bridge", "fdb", "show", "dev", "skv3001"])
        }
    };
    let before = (snapshot(&router_1), snapshot(HOST_B), joins());
    fabric.apply(&plan(true)).await.unwrap();
    let after = (snapshot(&router_1), snapshot(HOST_B), joins());
    assert_eq!(before, after);
    if vlan {
        // Access ports tagged with the segment, a trunk to the other host, and
        // frames really leaving tagged.
        assert_eq!(
            after.2.lines().collect::<Vec<_>>(),
            ["sk0v3001", "sk0v3002", TRUNK_A]
        );
        assert_eq!(
            ok(&["ovs-vsctl", "get", "port", "sk1v3002", "tag"]).trim(),
            "3002"
        );
        let flows = ok(&["ovs-appctl", "dpctl/dump-flows"]);
        assert!(flows.contains("push_vlan(vid=3001"), "{flows}");
    } else {
        assert_eq!(after.2.matches("dst 10.250.0.2").count(), 1, "{}", after.2);
    }

    // Without a route upstream, the documented masquerade in the edge: the
    // internet sees the edge's uplink address, elastic IPs included, and
    // cannot reach an elastic IP.
    ns_ok(INTERNET, &["ip", "route", "del", "203.0.113.0/24"]);
    masquerade_as_documented();
    let internet = Server::start(INTERNET, 8080);
    for guest in ["sktest-g1", "sktest-g2"] {
        assert_eq!(
            tcp(guest, "198.18.0.2", 8080).as_deref(),
            Some("198.18.0.1"),
            "{guest}"
        );
    }
    drop(internet);
    let inside = Server::start("sktest-g1", 2222);
    assert_eq!(tcp(INTERNET, "203.0.113.10", 2222), None);
    drop(inside);
    ns_ok(
        &names::edge_ns(SITE),
        &["nft", "delete", "table", "ip", "pool_out"],
    );
    ns_ok(
        INTERNET,
        &["ip", "route", "add", "203.0.113.0/24", "via", "198.18.0.1"],
    );

    // The admin's view names the plumbing.
    let shown = fabric.show(&plan(true), VPC_1).await.unwrap();
    assert!(
        shown.contains("skb3001 present") && shown.contains("10.20.1.5"),
        "{shown}"
    );

    // Dropping the second VPC removes its router, DHCP and segments everywhere.
    fabric.apply(&plan(false)).await.unwrap();
    let namespaces = ok(&["ip", "netns", "list"]);
    assert!(
        !namespaces.contains(&format!("skyport-{VPC_2}")),
        "{namespaces}"
    );
    for host in [HOST_A, HOST_B] {
        let links = ns_ok(host, &["ip", "-br", "link"]);
        assert!(
            !links.contains("skb3002") && !links.contains("skv3002"),
            "{links}"
        );
        assert!(links.contains("skb3001"), "{links}");
    }
    if vlan {
        let ports = ok(&["ovs-vsctl", "list-ports", &names::ovs_bridge(SITE, 1)]);
        assert!(
            !ports.contains("sk1v3002") && ports.contains("sk1v3001"),
            "{ports}"
        );
    }
    assert!(pings("sktest-g1", "10.20.1.6"));

    // A teardown takes the rest away: nothing of the site's on any host.
    drop(fabric);
    let removed = local_backend::networking::teardown(&config, &state.path().join("dhcp"))
        .await
        .unwrap();
    assert!(
        removed
            .iter()
            .any(|line| line.contains(&names::edge_ns(SITE))),
        "{removed:?}"
    );
    assert!(!common::namespaces().contains(&names::edge_ns(SITE)));
    for host in [HOST_A, HOST_B] {
        let links = ns_ok(host, &["ip", "-br", "link"]);
        // The guests' own ports (gp*) are the test's.
        assert!(!links.lines().any(|l| l.starts_with("sk")), "{links}");
        let tables = ns_ok(host, &["nft", "list", "tables"]);
        assert!(!tables.contains("skyport"), "{tables}");
    }
    assert!(!common::namespaces()
        .iter()
        .any(|ns| ns.starts_with("skyport-vpc-00000000000fab")));
    let bridges = ok(&["ovs-vsctl", "list-br"]);
    assert!(
        !bridges.contains(&names::ovs_bridge(SITE, 0))
            && !bridges.contains(&names::ovs_bridge(SITE, 1)),
        "{bridges}"
    );
    let root = ok(&["ip", "-br", "link"]);
    assert!(
        !root.contains("sk0v30") && !root.contains("sk1v30"),
        "{root}"
    );
    let dhcp = sh(&["pgrep", "-f", &state.path().display().to_string()]);
    assert!(!dhcp.status.success(), "DHCP servers still run");
}
