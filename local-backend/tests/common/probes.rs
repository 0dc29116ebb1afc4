//! Probes between guest stand-ins for the security-group tests: servers
//! each guest runs, one-shot probes (TCP, UDP, ICMP, DNS) run from a guest
//! all at once, and long-lived connections that echo for as long as they last.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use super::ns_ok;

/// What a probe tries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Probe {
    Tcp(u16),
    Udp(u16),
    Icmp,
    /// A DNS query to the subnet's router.
    Dns,
}

/// Each guest's servers: TCP 22 and 80 answer `ok` and close, TCP 7000
/// echoes lines for as long as the connection lasts, UDP 53 echoes.
pub const SERVERS: &str = r#"
import socket, threading
def tcp(port, echo):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('0.0.0.0', port)); s.listen(64)
    while True:
        c, _ = s.accept()
        if echo:
            threading.Thread(target=lambda c=c: [c.sendall(l) for l in c.makefile('rb')], daemon=True).start()
        else:
            c.sendall(b'ok'); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', port))
    while True:
        data, address = s.recvfrom(512); s.sendto(data, address)
for port, echo in ((22, False), (80, False), (7000, True)):
    threading.Thread(target=tcp, args=(port, echo), daemon=True).start()
threading.Thread(target=udp, args=(53,), daemon=True).start()
threading.Event().wait()
"#;

/// Tries every `(kind, address, port)` of argv[1] at once; prints a JSON list of outcomes.
const PROBER: &str = r#"
import json, socket, subprocess, sys, threading
targets = json.loads(sys.argv[1]); results = [False] * len(targets)
QUERY = b'\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01x\x03ec2\x08internal\x00\x00\x01\x00\x01'
def probe(i, kind, address, port):
    try:
        if kind == 'tcp':
            s = socket.create_connection((address, port), timeout=2); results[i] = s.recv(8) == b'ok'
        elif kind in ('udp', 'dns'):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
            s.sendto(QUERY if kind == 'dns' else b'x', (address, port)); results[i] = len(s.recv(512)) > 0
        else:
            results[i] = subprocess.run(['busybox', 'ping', '-c', '1', '-W', '2', address],
                                        capture_output=True).returncode == 0
    except OSError:
        pass
threads = [threading.Thread(target=probe, args=(i, *t)) for i, t in enumerate(targets)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps(results))
"#;

/// Runs every probe from `ns` at once; their outcomes in order.
pub fn probe_from(ns: &str, probes: &[(Probe, Ipv4Addr)]) -> Vec<bool> {
    let targets: Vec<String> = probes
        .iter()
        .map(|(probe, address)| match probe {
            Probe::Tcp(port) => format!("[\"tcp\",\"{address}\",{port}]"),
            Probe::Udp(port) => format!("[\"udp\",\"{address}\",{port}]"),
            Probe::Dns => format!("[\"dns\",\"{address}\",53]"),
            Probe::Icmp => format!("[\"icmp\",\"{address}\",0]"),
        })
        .collect();
    let out = ns_ok(
        ns,
        &[
            "timeout",
            "20",
            "python3",
            "-c",
            PROBER,
            &format!("[{}]", targets.join(",")),
        ],
    );
    let results: Vec<bool> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(results.len(), probes.len());
    results
}

/// A connection from a guest that echoes lines for as long as it lasts.
pub struct Flow {
    child: Child,
    input: ChildStdin,
    lines: Receiver<String>,
}

impl Flow {
    /// Connects from namespace `from` to `to`:7000; None when refused.
    pub fn open(from: &str, to: Ipv4Addr) -> Option<Flow> {
        let script = format!(
            "import socket, sys\ns = socket.create_connection(('{}', 7000), timeout=2)\ns.settimeout(5)\nprint('connected', flush=True)\nf = s.makefile('rb')\nfor line in sys.stdin:\n    s.sendall(line.encode()); print(f.readline().decode().strip(), flush=True)\n",
            to
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", from, "python3", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut flow = Flow {
            child,
            input,
            lines,
        };
        (flow.next_line().as_deref() == Some("connected")).then_some(flow)
    }

    fn next_line(&mut self) -> Option<String> {
        self.lines.recv_timeout(Duration::from_secs(6)).ok()
    }

    /// Whether a line sent comes back.
    pub fn echoes(&mut self, text: &str) -> bool {
        writeln!(self.input, "{text}").is_ok()
            && self.input.flush().is_ok()
            && self.next_line().as_deref() == Some(text)
    }
}

impl Drop for Flow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
