//! The fabric: every host of the tenant networks, made to match a [`Plan`]
//! in one idempotent pass. Segments go on every host; routers, DHCP and NAT
//! on the network node (the first host). Anything of ours the plan no longer
//! names is removed, so a pass after a restart or a host reboot converges
//! without duplicates.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use cloud::network_plan::Plan;
use cloud::{Error, Result};
use tokio::sync::Mutex;

use super::command::{installed, run, run_quietly, run_with_input, Netns};
use super::config::{NetworkConfig, SegmentDriver};
use super::links::links;
use super::{dhcp, edge, firewall, names, ovs, router, segments};

/// One host: a network namespace (or this machine) and its fabric address.
#[derive(Debug, Clone)]
pub struct NetHost {
    pub name: String,
    pub netns: Option<String>,
    pub underlay: Option<Ipv4Addr>,
    /// Its VLAN trunk device (vlan driver).
    pub trunk: Option<String>,
}

impl NetHost {
    fn netns(&self) -> Netns<'_> {
        self.netns.as_deref()
    }
}

/// The data plane of this site's tenant networks.
pub struct Fabric {
    hosts: Vec<NetHost>,
    driver: SegmentDriver,
    /// This site's segment ids: devices of others (another site on the same
    /// machine) are never touched.
    segments: std::ops::RangeInclusive<i64>,
    dir: PathBuf,
    /// One pass at a time.
    pass: Mutex<()>,
}

/// The switch that sends bridged IPv4 traffic through the `ip` family's
/// hooks, where the security groups are.
const BRIDGE_NETFILTER: &str = "net.bridge.bridge-nf-call-iptables";

/// The tools the data plane runs, by driver.
fn missing_tools(driver: SegmentDriver) -> Vec<&'static str> {
    let mut tools = vec!["ip", "bridge", "nft", "dnsmasq", "sysctl"];
    if driver == SegmentDriver::Vlan {
        tools.extend(["ovs-vsctl", "ethtool"]);
    }
    tools.into_iter().filter(|tool| !installed(tool)).collect()
}

/// The configured hosts (this machine alone when none is listed), checked
/// against what the driver needs to join them.
pub(super) fn hosts_of(config: &NetworkConfig) -> Result<Vec<NetHost>> {
    let mut hosts = Vec::new();
    for host in &config.hosts {
        let underlay = match host.underlay.as_str() {
            "" => None,
            text => Some(text.parse().map_err(|_| {
                Error::invalid(
                    "network.hosts.underlay",
                    format!("host {}: '{text}' is not an IPv4 address", host.name),
                )
            })?),
        };
        hosts.push(NetHost {
            name: host.name.clone(),
            netns: (!host.netns.is_empty()).then(|| host.netns.clone()),
            underlay,
            trunk: (!host.trunk.is_empty()).then(|| host.trunk.clone()),
        });
    }
    if hosts.is_empty() {
        hosts.push(NetHost {
            name: "local".into(),
            netns: None,
            underlay: None,
            trunk: None,
        });
    }
    let several = hosts.len() > 1;
    match config.driver {
        SegmentDriver::Vxlan if several && hosts.iter().any(|h| h.underlay.is_none()) => {
            return Err(Error::invalid(
                "network.hosts",
                "with several hosts, every host needs its `underlay` address for VXLAN",
            ))
        }
        SegmentDriver::Vlan if several && hosts.iter().any(|h| h.trunk.is_none()) => {
            return Err(Error::invalid(
                "network.hosts",
                "with several hosts, every host needs its `trunk` device for VLANs",
            ))
        }
        _ => {}
    }
    Ok(hosts)
}

