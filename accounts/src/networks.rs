//! What tenant networks share across the site: the range of segment ids
//! (VLAN ids or VNIs) subnets draw from, the public address pool elastic IPs
//! come from, and the zones default subnets are made in.

use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

use cloud::{Error, Result};
use ipnet::Ipv4Net;
use sqlx::AnyConnection;

use datastore::{db_err, int, text};

/// Site-wide network settings (the gateway reads them from `[network]`).
#[derive(Debug, Clone)]
pub struct NetworkSettings {
    /// Segment ids handed to subnets, never two subnets at once.
    pub segments: RangeInclusive<i64>,
    /// Where elastic IPs come from; `None` = this site has no public addresses.
    pub public_pool: Option<Ipv4Net>,
    /// Availability zones, in order: one default subnet is made in each.
    pub zones: Vec<String>,
    /// Why this site's instances cannot join tenant subnets (no data plane);
    /// `None` when they can.
    pub data_plane_missing: Option<String>,
    /// The MTU of subnets when below Ethernet's (VXLAN between hosts).
    pub mtu: Option<u32>,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            segments: 1000..=4000,
            public_pool: None,
            zones: vec!["local-a".into()],
            data_plane_missing: Some("tenant networks are not configured".into()),
            mtu: None,
        }
    }
}

/// The default VPC's block, as on AWS; its default subnets are /20s from the start of it.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";

/// The lowest segment id in `range` that no subnet holds. Runs inside the
/// caller's write transaction; the unique column settles any race.
pub(crate) async fn free_segment(
    conn: &mut AnyConnection,
    range: &RangeInclusive<i64>,
) -> Result<i64> {
    let used = sqlx::query(
        "SELECT segment FROM subnets WHERE segment >= $1 AND segment <= $2 ORDER BY segment",
    )
    .bind(range.start())
    .bind(range.end())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut candidate = *range.start();
    for row in &used {
        let segment = int(row, "segment")?;
        if segment > candidate {
            break;
        }
        candidate = segment + 1;
    }
    if candidate > *range.end() {
        return Err(Error::SegmentsExhausted);
    }
    Ok(candidate)
}

/// The first address of `pool` no allocation holds. The pool's network and
/// broadcast addresses and its first host (the site's own router on the
/// public side) are never handed out.
pub(crate) async fn free_public_address(
    conn: &mut AnyConnection,
    pool: &Ipv4Net,
) -> Result<Ipv4Addr> {
    let taken: std::collections::HashSet<Ipv4Addr> = sqlx::query("SELECT public_ip FROM addresses")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?
        .iter()
        .filter_map(|row| text(row, "public_ip").ok()?.parse().ok())
        .collect();
    pool.hosts()
        .skip(1)
        .find(|address| !taken.contains(address))
        .ok_or(Error::AddressPoolExhausted)
}
