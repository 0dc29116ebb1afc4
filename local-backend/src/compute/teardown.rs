//! Taking a site's compute off this machine, for `skyport site teardown`
//! (the gateway stopped): its instances' domains (only when forced), its
//! libvirt network (and with it the bridge and libvirt's dnsmasq), and the
//! metadata redirect's nftables table. Hosts on other machines are not
//! touched.

use cloud::{Error, Result};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::network::Network;
use virt::sys;

use super::config::ComputeConfig;
use super::domain::{parse_meta, METADATA_URI};
use super::libvirt::virt_error;
use super::network::metadata_table;

/// This site's domains on one connection: (name, running).
fn site_domains(conn: &Connect, site: &str) -> Result<Vec<(Domain, String, bool)>> {
    let domains = conn
        .list_all_domains(0)
        .map_err(|e| virt_error("listing domains", e))?;
    Ok(domains
        .into_iter()
        .filter(|domain| {
            domain
                .get_metadata(
                    sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                    Some(METADATA_URI),
                    0,
                )
                .ok()
                .and_then(|element| parse_meta(&element))
                .is_some_and(|meta| meta.site == site)
        })
        .filter_map(|domain| {
            let name = domain.get_name().ok()?;
            let running = domain.is_active().unwrap_or(false);
            Some((domain, name, running))
        })
        .collect())
}

/// Removes what the site configured by `config` made on this machine's
/// libvirt; returns what it removed, one line each. Refused, before anything
/// is removed, while the site has instances here, unless `force` (which
/// destroys and undefines them; their disks stay in the data directory).
pub fn teardown(config: &ComputeConfig, force: bool) -> Result<Vec<String>> {
    virt::error::clear_error_callback();
    let mut connections = Vec::new();
    for host in config.host_list() {
        if !host.uri.starts_with("qemu:///") {
            continue;
        }
        let conn = Connect::open(Some(&host.uri)).map_err(|e| {
            Error::Unavailable(format!(
                "cannot connect to libvirt on host {} ({}): {}",
                host.name,
                host.uri,
                e.message()
            ))
        })?;
        connections.push(conn);
    }
    let mut instances = Vec::new();
    for conn in &connections {
        instances.extend(site_domains(conn, &config.network)?);
    }
    if !instances.is_empty() && !force {
        let listed: Vec<String> = instances
            .iter()
            .map(|(_, name, running)| {
                format!("{name} ({})", if *running { "running" } else { "stopped" })
            })
            .collect();
        return Err(Error::IncorrectState(format!(
            "this site still has instances on this machine: {}; terminate them first, \
             or --force destroys them with the rest (their disks stay in the data directory)",
            listed.join(", ")
        )));
    }
    let mut removed = Vec::new();
    for (domain, name, running) in instances {
        if running {
            domain
                .destroy()
                .map_err(|e| virt_error("destroying a domain", e))?;
        }
        domain
            .undefine()
            .map_err(|e| virt_error("undefining a domain", e))?;
        removed.push(format!("instance domain {name}"));
    }
    for conn in &mut connections {
        if let Ok(network) = Network::lookup_by_name(conn, &config.network) {
            if network.is_active().unwrap_or(false) {
                network
                    .destroy()
                    .map_err(|e| virt_error("stopping the network", e))?;
            }
            network
                .undefine()
                .map_err(|e| virt_error("undefining the network", e))?;
            removed.push(format!(
                "libvirt network {} (bridge {})",
                config.network, config.bridge
            ));
        }
        let _ = conn.close();
    }
    if !connections.is_empty() {
        let table = metadata_table(config);
        let deleted = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .output();
        if deleted.is_ok_and(|out| out.status.success()) {
            removed.push(format!("nftables table {table}"));
        }
    }
    Ok(removed)
}
