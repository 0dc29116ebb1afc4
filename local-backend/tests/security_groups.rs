//! Security groups on the data plane, for real, with both segment drivers:
//! four guest stand-ins on two "hosts" (namespaces), three on one subnet (two
//! of them on the same host) and one on a second subnet of the same VPC, so
//! every ordered pair is one of same-subnet on one host, same-subnet across
//! hosts, or routed between subnets through the VPC's router. For each rule
//! set, every pair is probed in both directions (TCP 22 and 80, ICMP, UDP
//! 53) and must pass exactly when the sender's egress AND the receiver's
//! ingress allow it — computed here from the rules, independently of
//! nftables. Then flows under rule changes: an established connection
//! survives unrelated changes, a revoked port refuses new connections.
//! Needs root with ip, bridge, nft, dnsmasq, busybox, python3 and a running
//! Open vSwitch (scripts/setup.sh installs and starts them).

mod common;

use std::net::Ipv4Addr;

use cloud::network_plan::{DnsPlan, Lease, Plan, PortPlan, RulePlan, SubnetPlan, VpcPlan};
use common::probes::{probe_from, Flow, Probe, SERVERS};
use common::{address_guest, Guest, Server};
use local_backend::networking::{Fabric, NetworkConfig, SegmentDriver};

const HOST_A: &str = "sksg-hosta";
const HOST_B: &str = "sksg-hostb";
const VPC: &str = "vpc-000000000005c0001";
const SEGMENT_1: u32 = 3101;
const SEGMENT_2: u32 = 3102;
/// The VLAN trunk between the hosts' Open vSwitch bridges (vlan driver).
const TRUNK_A: &str = "sksgtrunka";
const TRUNK_B: &str = "sksgtrunkb";
const ROUTER_1: Ipv4Addr = Ipv4Addr::new(10, 40, 1, 1);
/// A guest stand-in on subnet 1 with an address no instance was given.
const STRANGER: &str = "sksg-g5";

/// g1 and g2 share host A and subnet 1; g3 is on subnet 1 on host B; g4 on
/// subnet 2 on host B (the router is on host A).
const GUESTS: [Guest; 4] = [
    Guest {
        ns: "sksg-g1",
        host: HOST_A,
        segment: SEGMENT_1,
        mac: "02:00:0a:28:01:0b",
        ip: Ipv4Addr::new(10, 40, 1, 11),
    },
    Guest {
        ns: "sksg-g2",
        host: HOST_A,
        segment: SEGMENT_1,
        mac: "02:00:0a:28:01:0c",
        ip: Ipv4Addr::new(10, 40, 1, 12),
    },
    Guest {
        ns: "sksg-g3",
        host: HOST_B,
        segment: SEGMENT_1,
        mac: "02:00:0a:28:01:0d",
        ip: Ipv4Addr::new(10, 40, 1, 13),
    },
    Guest {
        ns: "sksg-g4",
        host: HOST_B,
        segment: SEGMENT_2,
        mac: "02:00:0a:28:02:0e",
        ip: Ipv4Addr::new(10, 40, 2, 14),
    },
];

fn cleanup() {
    common::clean_hosts(3100, TRUNK_A, "310", |name| {
        name.starts_with("sksg-") || name == format!("skyport-{VPC}")
    });
}

/// Removes everything the test made, also when it fails half-way.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup();
    }
}

/// A rule for `protocol` on `port` (all ports: None) with these peers.
fn rule(protocol: &str, port: Option<i32>, peers: &[&str]) -> RulePlan {
    RulePlan {
        protocol: protocol.into(),
        from_port: port,
        to_port: port,
        peers: peers.iter().map(|p| p.parse().unwrap()).collect(),
    }
}

/// A guest's address as a rule peer.
fn peer(guest: usize) -> String {
    format!("{}/32", GUESTS[guest].ip)
}

/// One guest's rules, as its groups add up. `egress: None` = all allowed.
#[derive(Clone, Default)]
struct Rules {
    ingress: Vec<RulePlan>,
    egress: Option<Vec<RulePlan>>,
}

