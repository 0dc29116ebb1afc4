//! Taking a site's tenant networks off this machine, for `skyport site
//! teardown` (the gateway stopped): its routers and their DHCP servers, every
//! device of its segment range on every host, its security groups' table,
//! its edge namespace (with the public bridge) and its Open vSwitch bridges
//! and patches. What belongs to another site (other segment ids, other
//! names) is never touched.

use std::path::Path;

use cloud::Result;

use super::command::{installed, run};
use super::config::NetworkConfig;
use super::fabric::hosts_of;
use super::links::links;
use super::{dhcp, edge, firewall, names, ovs, router};

/// Removes what the site configured by `config` (state in `dir`) made on
/// this machine's hosts; returns what it removed, one line each. Hosts whose
/// namespace is gone are skipped.
pub async fn teardown(config: &NetworkConfig, dir: &Path) -> Result<Vec<String>> {
    let segments = config.segments()?;
    let site = *segments.start();
    let ours =
        |name: &str| names::segment_of(name).is_some_and(|s| segments.contains(&i64::from(s)));
    let mut removed = Vec::new();
    let existing = router::namespaces().await?;
    for ns in router::ours(dir) {
        if existing.contains(&ns) {
            removed.push(format!("router namespace {ns} and its DHCP servers"));
        }
        router::remove(&ns, dir).await;
    }
    let edge_ns = names::edge_ns(site);
    if edge::remove(site, &existing).await {
        removed.push(format!(
            "edge namespace {edge_ns} and its public bridge {}",
            names::public_bridge(site)
        ));
    }
    for segment in dhcp::segments_with_files(dir) {
        dhcp::stop(dir, segment);
        removed.push(format!("DHCP server of segment {segment}"));
    }
    let hosts = hosts_of(config)?;
    let table = firewall::table_name(site);
    for (index, host) in hosts.iter().enumerate() {
        if host.netns.as_ref().is_some_and(|ns| !existing.contains(ns)) {
            continue;
        }
        let netns = host.netns.as_deref();
        let place = netns.unwrap_or("this machine");
        let mut doomed: Vec<String> = links(netns)
            .await?
            .into_keys()
            .filter(|name| ours(name))
            .collect();
        if index == 0 {
            // Where earlier versions kept it.
            doomed.push(names::public_bridge(site));
        }
        doomed.push(names::probe(site));
        for device in doomed {
            if run(netns, "ip", &["link", "del", &device]).await.is_ok() {
                removed.push(format!("{device} on {place}"));
            }
        }
        if run(netns, "nft", &["delete", "table", "ip", &table])
            .await
            .is_ok()
        {
            removed.push(format!("nftables table {table} on {place}"));
        }
    }
    // Open vSwitch keeps its bridges (and their ports) in its own database,
    // whatever the driver in force now.
    if installed("ovs-vsctl") {
        let bridges = run(None, "ovs-vsctl", &["list-br"])
            .await
            .unwrap_or_default();
        for index in 0..hosts.len() {
            let bridge = names::ovs_bridge(site, index);
            if bridges.lines().any(|line| line.trim() == bridge) {
                run(None, "ovs-vsctl", &["--if-exists", "del-br", &bridge]).await?;
                removed.push(format!("Open vSwitch bridge {bridge}"));
            }
        }
        for (name, _) in links(None).await? {
            let patched = ovs::parse_access_port(&name).is_some_and(|(index, segment)| {
                index < hosts.len() && segments.contains(&i64::from(segment))
            });
            if patched && run(None, "ip", &["link", "del", &name]).await.is_ok() {
                removed.push(format!("{name} on this machine"));
            }
        }
    }
    Ok(removed)
}
