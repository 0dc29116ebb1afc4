//! Names of what the data plane creates. Linux caps interface names at 15
//! bytes, so devices carry the segment id (at most 8 digits) or a slice of the
//! VPC ID; everything starts with `sk` so a sweep can tell ours from others'.
//! What is one per site (the public bridge, the OVS bridges, the security
//! groups' table) carries the site's identity on the machine: the first id
//! of its segment range, which no other site on the machine may share.

/// Prefix of every network namespace Skyport owns (one router per VPC, and
/// one edge per site).
pub const ROUTER_NS_PREFIX: &str = "skyport-";

/// The subnet's bridge on every host.
pub fn bridge(segment: u32) -> String {
    format!("skb{segment}")
}

/// The subnet's VXLAN device on every host.
pub fn vxlan(segment: u32) -> String {
    format!("skv{segment}")
}

/// The host end of the router's port on the subnet (enslaved to the bridge).
pub fn router_port_host(segment: u32) -> String {
    format!("skg{segment}")
}

/// The Linux bridge end of a subnet's patch into Open vSwitch (vlan driver).
pub fn patch(segment: u32) -> String {
    format!("skl{segment}")
}

/// The router's end of its port on the subnet, inside the router namespace.
pub fn router_port(segment: u32) -> String {
    format!("sn{segment}")
}

/// The VPC's router namespace.
pub fn router_ns(vpc_id: &str) -> String {
    format!("{ROUTER_NS_PREFIX}{vpc_id}")
}

/// The 12 hex digits of a VPC ID that name its devices.
fn vpc_tag(vpc_id: &str) -> &str {
    let hex = vpc_id.strip_prefix("vpc-").unwrap_or(vpc_id);
    &hex[..hex.len().min(12)]
}

/// The host end of the router's external link (on the public bridge).
pub fn external_host(vpc_id: &str) -> String {
    format!("skx{}", vpc_tag(vpc_id))
}

/// The router's end of its external link.
pub const EXTERNAL_PORT: &str = "qg0";

/// The site's edge namespace, in front of the public pool (`edge.rs`).
pub fn edge_ns(site: i64) -> String {
    format!("{ROUTER_NS_PREFIX}edge{site}")
}

/// The bridge in the site's edge where its routers meet the outside.
pub fn public_bridge(site: i64) -> String {
    format!("skpub{site}")
}

/// The site's Open vSwitch bridge for host number `index` (vlan driver;
/// VLAN ids have at most 4 digits).
pub fn ovs_bridge(site: i64, index: usize) -> String {
    format!("skovs{site}h{index}")
}

/// The VXLAN device a site makes for a moment to see the kernel can.
pub fn probe(site: i64) -> String {
    format!("skprobe{site}")
}

/// The segment id a device of ours on a host names: a subnet's bridge,
/// VXLAN device, router port or OVS patch.
pub fn segment_of(device: &str) -> Option<u32> {
    device
        .strip_prefix("skb")
        .or_else(|| device.strip_prefix("skv"))
        .or_else(|| device.strip_prefix("skg"))
        .or_else(|| device.strip_prefix("skl"))
        .and_then(|digits| digits.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_and_parse_back() {
        for name in [
            bridge(16_777_215),
            vxlan(16_777_215),
            router_port_host(16_777_215),
            router_port(16_777_215),
            external_host("vpc-0123456789abcdef0"),
            public_bridge(16_777_215),
            ovs_bridge(4094, 99),
            probe(16_777_215),
        ] {
            assert!(name.len() <= 15, "{name}");
        }
        assert_eq!(segment_of(&bridge(1042)), Some(1042));
        assert_eq!(segment_of(&vxlan(7)), Some(7));
        assert_eq!(segment_of(&patch(4094)), Some(4094));
        assert_eq!(segment_of(&public_bridge(1000)), None);
        assert_eq!(segment_of("eth0"), None);
        assert_eq!(external_host("vpc-0123456789abcdef0"), "skx0123456789ab");
    }
}
