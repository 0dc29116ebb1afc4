//! One dnsmasq per subnet, inside the VPC's router namespace, bound to the
//! router's port: fixed MAC → address leases only (the addresses
//! DescribeInstances reports), the router as gateway and DNS server. The
//! hosts file is rewritten when leases change and dnsmasq re-reads it on SIGHUP.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use cloud::network::router_address;
use cloud::{Error, Result};
use ipnet::Ipv4Net;

use super::command::run;
use super::names;
use super::segments::VXLAN_MTU;
use cloud::network_plan::SubnetPlan;

/// The files of one subnet's DHCP server.
struct Files {
    hosts: PathBuf,
    pid: PathBuf,
    leases: PathBuf,
}

fn files(dir: &Path, segment: u32) -> Files {
    Files {
        hosts: dir.join(format!("{segment}.hosts")),
        pid: dir.join(format!("{segment}.pid")),
        leases: dir.join(format!("{segment}.leases")),
    }
}

/// The dhcp-hostsfile text: one `mac,address,hostname` line per lease.
pub fn hosts_file(subnet: &SubnetPlan) -> String {
    subnet
        .leases
        .iter()
        .map(|lease| format!("{},{},{}\n", lease.mac, lease.ip, lease.hostname))
        .collect()
}

/// dnsmasq's arguments for a subnet.
fn arguments(subnet: &SubnetPlan, files: &Files, vxlan: bool) -> Vec<String> {
    let router = router_address(&subnet.cidr);
    let first = Ipv4Addr::from(u32::from(subnet.cidr.network()) + 4);
    let mut args = vec![
        "--conf-file=/dev/null".to_string(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        "--bind-interfaces".into(),
        format!("--interface={}", names::router_port(subnet.segment)),
        "--except-interface=lo".into(),
        format!("--dhcp-range={first},static,{},12h", subnet.cidr.netmask()),
        format!("--dhcp-hostsfile={}", files.hosts.display()),
        format!("--dhcp-leasefile={}", files.leases.display()),
        format!("--pid-file={}", files.pid.display()),
        format!("--dhcp-option=option:router,{router}"),
        format!("--dhcp-option=option:dns-server,{router}"),
        "--domain=ec2.internal".into(),
        "--local=/ec2.internal/".into(),
        // Addresses are fixed per MAC: probing them first only adds 3 s.
        "--no-ping".into(),
        "--user=root".into(),
    ];
    if vxlan {
        args.push(format!("--dhcp-option=option:mtu,{VXLAN_MTU}"));
    }
    args
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

/// Makes the subnet's dnsmasq run with the planned leases.
pub async fn ensure(dir: &Path, netns: &str, subnet: &SubnetPlan, vxlan: bool) -> Result<()> {
    let files = files(dir, subnet.segment);
    let text = hosts_file(subnet);
    let changed = std::fs::read_to_string(&files.hosts).ok().as_deref() != Some(text.as_str());
    if changed {
        let temporary = files.hosts.with_extension("hosts.tmp");
        std::fs::write(&temporary, &text)
            .and_then(|()| std::fs::rename(&temporary, &files.hosts))
            .map_err(|e| Error::internal(format!("writing {}: {e}", files.hosts.display())))?;
    }
    match running_pid(&files.pid) {
        Some(pid) if changed => signal(pid, "HUP"),
        Some(_) => {}
        None => {
            let args = arguments(subnet, &files, vxlan);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run(Some(netns), "dnsmasq", &args).await?;
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
    for path in [files.hosts, files.pid, files.leases] {
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

    #[test]
    fn leases_and_arguments() {
        let subnet = SubnetPlan {
            id: "subnet-1".into(),
            segment: 1001,
            cidr: "10.0.1.0/24".parse().unwrap(),
            internet: false,
            leases: vec![Lease {
                mac: "02:00:0a:00:01:04".into(),
                ip: Ipv4Addr::new(10, 0, 1, 4),
                hostname: "ip-10-0-1-4".into(),
            }],
        };
        assert_eq!(
            hosts_file(&subnet),
            "02:00:0a:00:01:04,10.0.1.4,ip-10-0-1-4\n"
        );
        let args = arguments(&subnet, &files(Path::new("/d"), 1001), true);
        assert!(args.contains(&"--interface=sn1001".to_string()));
        assert!(args.contains(&"--dhcp-range=10.0.1.4,static,255.255.255.0,12h".to_string()));
        assert!(args.contains(&"--dhcp-option=option:router,10.0.1.1".to_string()));
        assert!(args.contains(&"--dhcp-option=option:mtu,1450".to_string()));
        assert_eq!(router_cidr(&subnet.cidr), "10.0.1.1/24");
    }
}
