//! Segments on every host: a Linux bridge per subnet (guests and routers
//! plug into it), and the `vxlan` driver joining it to the same bridge on the
//! other hosts by a VXLAN device whose VNI is the subnet's segment id.
//! Unicast head-end replication (an all-zero FDB entry per peer) carries
//! broadcast and unknown traffic; no multicast is needed. The `vlan` driver
//! is in `ovs.rs`.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use cloud::Result;

use super::command::{run, run_quietly, Netns};
use super::links::Link;
use super::names;

/// The MTU guests must use on a VXLAN segment (1500 minus 50 of encapsulation).
pub const VXLAN_MTU: u32 = 1450;
const VXLAN_PORT: &str = "4789";

/// Makes the subnet's bridge exist and be up on one host (every driver
/// plugs guests and routers into it).
pub async fn ensure_bridge(
    netns: Netns<'_>,
    links: &HashMap<String, Link>,
    segment: u32,
) -> Result<()> {
    let bridge = names::bridge(segment);
    if !links.contains_key(&bridge) {
        run(netns, "ip", &["link", "add", &bridge, "type", "bridge"]).await?;
    }
    if !links.get(&bridge).is_some_and(Link::is_up) {
        run(netns, "ip", &["link", "set", &bridge, "up"]).await?;
    }
    Ok(())
}

/// Joins the subnet's bridge to the same bridge on the other hosts: a VXLAN
/// device and one FDB entry per peer (nothing when the host is alone).
pub async fn join_vxlan(
    netns: Netns<'_>,
    links: &HashMap<String, Link>,
    segment: u32,
    underlay: Option<Ipv4Addr>,
    peers: &[Ipv4Addr],
) -> Result<()> {
    let bridge = names::bridge(segment);
    let (Some(local), false) = (underlay, peers.is_empty()) else {
        return Ok(());
    };
    let vxlan = names::vxlan(segment);
    if !links.contains_key(&vxlan) {
        let (id, local) = (segment.to_string(), local.to_string());
        run(
            netns,
            "ip",
            &[
                "link",
                "add",
                &vxlan,
                "type",
                "vxlan",
                "id",
                &id,
                "local",
                &local,
                "dstport",
                VXLAN_PORT,
                "nolearning",
            ],
        )
        .await?;
        let mtu = VXLAN_MTU.to_string();
        run(netns, "ip", &["link", "set", &vxlan, "mtu", &mtu]).await?;
        run(netns, "ip", &["link", "set", &vxlan, "master", &bridge]).await?;
        run(netns, "ip", &["link", "set", &vxlan, "up"]).await?;
    }
    let fdb = run(netns, "bridge", &["fdb", "show", "dev", &vxlan]).await?;
    let present: HashSet<&str> = fdb
        .lines()
        .filter(|line| line.starts_with("00:00:00:00:00:00"))
        .filter_map(|line| line.split_whitespace().skip_while(|w| *w != "dst").nth(1))
        .collect();
    for peer in peers {
        let peer = peer.to_string();
        if !present.contains(peer.as_str()) {
            run(
                netns,
                "bridge",
                &[
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    &vxlan,
                    "dst",
                    &peer,
                ],
            )
            .await?;
        }
    }
    Ok(())
}

/// Removes bridges and VXLAN devices of this site's segments (ids in
/// `range`) no longer planned.
pub async fn remove_stale(
    netns: Netns<'_>,
    links: &HashMap<String, Link>,
    planned: &HashSet<u32>,
    range: &std::ops::RangeInclusive<i64>,
) {
    for name in links.keys() {
        let ours = name.starts_with("skb") || name.starts_with("skv");
        if let Some(segment) =
            names::segment_of(name).filter(|s| ours && range.contains(&i64::from(*s)))
        {
            if !planned.contains(&segment) {
                tracing::info!(device = %name, "removing a stale segment device");
                run_quietly(netns, "ip", &["link", "del", name]).await;
            }
        }
    }
}