fn plan(rules: &[Rules; 4]) -> Plan {
    let leases = |segment: u32| -> Vec<Lease> {
        GUESTS
            .iter()
            .filter(|g| g.segment == segment)
            .map(|g| Lease {
                mac: g.mac.into(),
                ip: g.ip,
                hostname: format!("ip-{}", g.ip.to_string().replace('.', "-")),
            })
            .collect()
    };
    Plan {
        vpcs: vec![VpcPlan {
            id: VPC.into(),
            subnets: vec![
                SubnetPlan {
                    id: "subnet-sg1".into(),
                    segment: SEGMENT_1,
                    cidr: "10.40.1.0/24".parse().unwrap(),
                    internet: false,
                    leases: leases(SEGMENT_1),
                },
                SubnetPlan {
                    id: "subnet-sg2".into(),
                    segment: SEGMENT_2,
                    cidr: "10.40.2.0/24".parse().unwrap(),
                    internet: false,
                    leases: leases(SEGMENT_2),
                },
            ],
            gateway: None,
            elastic: Vec::new(),
            dns: DnsPlan {
                resolver: true,
                hostnames: false,
                domain: "ec2.internal".into(),
            },
        }],
        ports: GUESTS
            .iter()
            .zip(rules)
            .enumerate()
            .map(|(index, (guest, rules))| PortPlan {
                instance_id: format!("i-0000000000000000{index}"),
                segment: guest.segment,
                ip: guest.ip,
                ingress: rules.ingress.clone(),
                egress: rules.egress.clone(),
            })
            .collect(),
        public_pool: None,
    }
}

const PROBES: [Probe; 4] = [Probe::Tcp(22), Probe::Tcp(80), Probe::Icmp, Probe::Udp(53)];

/// Whether one rule lets `probe` through to or from `address`.
fn allows(rule: &RulePlan, probe: Probe, address: Ipv4Addr) -> bool {
    let peer_matches = rule.peers.iter().any(|net| net.contains(&address));
    let in_range = |port: u16| match (rule.from_port, rule.to_port) {
        (Some(from), Some(to)) if from >= 0 => (from..=to).contains(&i32::from(port)),
        _ => true,
    };
    peer_matches
        && match (rule.protocol.as_str(), probe) {
            ("-1", _) => true,
            ("tcp", Probe::Tcp(port)) | ("udp", Probe::Udp(port)) => in_range(port),
            ("icmp", Probe::Icmp) => rule.from_port.is_none_or(|t| t < 0 || t == 8),
            _ => false,
        }
}

/// AWS's answer: the sender's egress and the receiver's ingress must both allow.
fn expected(rules: &[Rules; 4], from: usize, to: usize, probe: Probe) -> bool {
    let out = rules[from]
        .egress
        .as_ref()
        .is_none_or(|egress| egress.iter().any(|r| allows(r, probe, GUESTS[to].ip)));
    let into = rules[to]
        .ingress
        .iter()
        .any(|r| allows(r, probe, GUESTS[from].ip));
    out && into
}