impl Fabric {
    /// Checks that this machine can build the configured data plane: the
    /// driver's tools are installed, the kernel has what it needs, host
    /// namespaces exist. The error says what is missing.
    pub async fn open(config: &NetworkConfig, dir: PathBuf) -> Result<Fabric> {
        let missing = missing_tools(config.driver);
        if !missing.is_empty() {
            return Err(Error::Unavailable(format!(
                "tenant networks need {} (scripts/setup.sh installs them)",
                missing.join(", ")
            )));
        }
        let hosts = hosts_of(config)?;
        let existing = router::namespaces().await?;
        for host in &hosts {
            if let Some(ns) = &host.netns {
                if !existing.contains(ns) {
                    return Err(Error::Unavailable(format!(
                        "host {}: network namespace {ns} does not exist",
                        host.name
                    )));
                }
            }
            // Without br_netfilter, bridged traffic never reaches the
            // security groups' hook: refuse rather than leave guests open.
            if run(host.netns(), "sysctl", &["-n", BRIDGE_NETFILTER])
                .await
                .is_err()
            {
                return Err(Error::Unavailable(format!(
                    "host {}: security groups need the kernel's br_netfilter \
                     (`modprobe br_netfilter`)",
                    host.name
                )));
            }
        }
        // The kernel must be able to make what the driver needs.
        let segments = config.segments()?;
        let probe = names::probe(*segments.start());
        let node = hosts[0].netns.as_deref();
        run_quietly(node, "ip", &["link", "del", &probe]).await;
        run(
            node,
            "ip",
            &[
                "link", "add", &probe, "type", "vxlan", "id", "1", "dstport", "4789",
            ],
        )
        .await
        .map_err(|e| Error::Unavailable(format!("this kernel cannot make VXLAN devices: {e}")))?;
        run_quietly(node, "ip", &["link", "del", &probe]).await;
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        Ok(Fabric {
            hosts,
            driver: config.driver,
            segments,
            dir,
            pass: Mutex::new(()),
        })
    }

    /// The hosts, network node first.
    pub fn hosts(&self) -> &[NetHost] {
        &self.hosts
    }

    /// Makes every host match `plan`.
    pub async fn apply(&self, plan: &Plan) -> Result<()> {
        let _pass = self.pass.lock().await;
        let planned: HashSet<u32> = plan.subnets().map(|s| s.segment).collect();
        let vxlan = self.driver == SegmentDriver::Vxlan && self.hosts.len() > 1;
        // OVS ports live in the machine's root namespace whatever the host.
        let root_links = match self.driver {
            SegmentDriver::Vlan => links(None).await?,
            SegmentDriver::Vxlan => Default::default(),
        };
        for (index, host) in self.hosts.iter().enumerate() {
            let host_links = links(host.netns()).await?;
            let peers: Vec<Ipv4Addr> = self
                .hosts
                .iter()
                .filter(|other| other.name != host.name)
                .filter_map(|other| other.underlay)
                .collect();
            if self.driver == SegmentDriver::Vlan {
                ovs::ensure_host(self.site(), index, host.trunk.as_deref()).await?;
            }
            for subnet in plan.subnets() {
                segments::ensure_bridge(host.netns(), &host_links, subnet.segment).await?;
                match self.driver {
                    SegmentDriver::Vxlan => {
                        segments::join_vxlan(
                            host.netns(),
                            &host_links,
                            subnet.segment,
                            host.underlay,
                            &peers,
                        )
                        .await?
                    }
                    SegmentDriver::Vlan => {
                        ovs::ensure_segment(
                            host.netns(),
                            &root_links,
                            self.site(),
                            index,
                            subnet.segment,
                        )
                        .await?
                    }
                }
            }
            let rules = firewall::ruleset(&firewall::table_name(self.site()), plan);
            run_with_input(host.netns(), "nft", &["-f", "-"], Some(&rules)).await?;
            let on = format!("{BRIDGE_NETFILTER}=1");
            run(host.netns(), "sysctl", &["-qw", &on]).await?;
        }
        let node = &self.hosts[0];
        let mut node_links = links(node.netns()).await?;
        if edge::remove_old_public_bridge(node.netns(), &node_links, self.site()).await? {
            node_links = links(node.netns()).await?;
        }
        let existing = router::namespaces().await?;
        match plan.public_pool {
            Some(pool) => edge::ensure(self.site(), &pool, &existing).await?,
            None => {
                edge::remove(self.site(), &existing).await;
            }
        }
        let edge_ns = names::edge_ns(self.site());
        let public_bridge = names::public_bridge(self.site());
        for vpc in &plan.vpcs {
            router::ensure(
                node.netns(),
                &node_links,
                &existing,
                vpc,
                plan.public_pool.map(|pool| router::PublicSide {
                    pool,
                    edge: &edge_ns,
                    bridge: &public_bridge,
                }),
                &self.dir,
                vxlan,
            )
            .await?;
        }
        let wanted: HashSet<String> = plan.vpcs.iter().map(|v| names::router_ns(&v.id)).collect();
        for ns in router::ours(&self.dir) {
            if !wanted.contains(&ns) {
                router::remove(&ns, &self.dir).await;
            }
        }
        for segment in dhcp::segments_with_files(&self.dir) {
            if !planned.contains(&segment) {
                dhcp::stop(&self.dir, segment);
            }
        }
        if self.driver == SegmentDriver::Vlan {
            let root_links = links(None).await?;
            for index in 0..self.hosts.len() {
                ovs::remove_stale(&root_links, index, &planned, &self.segments).await;
            }
        }
        for host in &self.hosts {
            let host_links = links(host.netns()).await?;
            segments::remove_stale(host.netns(), &host_links, &planned, &self.segments).await;
        }
        Ok(())
    }

