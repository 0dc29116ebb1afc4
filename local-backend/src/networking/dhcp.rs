//! One dnsmasq per subnet, inside the VPC's router namespace, bound to the
//! router's port: fixed MAC → address leases only (the addresses
//! DescribeInstances reports), the router as gateway, and as the VPC's DNS
//! attributes ask, its resolver (`enableDnsSupport`: the instances' names,
//! `ip-10-0-1-5.ec2.internal`) and the hostname and domain DHCP hands out
//! (`enableDnsHostnames`). Its configuration is one generated file: when that
//! changes dnsmasq restarts; the hosts and names files change with leases and
//! dnsmasq re-reads them on SIGHUP.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use cloud::network::router_address;
use cloud::network_plan::{DnsPlan, SubnetPlan};
use cloud::{Error, Result};
use ipnet::Ipv4Net;

use super::command::run;
use super::names;
use super::segments::VXLAN_MTU;

/// The files of one subnet's DHCP server.
struct Files {
    conf: PathBuf,
    hosts: PathBuf,
    names: PathBuf,
    pid: PathBuf,
    leases: PathBuf,
}

fn files(dir: &Path, segment: u32) -> Files {
    Files {
        conf: dir.join(format!("{segment}.conf")),
        hosts: dir.join(format!("{segment}.hosts")),
        names: dir.join(format!("{segment}.names")),
        pid: dir.join(format!("{segment}.pid")),
        leases: dir.join(format!("{segment}.leases")),
    }
}

/// The dhcp-hostsfile text: one `mac,address[,hostname]` line per lease; the
/// hostname (DHCP option 12) only with `enableDnsHostnames`.
pub fn hosts_file(subnet: &SubnetPlan, dns: &DnsPlan) -> String {
    subnet
        .leases
        .iter()
        .map(|lease| {
            if dns.hostnames {
                format!("{},{},{}\n", lease.mac, lease.ip, lease.hostname)
            } else {
                format!("{},{}\n", lease.mac, lease.ip)
            }
        })
        .collect()
}

/// The names the resolver answers (an addn-hosts file): every lease's
/// private DNS name, with and without the domain.
pub fn names_file(subnet: &SubnetPlan, dns: &DnsPlan) -> String {
    subnet
        .leases
        .iter()
        .map(|lease| {
            format!(
                "{} {}.{} {}\n",
                lease.ip, lease.hostname, dns.domain, lease.hostname
            )
        })
        .collect()
}

/// dnsmasq's configuration for a subnet whose files live in `dir`.
pub fn config_file(subnet: &SubnetPlan, dns: &DnsPlan, dir: &Path, vxlan: bool) -> String {
    let files = files(dir, subnet.segment);
    let router = router_address(&subnet.cidr);
    let first = Ipv4Addr::from(u32::from(subnet.cidr.network()) + 4);
    let mut lines = vec![
        "no-hosts".to_string(),
        "no-resolv".into(),
        "bind-interfaces".into(),
        format!("interface={}", names::router_port(subnet.segment)),
        "except-interface=lo".into(),
        format!("dhcp-range={first},static,{},12h", subnet.cidr.netmask()),
        format!("dhcp-hostsfile={}", files.hosts.display()),
        format!("dhcp-leasefile={}", files.leases.display()),
        format!("pid-file={}", files.pid.display()),
        format!("dhcp-option=option:router,{router}"),
        // Addresses are fixed per MAC: probing them first only adds 3 s.
        "no-ping".into(),
        "user=root".into(),
    ];
    if dns.resolver {
        lines.push(format!("dhcp-option=option:dns-server,{router}"));
        lines.push(format!("addn-hosts={}", files.names.display()));
        lines.push(format!("local=/{}/", dns.domain));
    } else {
        // No DNS at all: nothing listens on port 53, and DHCP names no resolver.
        lines.push("port=0".into());
    }
    if dns.hostnames {
        lines.push(format!("domain={}", dns.domain));
    }
    if vxlan {
        lines.push(format!("dhcp-option=option:mtu,{VXLAN_MTU}"));
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Writes `text` to `path` (through a temporary and a rename) when it differs;
/// answers whether it changed.
fn write_if_changed(path: &Path, text: &str) -> Result<bool> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(false);
    }
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))?;
    Ok(true)
}

