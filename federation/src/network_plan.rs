//! The data plane tenant networks need, read from the records of every
//! tenant. Only subnets holding addresses (of instances, or reserved by a
//! launch under way) and the VPCs around them are built, so a tenant's
//! untouched default VPC costs nothing: each subnet with its segment, whether
//! it routes to an attached internet gateway, its fixed leases (the MAC
//! follows from the address), the router's public address and the elastic
//! IPs mapped in it.

use std::collections::HashMap;

use cloud::network_plan::{ElasticMapping, Lease, Plan, SubnetPlan, VpcPlan};
use cloud::{Error, Result};

use crate::attachments::mac_of;
use crate::db::{db_err, int, opt_text, text};
use crate::Federation;

fn parse<T: std::str::FromStr>(what: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::internal(format!("stored {what} '{value}' does not parse")))
}

impl Federation {
    /// Makes the hosts match the records now (after a change that touches
    /// them: a launch into a subnet, routes, gateways, elastic IPs, an
    /// instance gone). Without a data plane there is nothing to do.
    pub async fn sync_network(&self) -> Result<()> {
        let Some(data_plane) = &self.data_plane else {
            return Ok(());
        };
        let plan = self.network_plan().await?;
        data_plane.apply(&plan).await
    }

    /// [`Self::sync_network`] after a change the API already committed: a
    /// failure is logged, and the periodic pass retries it.
    pub(crate) async fn network_changed(&self) {
        if let Err(error) = self.sync_network().await {
            tracing::warn!(%error, "updating tenant networks on the hosts failed; will retry");
        }
    }

    /// The whole site's plan.
    pub async fn network_plan(&self) -> Result<Plan> {
        let pool = self.db.pool();
        let vpcs = sqlx::query("SELECT id FROM vpcs ORDER BY id")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
        let subnets = sqlx::query("SELECT id, vpc_id, cidr, segment FROM subnets ORDER BY segment")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
        // Which table each subnet follows, and which tables route 0.0.0.0/0
        // to the gateway attached to their VPC.
        let associations =
            sqlx::query("SELECT subnet_id, route_table_id FROM route_table_associations")
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
        let mains = sqlx::query("SELECT vpc_id, id FROM route_tables WHERE main = 1")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
        let out_tables = sqlx::query(
            "SELECT r.route_table_id FROM routes r JOIN route_tables t ON t.id = r.route_table_id \
             JOIN internet_gateways g ON g.id = r.gateway_id AND g.vpc_id = t.vpc_id \
             WHERE r.destination = '0.0.0.0/0'",
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        let routers = sqlx::query(
            "SELECT g.vpc_id, a.public_ip FROM internet_gateways g \
             JOIN addresses a ON a.allocation_id = g.id AND a.kind = 'router' WHERE g.vpc_id IS NOT NULL",
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        let held = sqlx::query("SELECT subnet_id, ip FROM subnet_addresses ORDER BY subnet_id, ip")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
        let elastic = sqlx::query(
            "SELECT i.vpc_id, a.public_ip, a.private_ip FROM addresses a JOIN instances i ON i.id = a.instance_id \
             WHERE a.kind = 'elastic' AND i.vpc_id IS NOT NULL ORDER BY a.public_ip",
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;

        let mut table_of: HashMap<String, String> = HashMap::new();
        for row in &associations {
            table_of.insert(text(row, "subnet_id")?, text(row, "route_table_id")?);
        }
        let mut main_of: HashMap<String, String> = HashMap::new();
        for row in &mains {
            main_of.insert(text(row, "vpc_id")?, text(row, "id")?);
        }
        let routed_out: std::collections::HashSet<String> = out_tables
            .iter()
            .map(|row| text(row, "route_table_id"))
            .collect::<Result<_>>()?;
        let mut gateway_of: HashMap<String, String> = HashMap::new();
        for row in &routers {
            gateway_of.insert(text(row, "vpc_id")?, text(row, "public_ip")?);
        }
        let mut leases_of: HashMap<String, Vec<Lease>> = HashMap::new();
        for row in &held {
            let ip: std::net::Ipv4Addr = parse("address", &text(row, "ip")?)?;
            leases_of
                .entry(text(row, "subnet_id")?)
                .or_default()
                .push(Lease {
                    mac: mac_of(ip),
                    hostname: format!("ip-{}", ip.to_string().replace('.', "-")),
                    ip,
                });
        }
        let mut elastic_of: HashMap<String, Vec<ElasticMapping>> = HashMap::new();
        for row in &elastic {
            let (Some(vpc), Some(private)) =
                (opt_text(row, "vpc_id")?, opt_text(row, "private_ip")?)
            else {
                continue;
            };
            elastic_of.entry(vpc).or_default().push(ElasticMapping {
                public: parse("address", &text(row, "public_ip")?)?,
                private: parse("address", &private)?,
            });
        }
        let mut subnets_of: HashMap<String, Vec<SubnetPlan>> = HashMap::new();
        for row in &subnets {
            let id = text(row, "id")?;
            let Some(leases) = leases_of.remove(&id) else {
                continue;
            };
            let vpc = text(row, "vpc_id")?;
            let table = table_of.get(&id).or_else(|| main_of.get(&vpc));
            subnets_of.entry(vpc).or_default().push(SubnetPlan {
                internet: table.is_some_and(|t| routed_out.contains(t)),
                segment: u32::try_from(int(row, "segment")?)
                    .map_err(|_| Error::internal("a segment id out of range"))?,
                cidr: parse("subnet block", &text(row, "cidr")?)?,
                leases,
                id,
            });
        }
        let mut plan = Plan {
            vpcs: Vec::with_capacity(vpcs.len()),
            public_pool: self.network.public_pool,
        };
        for row in &vpcs {
            let id = text(row, "id")?;
            let Some(subnets) = subnets_of.remove(&id) else {
                continue;
            };
            plan.vpcs.push(VpcPlan {
                subnets,
                gateway: gateway_of
                    .get(&id)
                    .map(|ip| parse("address", ip))
                    .transpose()?,
                elastic: elastic_of.remove(&id).unwrap_or_default(),
                id,
            });
        }
        Ok(plan)
    }
}
