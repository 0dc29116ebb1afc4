//! The site's edge: a network namespace (`skyport-edge<site>`) standing for
//! the router in front of the public pool. It holds the public bridge with
//! the pool's first address, where every VPC router's external port plugs
//! in, and forwards between them. The pool exists only there and in the
//! routers' namespaces: the machine's own namespace gets no address and no
//! route for it, so a pool that is also used elsewhere (a documentation
//! block on a test network) never shadows that network for the machine.
//! What lies beyond the pool (an uplink, a masquerade rule) the operator
//! adds inside this namespace (docs/networking.md).

use std::collections::{HashMap, HashSet};

use cloud::Result;
use ipnet::Ipv4Net;

use super::command::{run, run_quietly, Netns};
use super::links::{links, Link};
use super::{names, router};

/// Makes the edge exist with `pool`'s first address on its bridge.
pub async fn ensure(site: i64, pool: &Ipv4Net, existing: &HashSet<String>) -> Result<()> {
    let ns = names::edge_ns(site);
    if !existing.contains(&ns) {
        run(None, "ip", &["netns", "add", &ns]).await?;
        run(Some(&ns), "ip", &["link", "set", "lo", "up"]).await?;
    }
    let bridge = names::public_bridge(site);
    if !links(Some(&ns)).await?.contains_key(&bridge) {
        run(Some(&ns), "ip", &["link", "add", &bridge, "type", "bridge"]).await?;
        let address = format!("{}/{}", router::site_router(pool), pool.prefix_len());
        run(Some(&ns), "ip", &["addr", "add", &address, "dev", &bridge]).await?;
        run(Some(&ns), "ip", &["link", "set", &bridge, "up"]).await?;
    }
    run(Some(&ns), "sysctl", &["-qw", "net.ipv4.ip_forward=1"]).await?;
    Ok(())
}

/// Removes the edge (and with it the routers' external links); whether it
/// existed.
pub async fn remove(site: i64, existing: &HashSet<String>) -> bool {
    let ns = names::edge_ns(site);
    if !existing.contains(&ns) {
        return false;
    }
    run_quietly(None, "ip", &["netns", "del", &ns]).await;
    true
}

/// Earlier versions kept the public bridge, with the pool's first address,
/// in the network node's own namespace. Removes it and the router links on
/// it, so the next pass plugs the routers into the edge instead; whether
/// there was one.
pub async fn remove_old_public_bridge(
    node: Netns<'_>,
    node_links: &HashMap<String, Link>,
    site: i64,
) -> Result<bool> {
    let bridge = names::public_bridge(site);
    if !node_links.contains_key(&bridge) {
        return Ok(false);
    }
    for link in node_links.values() {
        if link.master.as_deref() == Some(bridge.as_str()) {
            // Deleting a veth end takes the router's end with it.
            run_quietly(node, "ip", &["link", "del", &link.ifname]).await;
        }
    }
    run(node, "ip", &["link", "del", &bridge]).await?;
    tracing::info!(%bridge, "moved the public bridge off the network node into the site's edge");
    Ok(true)
}
