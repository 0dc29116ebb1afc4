//! What the data-plane tests share: running commands (in namespaces),
//! guest stand-ins (a namespace with `eth0` on a host's subnet bridge),
//! DHCP with busybox udhcpc, and probes for ICMP, TCP and UDP.
#![allow(dead_code)] // each test binary uses its own share of these

pub mod probes;

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use local_backend::networking::{names, NetHostConfig, SegmentDriver};

pub fn sh(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"))
}

pub fn ok(args: &[&str]) -> String {
    let out = sh(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn in_ns(ns: &str, args: &[&str]) -> Output {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    sh(&full)
}

pub fn ns_ok(ns: &str, args: &[&str]) -> String {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    ok(&full)
}

/// Whether `from` gets an ICMP echo reply from `to`.
pub fn pings(from: &str, to: &str) -> bool {
    in_ns(
        from,
        &["timeout", "5", "busybox", "ping", "-c", "1", "-W", "2", to],
    )
    .status
    .success()
}

/// A TCP server in `ns` that answers each connection with the address the
/// connection came from, and closes it.
pub struct Server(std::process::Child);

impl Server {
    pub fn start(ns: &str, port: u16) -> Server {
        let script = format!(
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',{port}))\ns.listen()\nwhile True:\n  c,a=s.accept()\n  c.sendall(a[0].encode())\n  c.close()\n"
        );
        Server::spawn(ns, &script)
    }

    /// Runs a Python server script in `ns`, given a moment to bind.
    pub fn spawn(ns: &str, script: &str) -> Server {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", script])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects from `ns` to `to:port`; the peer address the server saw, or None.
pub fn tcp(ns: &str, to: &str, port: u16) -> Option<String> {
    let script = format!(
        "import socket\ns=socket.create_connection(('{to}',{port}),timeout=3)\nprint(s.recv(64).decode())\n"
    );
    let out = in_ns(ns, &["timeout", "6", "python3", "-c", &script]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Plugs a guest stand-in: namespace `ns` with `eth0` (MAC `mac`) whose peer
/// `port` sits on `bridge` in namespace `host`.
pub fn plug_guest(ns: &str, host: &str, port: &str, bridge: &str, mac: &str) {
    ok(&["ip", "netns", "add", ns]);
    ok(&[
        "ip", "-n", host, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
    ]);
    ok(&["ip", "-n", host, "link", "set", port, "mtu", "1450"]);
    ok(&["ip", "-n", host, "link", "set", port, "master", bridge]);
    ok(&["ip", "-n", host, "link", "set", port, "up"]);
    ns_ok(ns, &["ip", "link", "set", "eth0", "address", mac]);
    ns_ok(ns, &["ip", "link", "set", "eth0", "mtu", "1450"]);
    ns_ok(ns, &["ip", "link", "set", "eth0", "up"]);
    ns_ok(ns, &["ip", "link", "set", "lo", "up"]);
}

/// Gives a plugged guest its address and default route without DHCP.
pub fn address_guest(ns: &str, ip: Ipv4Addr, prefix: u8, router: Ipv4Addr) {
    ns_ok(
        ns,
        &[
            "ip",
            "addr",
            "add",
            &format!("{ip}/{prefix}"),
            "dev",
            "eth0",
        ],
    );
    ns_ok(
        ns,
        &["ip", "route", "add", "default", "via", &router.to_string()],
    );
}

/// What a guest's DHCP client was offered.
pub struct Offer {
    pub address: String,
    pub router: String,
    /// Option 12 (empty when not offered).
    pub hostname: String,
    /// Option 15.
    pub domain: String,
    /// Option 6.
    pub dns: String,
}

/// Runs udhcpc in guest `ns` and configures what the server offered
/// (replacing any address it had).
pub fn dhcp(ns: &str, script_dir: &std::path::Path) -> Offer {
    let script = script_dir.join("udhcpc.sh");
    let record = script_dir.join(format!("{ns}.lease"));
    let _ = std::fs::remove_file(&record);
    std::fs::write(
        &script,
        "#!/bin/sh\nif [ \"$1\" = bound ]; then\n  ip addr flush dev \"$interface\"\n  ip addr add \"$ip/$subnet\" dev \"$interface\"\n  ip route replace default via \"$router\"\n  printf '%s\\n' \"$ip\" \"$router\" \"$hostname\" \"$domain\" \"$dns\" > \"$LEASE_RECORD\"\nfi\n",
    )
    .unwrap();
    ok(&["chmod", "+x", script.to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t",
                "4", "-T", "1", "-O", "hostname", "-O", "domain", "-s",
            ])
            .arg(&script)
            .env("LEASE_RECORD", &record)
            .output()
            .unwrap();
        if let Ok(text) = std::fs::read_to_string(&record) {
            let mut lines = text.lines().map(|l| l.trim().to_string());
            let mut next = || lines.next().unwrap_or_default();
            return Offer {
                address: next(),
                router: next(),
                hostname: next(),
                domain: next(),
                dns: next(),
            };
        }
        assert!(
            Instant::now() < deadline,
            "{ns} got no lease: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Kills what runs inside namespace `name`, then deletes it.
pub fn delete_namespace(name: &str) {
    let pids = sh(&["ip", "netns", "pids", name]);
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        sh(&["kill", "-9", pid]);
    }
    sh(&["ip", "netns", "del", name]);
}

/// The network namespaces that exist.
pub fn namespaces() -> Vec<String> {
    let listed = sh(&["ip", "netns", "list"]);
    String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Two "hosts" for `driver`: namespaces `a` and `b` joined by a veth fabric
/// (`fab0`, `<fabric>.1/24` and `<fabric>.2/24`), and for vlan a veth pair
/// `trunks` in the root namespace that becomes the trunk between their Open
/// vSwitch bridges. Returns their `[[network.hosts]]`.
pub fn two_hosts(
    driver: SegmentDriver,
    (a, b): (&str, &str),
    fabric: &str,
    (trunk_a, trunk_b): (&str, &str),
) -> Vec<NetHostConfig> {
    for ns in [a, b] {
        ok(&["ip", "netns", "add", ns]);
        ns_ok(ns, &["ip", "link", "set", "lo", "up"]);
    }
    ok(&[
        "ip", "-n", a, "link", "add", "fab0", "type", "veth", "peer", "name", "fab0", "netns", b,
    ]);
    let underlay = |n: u8| format!("{fabric}.{n}");
    for (ns, n) in [(a, 1), (b, 2)] {
        let address = format!("{}/24", underlay(n));
        ok(&["ip", "-n", ns, "addr", "add", &address, "dev", "fab0"]);
        ok(&["ip", "-n", ns, "link", "set", "fab0", "up"]);
    }
    let vlan = driver == SegmentDriver::Vlan;
    if vlan {
        ok(&[
            "ip", "link", "add", trunk_a, "type", "veth", "peer", "name", trunk_b,
        ]);
    }
    [("a", a, 1, trunk_a), ("b", b, 2, trunk_b)]
        .into_iter()
        .map(|(name, netns, n, trunk)| NetHostConfig {
            name: name.into(),
            netns: netns.into(),
            underlay: if vlan { String::new() } else { underlay(n) },
            trunk: if vlan { trunk.into() } else { String::new() },
        })
        .collect()
}

/// A guest stand-in: its namespace, the host namespace it is plugged into,
/// its subnet's segment, MAC and address.
pub struct Guest {
    pub ns: &'static str,
    pub host: &'static str,
    pub segment: u32,
    pub mac: &'static str,
    pub ip: Ipv4Addr,
}

impl Guest {
    /// Plugs it into its subnet's bridge on its host, by port `port`.
    pub fn plug(&self, port: &str) {
        plug_guest(
            self.ns,
            self.host,
            port,
            &names::bridge(self.segment),
            self.mac,
        );
    }
}

/// Removes what a two-host test site made (also half-way): the VLAN trunk,
/// the site's OVS bridges and patches (segment ids starting with
/// `segments`), and namespaces for which `ours` holds.
pub fn clean_hosts(site: i64, trunk: &str, segments: &str, ours: impl Fn(&str) -> bool) {
    sh(&["ip", "link", "del", trunk]);
    for index in 0..2 {
        sh(&[
            "ovs-vsctl",
            "--if-exists",
            "del-br",
            &names::ovs_bridge(site, index),
        ]);
    }
    let root = sh(&["ip", "-br", "link"]);
    for line in String::from_utf8_lossy(&root.stdout).lines() {
        let name = line.split(['@', ' ']).next().unwrap_or_default();
        if (0..2).any(|index| name.starts_with(&format!("sk{index}v{segments}"))) {
            sh(&["ip", "link", "del", name]);
        }
    }
    for name in namespaces() {
        if ours(&name) {
            delete_namespace(&name);
        }
    }
}
