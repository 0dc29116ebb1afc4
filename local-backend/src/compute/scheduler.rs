//! Which compute host each new instance goes to (nova's filter scheduler, in
//! small): filters drop hosts in another availability zone or without the
//! room (vCPUs and memory, with overcommit ratios), a weigher orders the rest
//! — spread (most free memory first) or pack (least). Pure: the caller
//! gathers the hosts' capacity and usage.

use cloud::{Error, Result};
use serde::Deserialize;

use super::config::InstanceType;

/// How hosts that pass the filters are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Weigher {
    /// Most free memory first: instances spread over hosts.
    #[default]
    Spread,
    /// Least free memory first: hosts fill up one by one.
    Pack,
}

/// One host as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLoad {
    pub zone: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub used_vcpus: u32,
    pub used_memory_mib: u64,
}

/// Overcommit ratios (nova's cpu/ram allocation ratios).
#[derive(Debug, Clone, Copy)]
pub struct Ratios {
    pub cpu: f64,
    pub ram: f64,
}

impl HostLoad {
    fn fits(&self, size: InstanceType, ratios: Ratios) -> bool {
        let vcpus = (f64::from(self.vcpus) * ratios.cpu).floor() as u64;
        let memory = (self.memory_mib as f64 * ratios.ram).floor() as u64;
        u64::from(self.used_vcpus + size.vcpus) <= vcpus
            && self.used_memory_mib + size.memory_mib <= memory
    }

    fn free_memory(&self, ratios: Ratios) -> i64 {
        (self.memory_mib as f64 * ratios.ram) as i64 - self.used_memory_mib as i64
    }
}

/// Hosts (indexes into `hosts`) for `count` instances of `size`, one at a
/// time so each choice sees the load of the ones before; all or nothing.
pub fn place(
    hosts: &[HostLoad],
    size: InstanceType,
    count: u32,
    zone: Option<&str>,
    weigher: Weigher,
    ratios: Ratios,
) -> Result<Vec<usize>> {
    let mut load = hosts.to_vec();
    let mut chosen = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let best = load
            .iter()
            .enumerate()
            .filter(|(_, host)| zone.is_none_or(|zone| host.zone == zone))
            .filter(|(_, host)| host.fits(size, ratios))
            .max_by_key(|(index, host)| {
                let free = host.free_memory(ratios);
                // Ties go to the first host listed.
                let weight = match weigher {
                    Weigher::Spread => free,
                    Weigher::Pack => -free,
                };
                (weight, std::cmp::Reverse(*index))
            })
            .map(|(index, _)| index);
        let Some(index) = best else {
            let zone = zone.map(|z| format!(" in {z}")).unwrap_or_default();
            return Err(Error::Unavailable(format!(
                "insufficient capacity{zone}: no compute host has room for {} more instance(s) of {} vCPU / {} MiB",
                count as usize - chosen.len(),
                size.vcpus,
                size.memory_mib
            )));
        };
        load[index].used_vcpus += size.vcpus;
        load[index].used_memory_mib += size.memory_mib;
        chosen.push(index);
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATIOS: Ratios = Ratios { cpu: 1.0, ram: 1.0 };
    const SMALL: InstanceType = InstanceType {
        vcpus: 1,
        memory_mib: 1024,
    };

    fn host(zone: &str, vcpus: u32, memory_mib: u64) -> HostLoad {
        HostLoad {
            zone: zone.into(),
            vcpus,
            memory_mib,
            used_vcpus: 0,
            used_memory_mib: 0,
        }
    }

    #[test]
    fn spread_alternates_and_pack_fills_one_host_first() {
        let hosts = [host("a", 4, 4096), host("a", 4, 4096)];
        let spread = place(&hosts, SMALL, 4, None, Weigher::Spread, RATIOS).unwrap();
        assert_eq!(spread, [0, 1, 0, 1]);
        let pack = place(&hosts, SMALL, 4, None, Weigher::Pack, RATIOS).unwrap();
        assert_eq!(pack, [0, 0, 0, 0]);
    }

    #[test]
    fn zones_and_capacity_filter_hosts() {
        let hosts = [host("a", 1, 1024), host("b", 8, 8192)];
        assert_eq!(
            place(&hosts, SMALL, 1, Some("a"), Weigher::Spread, RATIOS).unwrap(),
            [0]
        );
        // Zone a holds one small instance only: the second finds no room, and
        // nothing is placed.
        assert!(matches!(
            place(&hosts, SMALL, 2, Some("a"), Weigher::Spread, RATIOS),
            Err(Error::Unavailable(_))
        ));
        assert!(place(&hosts, SMALL, 1, Some("c"), Weigher::Spread, RATIOS).is_err());
        let big = InstanceType {
            vcpus: 2,
            memory_mib: 2048,
        };
        assert_eq!(
            place(&hosts, big, 1, None, Weigher::Pack, RATIOS).unwrap(),
            [1]
        );
    }

    #[test]
    fn overcommit_ratios_make_room() {
        let mut full = host("a", 2, 2048);
        full.used_vcpus = 2;
        full.used_memory_mib = 2048;
        assert!(place(&[full.clone()], SMALL, 1, None, Weigher::Spread, RATIOS).is_err());
        let ratios = Ratios { cpu: 4.0, ram: 1.5 };
        assert_eq!(
            place(&[full], SMALL, 1, None, Weigher::Spread, ratios).unwrap(),
            [0]
        );
    }

    #[test]
    fn a_laptop_runs_more_than_four_t3_micro_by_default() {
        // With the default ratios (OpenStack's cpu_allocation_ratio of 16) a
        // 2-CPU, 8 GiB machine takes eight t3.micro (2 vCPUs, 1 GiB each);
        // memory, not vCPUs, is then the limit. At 4 vCPUs per CPU it took four.
        let defaults = crate::compute::ComputeConfig::default();
        let ratios = Ratios {
            cpu: defaults.cpu_allocation_ratio,
            ram: defaults.ram_allocation_ratio,
        };
        let micro = crate::compute::default_instance_types()["t3.micro"];
        let laptop = [host("a", 2, 8192)];
        assert_eq!(
            place(&laptop, micro, 8, None, Weigher::Pack, ratios).unwrap(),
            [0; 8]
        );
        let old = Ratios { cpu: 4.0, ram: 1.5 };
        assert!(place(&laptop, micro, 5, None, Weigher::Pack, old).is_err());
    }
}
