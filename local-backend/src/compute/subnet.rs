//! An IPv4 subnet as the local network uses it: the host takes the first
//! address, instances the rest.

use std::net::Ipv4Addr;

use cloud::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: u32,
    prefix: u8,
}

impl Subnet {
    /// Parses `a.b.c.d/n` (n between 16 and 29).
    pub fn parse(cidr: &str) -> Result<Subnet> {
        let bad = || {
            Error::invalid(
                "compute.cidr",
                format!("'{cidr}' is not an IPv4 CIDR like 10.251.0.0/24"),
            )
        };
        let (address, prefix) = cidr.split_once('/').ok_or_else(bad)?;
        let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        if !(16..=29).contains(&prefix) {
            return Err(Error::invalid(
                "compute.cidr",
                format!("'{cidr}': the prefix must be between /16 and /29"),
            ));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet {
            network: u32::from(address) & mask,
            prefix,
        })
    }

    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX << (32 - self.prefix))
    }

    /// The host's address on the network (the first one).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }

    /// Addresses instances may get, in order.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let broadcast = self.network | !(u32::MAX << (32 - self.prefix));
        (self.network + 2..broadcast).map(Ipv4Addr::from)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & (u32::MAX << (32 - self.prefix)) == self.network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lists_hosts() {
        let subnet = Subnet::parse("10.251.0.7/24").unwrap();
        assert_eq!(subnet.gateway(), Ipv4Addr::new(10, 251, 0, 1));
        assert_eq!(subnet.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        let hosts: Vec<_> = subnet.hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(10, 251, 0, 2)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(10, 251, 0, 254)));
        assert!(subnet.contains(Ipv4Addr::new(10, 251, 0, 200)));
        assert!(!subnet.contains(Ipv4Addr::new(10, 251, 1, 1)));
        assert!(Subnet::parse("10.0.0.0/8").is_err());
        assert!(Subnet::parse("10.0.0/24").is_err());
    }
}
