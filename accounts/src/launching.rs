//! Instances being launched into tenant subnets and not yet recorded. The
//! network plan gives each its port (its groups' rules) from the moment its
//! address is reserved, so no guest ever runs on a subnet without its
//! security groups: the hosts' pass before the guest starts already has
//! them, and so does any pass until the instance's record takes over.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One interface of a launch under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LaunchingPort {
    pub vpc: String,
    pub segment: u32,
    pub ip: Ipv4Addr,
    /// The security groups the instance will have.
    pub groups: Vec<String>,
}

/// The launches under way in this process.
#[derive(Default)]
pub(crate) struct Launching {
    next: AtomicU64,
    ports: Mutex<HashMap<u64, Vec<LaunchingPort>>>,
}

/// Keeps a launch's ports in the plan until dropped: once its instances are
/// recorded (their records carry the same ports), or when it fails.
pub(crate) struct LaunchGuard {
    launching: Arc<Launching>,
    key: u64,
}

impl Launching {
    /// Adds a launch's ports; they stay until the guard is dropped.
    pub fn add(self: &Arc<Self>, ports: Vec<LaunchingPort>) -> LaunchGuard {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.ports
            .lock()
            .expect("launching lock")
            .insert(key, ports);
        LaunchGuard {
            launching: Arc::clone(self),
            key,
        }
    }

    /// Every port of the launches under way.
    pub fn ports(&self) -> Vec<LaunchingPort> {
        self.ports
            .lock()
            .expect("launching lock")
            .values()
            .flatten()
            .cloned()
            .collect()
    }
}

impl Drop for LaunchGuard {
    fn drop(&mut self) {
        self.launching
            .ports
            .lock()
            .expect("launching lock")
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_last_as_long_as_their_guard() {
        let launching = Arc::new(Launching::default());
        let port = |ip| LaunchingPort {
            vpc: "vpc-1".into(),
            segment: 1001,
            ip,
            groups: vec!["sg-1".into()],
        };
        let first = launching.add(vec![port(Ipv4Addr::new(10, 0, 1, 4))]);
        let second = launching.add(vec![port(Ipv4Addr::new(10, 0, 1, 5))]);
        assert_eq!(launching.ports().len(), 2);
        drop(first);
        assert_eq!(launching.ports(), [port(Ipv4Addr::new(10, 0, 1, 5))]);
        drop(second);
        assert!(launching.ports().is_empty());
    }
}
