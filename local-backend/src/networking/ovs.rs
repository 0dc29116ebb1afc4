//! The `vlan` driver: real 802.1Q tags on Open vSwitch (the userspace
//! datapath, `datapath_type=netdev`, which needs no kernel module). Each host
//! has an OVS bridge with a trunk port to the fabric; each subnet's Linux
//! bridge is patched into it by a veth pair whose OVS end is an access port
//! tagged with the subnet's segment id (its VLAN id).
//!
//! OVS runs once per machine, so its bridges and ports live in the
//! machine's root namespace even when a host is a namespace (tests play
//! several hosts on one machine). The userspace datapath does not finish
//! checksums the sender left to offload, so the patch's bridge end has TX
//! checksum offload turned off: the kernel completes them before OVS reads
//! the frame.

use std::collections::{HashMap, HashSet};
use std::ops::RangeInclusive;

use cloud::Result;

use super::command::{run, run_quietly, Netns};
use super::links::Link;
use super::names;

/// The OVS (access port) end of a subnet's patch on host `index`.
pub fn access_port(index: usize, segment: u32) -> String {
    format!("sk{index}v{segment}")
}

/// The host index and segment id an access port's name carries.
pub fn parse_access_port(name: &str) -> Option<(usize, u32)> {
    let (index, segment) = name.strip_prefix("sk")?.split_once('v')?;
    Some((index.parse().ok()?, segment.parse().ok()?))
}

/// Makes host `index`'s OVS bridge exist, with its trunk port when it has one.
pub async fn ensure_host(site: i64, index: usize, trunk: Option<&str>) -> Result<()> {
    let ovs = names::ovs_bridge(site, index);
    run(
        None,
        "ovs-vsctl",
        &[
            "--may-exist",
            "add-br",
            &ovs,
            "--",
            "set",
            "bridge",
            &ovs,
            "datapath_type=netdev",
        ],
    )
    .await?;
    if let Some(trunk) = trunk {
        run(None, "ip", &["link", "set", trunk, "up"]).await?;
        run(None, "ovs-vsctl", &["--may-exist", "add-port", &ovs, trunk]).await?;
    }
    Ok(())
}

/// Patches the subnet's Linux bridge on host `index` into the host's OVS
/// bridge, tagged with the segment id.
pub async fn ensure_segment(
    netns: Netns<'_>,
    root_links: &HashMap<String, Link>,
    site: i64,
    index: usize,
    segment: u32,
) -> Result<()> {
    let access = access_port(index, segment);
    let inner = names::patch(segment);
    if !root_links.contains_key(&access) {
        match netns {
            Some(ns) => {
                run(
                    None,
                    "ip",
                    &[
                        "link", "add", &access, "type", "veth", "peer", "name", &inner, "netns", ns,
                    ],
                )
                .await?
            }
            None => {
                run(
                    None,
                    "ip",
                    &[
                        "link", "add", &access, "type", "veth", "peer", "name", &inner,
                    ],
                )
                .await?
            }
        };
        run(
            netns,
            "ip",
            &["link", "set", &inner, "master", &names::bridge(segment)],
        )
        .await?;
        run(netns, "ethtool", &["-K", &inner, "tx", "off"]).await?;
        run(netns, "ip", &["link", "set", &inner, "up"]).await?;
        run(None, "ip", &["link", "set", &access, "up"]).await?;
    }
    let tag = format!("tag={segment}");
    run(
        None,
        "ovs-vsctl",
        &[
            "--may-exist",
            "add-port",
            &names::ovs_bridge(site, index),
            &access,
            "--",
            "set",
            "port",
            &access,
            &tag,
        ],
    )
    .await?;
    Ok(())
}

/// Removes the patches of this site's segments (ids in `range`) no longer planned.
pub async fn remove_stale(
    root_links: &HashMap<String, Link>,
    index: usize,
    planned: &HashSet<u32>,
    range: &RangeInclusive<i64>,
) {
    let site = *range.start();
    for name in root_links.keys() {
        let Some(segment) = parse_access_port(name)
            .filter(|(port_host, _)| *port_host == index)
            .map(|(_, segment)| segment)
        else {
            continue;
        };
        if range.contains(&i64::from(segment)) && !planned.contains(&segment) {
            tracing::info!(port = %name, "removing a stale VLAN patch");
            run_quietly(
                None,
                "ovs-vsctl",
                &[
                    "--if-exists",
                    "del-port",
                    &names::ovs_bridge(site, index),
                    name,
                ],
            )
            .await;
            run_quietly(None, "ip", &["link", "del", name]).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_ports_parse_back() {
        assert_eq!(parse_access_port(&access_port(1, 3001)), Some((1, 3001)));
        assert_eq!(parse_access_port("skv3001"), None);
        assert_eq!(parse_access_port("skb3001"), None);
    }
}