/// Probes every ordered pair with every probe, from all guests at once; the
/// differences from what AWS would do, as readable lines.
fn mismatches(rules: &[Rules; 4]) -> Vec<String> {
    let outcomes: Vec<Vec<bool>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..GUESTS.len())
            .map(|from| {
                scope.spawn(move || {
                    let probes: Vec<(Probe, Ipv4Addr)> = (0..GUESTS.len())
                        .filter(|&to| to != from)
                        .flat_map(|to| PROBES.iter().map(move |p| (*p, GUESTS[to].ip)))
                        .collect();
                    probe_from(GUESTS[from].ns, &probes)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut wrong = Vec::new();
    for (from, results) in outcomes.iter().enumerate() {
        let targets = (0..GUESTS.len()).filter(|&to| to != from);
        let pairs = targets.flat_map(|to| PROBES.iter().map(move |p| (to, *p)));
        for ((to, probe), passed) in pairs.zip(results) {
            let want = expected(rules, from, to, probe);
            // A pass that should not happen is final; a refusal that should
            // not happen gets one more try (a first ARP exchange may be slow).
            let passed =
                *passed || (want && probe_from(GUESTS[from].ns, &[(probe, GUESTS[to].ip)])[0]);
            if passed != want {
                wrong.push(format!(
                    "g{} -> g{} {probe:?}: {} (expected {})",
                    from + 1,
                    to + 1,
                    if passed { "passed" } else { "refused" },
                    if want { "to pass" } else { "to be refused" }
                ));
            }
        }
    }
    wrong
}

/// Applies `rules` and checks the whole matrix.
async fn check(fabric: &Fabric, scenario: &str, rules: &[Rules; 4]) {
    fabric.apply(&plan(rules)).await.unwrap();
    let wrong = mismatches(rules);
    assert!(wrong.is_empty(), "{scenario}:\n  {}", wrong.join("\n  "));
}

/// Ingress rules only; every guest may send anything.
fn ingress_only() -> [Rules; 4] {
    let ingress = |rules: Vec<RulePlan>| Rules {
        ingress: rules,
        egress: None,
    };
    [
        ingress(vec![rule("tcp", Some(22), &[&peer(1), &peer(2)])]),
        ingress(Vec::new()),
        ingress(vec![
            rule("tcp", Some(22), &["0.0.0.0/0"]),
            rule("icmp", Some(-1), &["10.40.0.0/16"]),
        ]),
        ingress(vec![
            rule("-1", None, &[&peer(0)]),
            rule("tcp", Some(80), &["10.40.1.0/24"]),
            rule("udp", Some(53), &[&peer(2)]),
        ]),
    ]
}

/// Egress rules only; every guest lets everything in.
fn egress_only() -> [Rules; 4] {
    let egress = |rules: Vec<RulePlan>| Rules {
        ingress: vec![rule("-1", None, &["0.0.0.0/0"])],
        egress: Some(rules),
    };
    [
        egress(vec![rule("tcp", Some(22), &[&peer(3)])]),
        egress(Vec::new()),
        egress(vec![
            rule("tcp", Some(22), &["10.40.0.0/16"]),
            rule("icmp", Some(-1), &[&peer(0)]),
        ]),
        egress(vec![
            rule("tcp", Some(80), &[&peer(1)]),
            rule("icmp", Some(-1), &["10.40.1.0/24"]),
            rule("udp", Some(53), &["0.0.0.0/0"]),
        ]),
    ]
}

/// Both directions restricted, so that each pair's verdict needs both.
fn both() -> [Rules; 4] {
    [
        Rules {
            ingress: vec![rule("tcp", Some(22), &[&peer(2)])],
            egress: Some(vec![rule("tcp", Some(22), &[&peer(1), &peer(2)])]),
        },
        Rules {
            ingress: vec![rule("tcp", Some(22), &["0.0.0.0/0"])],
            egress: Some(vec![rule("tcp", Some(80), &["0.0.0.0/0"])]),
        },
        Rules {
            ingress: vec![
                rule("tcp", Some(80), &[&peer(1)]),
                rule("tcp", Some(22), &[&peer(0)]),
            ],
            egress: None,
        },
        Rules {
            ingress: vec![rule("-1", None, &[&peer(2)])],
            egress: Some(vec![
                rule("tcp", Some(22), &["10.40.0.0/16"]),
                rule("icmp", Some(-1), &["0.0.0.0/0"]),
            ]),
        },
    ]
}

/// The first reported case: one group with no ingress rules and egress
/// narrowed to TCP 22: no member reaches another.
fn no_ingress_egress_ssh() -> [Rules; 4] {
    std::array::from_fn(|_| Rules {
        ingress: Vec::new(),
        egress: Some(vec![rule("tcp", Some(22), &["0.0.0.0/0"])]),
    })
}

/// The second: the default group (members let each other in) with every
/// egress rule revoked: nobody reaches anybody.
fn default_group_without_egress() -> [Rules; 4] {
    let members: Vec<String> = (0..4).map(peer).collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    std::array::from_fn(|_| Rules {
        ingress: vec![rule("-1", None, &members)],
        egress: Some(Vec::new()),
    })
}

/// Groups referencing groups: `web` = {g1, g3} lets `db` members in on TCP
/// 22; `db` = {g2, g4} lets `web` members in on TCP 80 and may only send to
/// `web`. Membership is resolved to addresses as the account layer does.
fn web_and_db(web: &[usize], db: &[usize]) -> [Rules; 4] {
    let members = |group: &[usize]| -> Vec<String> { group.iter().map(|&g| peer(g)).collect() };
    let (web_members, db_members) = (members(web), members(db));
    let (web_members, db_members): (Vec<&str>, Vec<&str>) = (
        web_members.iter().map(String::as_str).collect(),
        db_members.iter().map(String::as_str).collect(),
    );
    std::array::from_fn(|guest| {
        let mut rules = Rules::default();
        if web.contains(&guest) {
            rules.ingress.push(rule("tcp", Some(22), &db_members));
        }
        if db.contains(&guest) {
            rules.ingress.push(rule("tcp", Some(80), &web_members));
            rules.egress = Some(vec![rule("-1", None, &web_members)]);
        }
        rules
    })
}

/// Flows while rules change. g1 may send TCP 7000 anywhere in the VPC; g3
/// takes it from g1 only; g4 may send it to g2 only; g2 takes it from g4.
fn flow_rules(open: bool) -> [Rules; 4] {
    let mut rules: [Rules; 4] = Default::default();
    rules[0].egress = Some(vec![rule("tcp", Some(7000), &["10.40.0.0/16"])]);
    rules[3].egress = Some(vec![rule("tcp", Some(7000), &[&peer(1)])]);
    if open {
        rules[2].ingress.push(rule("tcp", Some(7000), &[&peer(0)]));
        rules[1].ingress.push(rule("tcp", Some(7000), &[&peer(3)]));
    }
    rules
}

async fn flows_under_rule_changes(fabric: &Fabric) {
    fabric.apply(&plan(&flow_rules(true))).await.unwrap();
    // Same subnet across hosts, and routed between subnets.
    let mut across_hosts =
        Flow::open(GUESTS[0].ns, GUESTS[2].ip).expect("g1 -> g3:7000 is allowed");
    let mut across_subnets =
        Flow::open(GUESTS[3].ns, GUESTS[1].ip).expect("g4 -> g2:7000 is allowed");
    // g1's egress allows it, g2's ingress does not.
    assert!(
        Flow::open(GUESTS[0].ns, GUESTS[1].ip).is_none(),
        "g1 -> g2:7000 passed"
    );
    assert!(across_hosts.echoes("one") && across_subnets.echoes("one"));

    // An unrelated change (g2 takes TCP 80 from anywhere): the flows go on.
    let mut changed = flow_rules(true);
    changed[1]
        .ingress
        .push(rule("tcp", Some(80), &["0.0.0.0/0"]));
    fabric.apply(&plan(&changed)).await.unwrap();
    assert!(across_hosts.echoes("two") && across_subnets.echoes("two"));

    // Revoked: new connections are refused; the tracked ones go on, as on AWS.
    fabric.apply(&plan(&flow_rules(false))).await.unwrap();
    assert!(
        Flow::open(GUESTS[0].ns, GUESTS[2].ip).is_none(),
        "g1 -> g3:7000 passed after revoke"
    );
    assert!(
        Flow::open(GUESTS[3].ns, GUESTS[1].ip).is_none(),
        "g4 -> g2:7000 passed after revoke"
    );
    assert!(across_hosts.echoes("three") && across_subnets.echoes("three"));
    drop((across_hosts, across_subnets));

    // Authorized again: new connections pass.
    fabric.apply(&plan(&flow_rules(true))).await.unwrap();
    assert!(Flow::open(GUESTS[0].ns, GUESTS[2].ip).is_some_and(|mut f| f.echoes("four")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_drivers_check_senders_egress_and_receivers_ingress() {
    // One after the other: both use the same namespaces and addresses.
    prove(SegmentDriver::Vxlan).await;
    prove(SegmentDriver::Vlan).await;
}

async fn prove(driver: SegmentDriver) {
    cleanup();
    let _cleanup = Cleanup;
    let config = NetworkConfig {
        driver,
        segment_range: [3100, 3199],
        hosts: common::two_hosts(driver, (HOST_A, HOST_B), "10.250.1", (TRUNK_A, TRUNK_B)),
        ..NetworkConfig::default()
    };
    let state = tempfile::tempdir().unwrap();
    let fabric = Fabric::open(&config, state.path().join("network"))
        .await
        .unwrap();
    let everything_open: [Rules; 4] = std::array::from_fn(|_| Rules {
        ingress: vec![rule("-1", None, &["0.0.0.0/0"])],
        egress: None,
    });
    fabric.apply(&plan(&everything_open)).await.unwrap();
    let _servers: Vec<Server> = GUESTS
        .iter()
        .enumerate()
        .map(|(index, guest)| {
            guest.plug(&format!("sgp{}", index + 1));
            let router = Ipv4Addr::from(u32::from(guest.ip) & 0xffff_ff00 | 1);
            address_guest(guest.ns, guest.ip, 24, router);
            Server::spawn(guest.ns, SERVERS)
        })
        .collect();

    check(&fabric, "everything open", &everything_open).await;
    // A guest on a subnet address nobody was given reaches no one but its
    // router, and no one reaches it, whatever the others' rules say.
    let stranger = Ipv4Addr::new(10, 40, 1, 99);
    common::plug_guest(STRANGER, HOST_A, "sgp5", "skb3101", "02:00:0a:28:01:63");
    address_guest(STRANGER, stranger, 24, ROUTER_1);
    let _stranger = Server::spawn(STRANGER, SERVERS);
    let (g1, g3) = (GUESTS[0].ip, GUESTS[2].ip);
    assert_eq!(
        probe_from(
            STRANGER,
            &[
                (Probe::Tcp(22), g1),
                (Probe::Icmp, g1),
                (Probe::Tcp(22), g3),
                (Probe::Dns, ROUTER_1)
            ]
        ),
        [false, false, false, true],
        "from the stranger: to g1 (TCP, ICMP), g3, the router's DNS"
    );
    assert_eq!(
        probe_from(
            GUESTS[0].ns,
            &[(Probe::Tcp(22), stranger), (Probe::Icmp, stranger)]
        ),
        [false, false],
        "g1 to the stranger"
    );
    check(&fabric, "ingress rules only", &ingress_only()).await;
    check(&fabric, "egress rules only", &egress_only()).await;
    check(&fabric, "both directions restricted", &both()).await;
    check(
        &fabric,
        "no ingress, egress TCP 22 only",
        &no_ingress_egress_ssh(),
    )
    .await;
    let closed = default_group_without_egress();
    check(&fabric, "default group without egress", &closed).await;
    // With nothing allowed out, the subnet's DHCP and DNS still answer.
    let offer = common::dhcp(GUESTS[0].ns, state.path());
    assert_eq!(
        (offer.address, offer.router),
        (GUESTS[0].ip.to_string(), ROUTER_1.to_string())
    );
    assert_eq!(
        probe_from(GUESTS[0].ns, &[(Probe::Dns, ROUTER_1)]),
        [true],
        "DNS on the router"
    );
    check(&fabric, "web and db groups", &web_and_db(&[0, 2], &[1, 3])).await;
    // g3 moves from web to db: the peers of both groups' rules follow.
    check(&fabric, "g3 moved to db", &web_and_db(&[0], &[1, 2, 3])).await;
    flows_under_rule_changes(&fabric).await;
}