    /// This site's identity on the machine: the first id of its segment range.
    fn site(&self) -> i64 {
        *self.segments.start()
    }

    /// What exists for a VPC on each host, as text for `skyport admin network show`.
    pub async fn show(&self, plan: &Plan, vpc_id: &str) -> Result<String> {
        let Some(vpc) = plan.vpcs.iter().find(|v| v.id == vpc_id) else {
            return Err(Error::not_found(cloud::ResourceKind::Vpc, vpc_id));
        };
        let mut out = String::new();
        for host in &self.hosts {
            out.push_str(&format!(
                "host {} ({})\n",
                host.name,
                host.netns.as_deref().unwrap_or("this machine")
            ));
            let host_links = links(host.netns()).await?;
            for subnet in &vpc.subnets {
                let bridge = names::bridge(subnet.segment);
                let ports: Vec<&str> = host_links
                    .values()
                    .filter(|l| l.master.as_deref() == Some(bridge.as_str()))
                    .map(|l| l.ifname.as_str())
                    .collect();
                out.push_str(&format!(
                    "  subnet {} {} segment {}: bridge {} {}, ports [{}]\n",
                    subnet.id,
                    subnet.cidr,
                    subnet.segment,
                    bridge,
                    if host_links.contains_key(&bridge) {
                        "present"
                    } else {
                        "MISSING"
                    },
                    ports.join(", ")
                ));
                if let Ok(fdb) = run(
                    host.netns(),
                    "bridge",
                    &["fdb", "show", "dev", &names::vxlan(subnet.segment)],
                )
                .await
                {
                    for line in fdb.lines().filter(|l| l.starts_with("00:00:00:00:00:00")) {
                        out.push_str(&format!("    vxlan {line}\n"));
                    }
                }
            }
        }
        let edge = names::edge_ns(self.site());
        if let Ok(addresses) = run(Some(&edge), "ip", &["-br", "-4", "addr", "show"]).await {
            out.push_str(&format!("edge namespace {edge}\n"));
            for line in addresses.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        let ns = names::router_ns(vpc_id);
        out.push_str(&format!("router namespace {ns}\n"));
        if let Ok(addresses) = run(Some(&ns), "ip", &["-br", "-4", "addr", "show"]).await {
            for line in addresses.lines() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out.push_str(&format!(
            "  dns: resolver {} (enableDnsSupport), hostnames {} (enableDnsHostnames), domain {}\n",
            if vpc.dns.resolver { "on" } else { "off" },
            if vpc.dns.hostnames { "on" } else { "off" },
            vpc.dns.domain
        ));
        for subnet in &vpc.subnets {
            out.push_str(&format!("  leases of {}:\n", subnet.id));
            for line in dhcp::hosts_file(subnet, &vpc.dns).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        if let Ok(rules) = run(
            Some(&ns),
            "nft",
            &["list", "table", "ip", super::nat::TABLE],
        )
        .await
        {
            out.push_str("  nftables:\n");
            for line in rules.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        Ok(out)
    }
}
