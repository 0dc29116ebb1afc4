//! A VPC's router: a network namespace on the network node with one port on
//! each subnet's bridge (holding the subnet's router address, with that
//! subnet's DHCP server behind it) and, when the VPC has an internet gateway,
//! an external port on the public bridge of the site's edge (`edge.rs`)
//! holding the router's public address and the VPC's elastic IPs. Its nftables table does the NAT (`nat.rs`).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;

use cloud::Result;
use ipnet::Ipv4Net;
use serde::Deserialize;

use super::command::{run, run_quietly, run_with_input, Netns};
use super::dhcp;
use super::links::{links, Link};
use super::names;
use super::nat;
use super::segments::VXLAN_MTU;
use cloud::network_plan::VpcPlan;

/// The network namespaces that exist (`ip netns list`).
pub async fn namespaces() -> Result<HashSet<String>> {
    let out = run(None, "ip", &["netns", "list"]).await?;
    Ok(out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

#[derive(Deserialize)]
struct AddrInfo {
    local: String,
    prefixlen: u8,
}

#[derive(Deserialize)]
struct LinkAddrs {
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

/// The IPv4 addresses (`a.b.c.d/n`) on a device.
async fn addresses(netns: Netns<'_>, device: &str) -> Result<HashSet<String>> {
    let json = run(netns, "ip", &["-j", "-4", "addr", "show", "dev", device]).await?;
    let links: Vec<LinkAddrs> = serde_json::from_str(&json).unwrap_or_default();
    Ok(links
        .into_iter()
        .flat_map(|l| l.addr_info)
        .map(|a| format!("{}/{}", a.local, a.prefixlen))
        .collect())
}

/// Makes `device` hold exactly `wanted` addresses.
async fn sync_addresses(netns: Netns<'_>, device: &str, wanted: &[String]) -> Result<()> {
    let present = addresses(netns, device).await?;
    for address in wanted {
        if !present.contains(address) {
            run(netns, "ip", &["addr", "add", address, "dev", device]).await?;
        }
    }
    for address in present {
        if !wanted.contains(&address) {
            run(netns, "ip", &["addr", "del", &address, "dev", device]).await?;
        }
    }
    Ok(())
}

/// Creates a veth pair: `host_end` in `node`, `router_end` in the router namespace.
async fn plug(
    node: Netns<'_>,
    node_links: &HashMap<String, Link>,
    host_end: &str,
    router_ns: &str,
    router_end: &str,
    bridge: &str,
    mtu: Option<u32>,
) -> Result<()> {
    if node_links.contains_key(host_end) {
        // A half-made pair from an interrupted pass.
        run_quietly(node, "ip", &["link", "del", host_end]).await;
    }
    run(
        node,
        "ip",
        &[
            "link", "add", host_end, "type", "veth", "peer", "name", router_end, "netns", router_ns,
        ],
    )
    .await?;
    if let Some(mtu) = mtu {
        let mtu = mtu.to_string();
        run(node, "ip", &["link", "set", host_end, "mtu", &mtu]).await?;
        run(
            Some(router_ns),
            "ip",
            &["link", "set", router_end, "mtu", &mtu],
        )
        .await?;
    }
    run(node, "ip", &["link", "set", host_end, "master", bridge]).await?;
    run(node, "ip", &["link", "set", host_end, "up"]).await?;
    run(Some(router_ns), "ip", &["link", "set", router_end, "up"]).await?;
    Ok(())
}

/// Where a router's external port plugs in: the site's edge (`edge.rs`).
pub struct PublicSide<'a> {
    pub pool: Ipv4Net,
    /// The edge's namespace.
    pub edge: &'a str,
    /// The public bridge in it.
    pub bridge: &'a str,
}

/// Makes the VPC's router match the plan.
pub async fn ensure(
    node: Netns<'_>,
    node_links: &HashMap<String, Link>,
    existing: &HashSet<String>,
    vpc: &VpcPlan,
    public: Option<PublicSide<'_>>,
    dir: &Path,
    vxlan: bool,
) -> Result<()> {
    let ns = names::router_ns(&vpc.id);
    if !existing.contains(&ns) {
        // Marked first: a crash right after still leaves it ours to remove.
        mark(dir, &ns, true);
        run(None, "ip", &["netns", "add", &ns]).await?;
        run(Some(&ns), "ip", &["link", "set", "lo", "up"]).await?;
    }
    // Guests reach the metadata service here (the gateway listens in this namespace).
    sync_addresses(
        Some(&ns),
        "lo",
        &["127.0.0.1/8".into(), format!("{METADATA_ADDRESS}/32")],
    )
    .await?;
    run(Some(&ns), "sysctl", &["-qw", "net.ipv4.ip_forward=1"]).await?;
    let ns_links = links(Some(&ns)).await?;
    let mtu = vxlan.then_some(VXLAN_MTU);
    let mut planned_ports = HashSet::new();
    for subnet in &vpc.subnets {
        let port = names::router_port(subnet.segment);
        planned_ports.insert(port.clone());
        if !ns_links.contains_key(&port) {
            plug(
                node,
                node_links,
                &names::router_port_host(subnet.segment),
                &ns,
                &port,
                &names::bridge(subnet.segment),
                mtu,
            )
            .await?;
        }
        sync_addresses(Some(&ns), &port, &[dhcp::router_cidr(&subnet.cidr)]).await?;
        dhcp::ensure(dir, &ns, subnet, &vpc.dns, vxlan).await?;
    }
    for name in ns_links.keys() {
        if let Some(segment) = name.strip_prefix("sn").and_then(|d| d.parse::<u32>().ok()) {
            if !planned_ports.contains(name) {
                dhcp::stop(dir, segment);
                run_quietly(Some(&ns), "ip", &["link", "del", name]).await;
            }
        }
    }
    match (vpc.gateway, public) {
        (Some(gateway), Some(PublicSide { pool, edge, bridge })) => {
            if !ns_links.contains_key(names::EXTERNAL_PORT) {
                plug(
                    Some(edge),
                    &links(Some(edge)).await?,
                    &names::external_host(&vpc.id),
                    &ns,
                    names::EXTERNAL_PORT,
                    bridge,
                    None,
                )
                .await?;
            }
            let mut wanted = vec![format!("{gateway}/{}", pool.prefix_len())];
            wanted.extend(vpc.elastic.iter().map(|m| format!("{}/32", m.public)));
            sync_addresses(Some(&ns), names::EXTERNAL_PORT, &wanted).await?;
            let next_hop = site_router(&pool).to_string();
            run(
                Some(&ns),
                "ip",
                &[
                    "route",
                    "replace",
                    "default",
                    "via",
                    &next_hop,
                    "dev",
                    names::EXTERNAL_PORT,
                ],
            )
            .await?;
        }
        _ => {
            if ns_links.contains_key(names::EXTERNAL_PORT) {
                run_quietly(Some(&ns), "ip", &["link", "del", names::EXTERNAL_PORT]).await;
            }
        }
    }
    run_with_input(Some(&ns), "nft", &["-f", "-"], Some(&nat::ruleset(vpc))).await?;
    Ok(())
}

/// Removes a router: its DHCP servers, then the namespace (which takes its
/// veth ends, and so their peers on the bridges, with it).
pub async fn remove(ns: &str, dir: &Path) {
    if let Ok(ns_links) = links(Some(ns)).await {
        for name in ns_links.keys() {
            if let Some(segment) = name.strip_prefix("sn").and_then(|d| d.parse::<u32>().ok()) {
                dhcp::stop(dir, segment);
            }
        }
    }
    run_quietly(None, "ip", &["netns", "del", ns]).await;
    mark(dir, ns, false);
    tracing::info!(namespace = %ns, "router removed");
}

/// The instance metadata address, held by every router.
pub const METADATA_ADDRESS: &str = "169.254.169.254";

/// Records (or forgets) that this site made router namespace `ns`, so a site
/// removes only its own routers when several share a machine.
fn mark(dir: &Path, ns: &str, made: bool) {
    let routers = dir.join("routers");
    let marker = routers.join(ns);
    let result = if made {
        std::fs::create_dir_all(&routers).and_then(|()| std::fs::write(&marker, b""))
    } else {
        std::fs::remove_file(&marker)
    };
    if let Err(error) = result {
        tracing::debug!(%error, marker = %marker.display(), "router marker");
    }
}

/// The router namespaces this site made.
pub fn ours(dir: &Path) -> HashSet<String> {
    std::fs::read_dir(dir.join("routers"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The site's own router on the public side: the pool's first host, held by
/// the public bridge in the site's edge.
pub fn site_router(pool: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(pool.network()) + 1)
}
