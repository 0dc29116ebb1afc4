//! The libvirt network instances are plugged into, its fixed DHCP leases, and
//! the DNAT rule that makes 169.254.169.254 the metadata service.
//!
//! Until tenant networks exist this is one network per site (nova-network's
//! FlatDHCP): a bridge, libvirt's dnsmasq handing each instance the address
//! Skyport chose for it (so DescribeInstances knows it before the guest boots),
//! and optionally NAT to the outside.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use cloud::{Error, Result};
use virt::connect::Connect;
use virt::network::Network;
use virt::sys;

use super::config::ComputeConfig;
use super::libvirt::virt_error;
use super::subnet::Subnet;

/// A fixed lease: which MAC gets which address, named after its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub mac: String,
    pub ip: Ipv4Addr,
    pub name: String,
}

fn network_xml(config: &ComputeConfig, subnet: &Subnet) -> String {
    let gateway = subnet.gateway();
    // Without NAT there is no default route: a classless static route (DHCP
    // option 121) still leads guests to the metadata address.
    let (forward, route) = if config.nat {
        ("<forward mode='nat'/>", String::new())
    } else {
        (
            "",
            format!("<dnsmasq:option value='dhcp-option=121,169.254.169.254/32,{gateway}'/>"),
        )
    };
    // no-ping: dnsmasq would otherwise probe each new address for 3 s first.
    format!(
        "<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>\
<name>{name}</name>{forward}\
<bridge name='{bridge}' stp='off' delay='0'/>\
<dns enable='no'/>\
<ip address='{gateway}' netmask='{netmask}'><dhcp/></ip>\
<dnsmasq:options><dnsmasq:option value='no-ping'/>{route}</dnsmasq:options>\
</network>",
        name = quick_xml::escape::escape(&config.network),
        bridge = quick_xml::escape::escape(&config.bridge),
        netmask = subnet.netmask(),
    )
}

/// The site's network, defined and started if it is not.
pub fn ensure_network(conn: &Connect, config: &ComputeConfig, subnet: &Subnet) -> Result<Network> {
    let network = match Network::lookup_by_name(conn, &config.network) {
        Ok(network) => network,
        Err(_) => {
            let network = Network::define_xml(conn, &network_xml(config, subnet))
                .map_err(|e| virt_error("defining the network", e))?;
            let _ = network.set_autostart(true);
            tracing::info!(network = %config.network, bridge = %config.bridge, cidr = %config.cidr, "created the instance network");
            network
        }
    };
    if !network.is_active().unwrap_or(false) {
        network
            .create()
            .map_err(|e| virt_error("starting the network", e))?;
    }
    Ok(network)
}

/// The fixed leases the network holds.
pub fn leases(network: &Network) -> Result<Vec<Lease>> {
    let xml = network
        .get_xml_desc(0)
        .map_err(|e| virt_error("reading the network", e))?;
    Ok(parse_leases(&xml))
}

fn parse_leases(xml: &str) -> Vec<Lease> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e))
                if e.name().as_ref() == b"host" =>
            {
                let attr = |key: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == key)
                        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
                };
                if let (Some(mac), Some(ip), Some(name)) =
                    (attr(b"mac"), attr(b"ip"), attr(b"name"))
                {
                    if let Ok(ip) = ip.parse() {
                        out.push(Lease { mac, ip, name });
                    }
                }
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

fn lease_xml(lease: &Lease) -> String {
    format!(
        "<host mac='{}' name='{}' ip='{}'/>",
        lease.mac, lease.name, lease.ip
    )
}

const LIVE_AND_CONFIG: sys::virNetworkUpdateFlags =
    sys::VIR_NETWORK_UPDATE_AFFECT_LIVE | sys::VIR_NETWORK_UPDATE_AFFECT_CONFIG;

pub fn add_lease(network: &Network, lease: &Lease) -> Result<()> {
    network
        .update(
            sys::VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
            sys::VIR_NETWORK_SECTION_IP_DHCP_HOST,
            -1,
            &lease_xml(lease),
            LIVE_AND_CONFIG,
        )
        .map_err(|e| virt_error("adding a DHCP lease", e))
}

pub fn remove_lease(network: &Network, lease: &Lease) -> Result<()> {
    network
        .update(
            sys::VIR_NETWORK_UPDATE_COMMAND_DELETE,
            sys::VIR_NETWORK_SECTION_IP_DHCP_HOST,
            -1,
            &lease_xml(lease),
            LIVE_AND_CONFIG,
        )
        .map_err(|e| virt_error("removing a DHCP lease", e))
}

/// The nftables table this site owns (one per network name).
pub(super) fn metadata_table(config: &ComputeConfig) -> String {
    let name: String = config
        .network
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("skyport_md_{name}")
}

/// Installs (or replaces, atomically) the rule sending guests' traffic for
/// 169.254.169.254:80 to the metadata service on the host's address.
pub fn ensure_metadata_redirect(config: &ComputeConfig, subnet: &Subnet) -> Result<()> {
    let table = metadata_table(config);
    let script = format!(
        "add table ip {table}\ndelete table ip {table}\n\
table ip {table} {{\n\
  chain prerouting {{\n\
    type nat hook prerouting priority dstnat; policy accept;\n\
    iifname \"{bridge}\" ip daddr 169.254.169.254 tcp dport 80 dnat to {gateway}:{port}\n\
  }}\n\
}}\n",
        bridge = config.bridge,
        gateway = subnet.gateway(),
        port = config.metadata_port,
    );
    nft(&script)
}

fn nft(script: &str) -> Result<()> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Unavailable(format!("running nft (install nftables): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| Error::internal(format!("writing to nft: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::internal(format!("nft: {e}")))?;
    if !output.status.success() {
        return Err(Error::Unavailable(format!(
            "nft refused the metadata rule: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_read_from_the_network_xml() {
        let xml = "<network><name>n</name><ip address='10.251.0.1' netmask='255.255.255.0'><dhcp>\
                   <host mac='52:54:00:00:00:01' name='skyport-a' ip='10.251.0.2'/>\
                   <host mac='52:54:00:00:00:02' ip='10.251.0.3'/></dhcp></ip></network>";
        assert_eq!(
            parse_leases(xml),
            vec![Lease {
                mac: "52:54:00:00:00:01".into(),
                ip: Ipv4Addr::new(10, 251, 0, 2),
                name: "skyport-a".into()
            }]
        );
    }

    #[test]
    fn network_xml_has_no_dns_and_the_first_address() {
        let config = ComputeConfig::default();
        let xml = network_xml(&config, &Subnet::parse(&config.cidr).unwrap());
        assert!(xml.contains("<ip address='10.251.0.1' netmask='255.255.255.0'>"));
        assert!(xml.contains("<forward mode='nat'/>"));
        assert!(xml.contains("<dns enable='no'/>"));
    }
}