fn running_pid(pid_file: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

fn signal(pid: i32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

/// Stops a dnsmasq and waits (up to 5 s) until it is gone, so a new one can bind.
async fn stop_process(pid: i32) {
    signal(pid, "TERM");
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    signal(pid, "KILL");
}

/// Makes the subnet's dnsmasq run with the planned leases and DNS.
pub async fn ensure(
    dir: &Path,
    netns: &str,
    subnet: &SubnetPlan,
    dns: &DnsPlan,
    vxlan: bool,
) -> Result<()> {
    let files = files(dir, subnet.segment);
    let hosts_changed = write_if_changed(&files.hosts, &hosts_file(subnet, dns))?;
    let names_changed = write_if_changed(&files.names, &names_file(subnet, dns))?;
    let config_changed = write_if_changed(&files.conf, &config_file(subnet, dns, dir, vxlan))?;
    let mut running = running_pid(&files.pid);
    if let Some(pid) = running.filter(|_| config_changed) {
        stop_process(pid).await;
        running = None;
    }
    match running {
        Some(pid) if hosts_changed || names_changed => signal(pid, "HUP"),
        Some(_) => {}
        None => {
            let conf = format!("--conf-file={}", files.conf.display());
            run(Some(netns), "dnsmasq", &[conf.as_str()]).await?;
        }
    }
    Ok(())
}

/// Stops the DHCP server of a segment and removes its files.
pub fn stop(dir: &Path, segment: u32) {
    let files = files(dir, segment);
    if let Some(pid) = running_pid(&files.pid) {
        signal(pid, "TERM");
    }
    for path in [
        files.conf,
        files.hosts,
        files.names,
        files.pid,
        files.leases,
    ] {
        let _ = std::fs::remove_file(path);
    }
}

/// Segments that have DHCP files in `dir` (to find servers of removed subnets).
pub fn segments_with_files(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".pid")?.parse().ok()
        })
        .collect()
}

/// The subnet's router address with its prefix (`10.0.1.1/24`).
pub fn router_cidr(cidr: &Ipv4Net) -> String {
    format!("{}/{}", router_address(cidr), cidr.prefix_len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud::network_plan::Lease;

    fn subnet() -> SubnetPlan {
        SubnetPlan {
            id: "subnet-1".into(),
            segment: 1001,
            cidr: "10.0.1.0/24".parse().unwrap(),
            internet: false,
            leases: vec![Lease {
                mac: "02:00:0a:00:01:04".into(),
                ip: Ipv4Addr::new(10, 0, 1, 4),
                hostname: "ip-10-0-1-4".into(),
            }],
        }
    }

    fn dns(resolver: bool, hostnames: bool) -> DnsPlan {
        DnsPlan {
            resolver,
            hostnames,
            domain: DnsPlan::domain_of("eu-west-1"),
        }
    }

    #[test]
    fn leases_and_the_common_configuration() {
        let subnet = subnet();
        let config = config_file(&subnet, &dns(true, true), Path::new("/d"), true);
        let lines: Vec<&str> = config.lines().collect();
        for line in [
            "interface=sn1001",
            "dhcp-range=10.0.1.4,static,255.255.255.0,12h",
            "dhcp-hostsfile=/d/1001.hosts",
            "dhcp-option=option:router,10.0.1.1",
            "dhcp-option=option:mtu,1450",
        ] {
            assert!(lines.contains(&line), "{line} in {config}");
        }
        assert_eq!(router_cidr(&subnet.cidr), "10.0.1.1/24");
    }

    #[test]
    fn dns_support_serves_names_or_no_dns_at_all() {
        let subnet = subnet();
        let served = config_file(&subnet, &dns(true, false), Path::new("/d"), false);
        assert!(
            served.contains("dhcp-option=option:dns-server,10.0.1.1\n"),
            "{served}"
        );
        assert!(served.contains("addn-hosts=/d/1001.names\n"), "{served}");
        assert!(!served.contains("port=0"), "{served}");
        assert_eq!(
            names_file(&subnet, &dns(true, false)),
            "10.0.1.4 ip-10-0-1-4.eu-west-1.compute.internal ip-10-0-1-4\n"
        );
        let off = config_file(&subnet, &dns(false, false), Path::new("/d"), false);
        assert!(off.contains("port=0\n"), "{off}");
        assert!(!off.contains("dns-server"), "{off}");
        assert!(!off.contains("addn-hosts"), "{off}");
    }

    #[test]
    fn dns_hostnames_name_each_lease_and_the_domain() {
        let subnet = subnet();
        let with = config_file(&subnet, &dns(true, true), Path::new("/d"), false);
        assert!(
            with.contains("domain=eu-west-1.compute.internal\n"),
            "{with}"
        );
        assert_eq!(
            hosts_file(&subnet, &dns(true, true)),
            "02:00:0a:00:01:04,10.0.1.4,ip-10-0-1-4\n"
        );
        let without = config_file(&subnet, &dns(true, false), Path::new("/d"), false);
        assert!(!without.contains("domain="), "{without}");
        assert_eq!(
            hosts_file(&subnet, &dns(true, false)),
            "02:00:0a:00:01:04,10.0.1.4\n"
        );
        assert_eq!(DnsPlan::domain_of("us-east-1"), "ec2.internal");
    }
}
