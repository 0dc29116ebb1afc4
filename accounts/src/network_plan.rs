//! The data plane tenant networks need, read from the records of every
//! tenant. Only subnets holding addresses (of instances, or reserved by a
//! launch under way) and the VPCs around them are built, so a tenant's
//! untouched default VPC costs nothing: each subnet with its segment, whether
//! it routes to an attached internet gateway, its fixed leases (the MAC
//! follows from the address), the router's public address and the elastic
//! IPs mapped in it.

use std::collections::HashMap;

use cloud::network_plan::{
    DnsPlan, ElasticMapping, Lease, Plan, PortPlan, RulePlan, SubnetPlan, VpcPlan,
};
use cloud::{Error, Result};

use crate::attachments::mac_of;
use crate::Accounts;
use datastore::{db_err, int, opt_text, text};

fn parse<T: std::str::FromStr>(what: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| Error::internal(format!("stored {what} '{value}' does not parse")))
}

impl Accounts {
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
        let vpcs = sqlx::query(
            "SELECT id, enable_dns_support, enable_dns_hostnames FROM vpcs ORDER BY id",
        )
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
            ports: self.ports().await?,
            public_pool: self.network.public_pool,
        };
        for row in &vpcs {
            let id = text(row, "id")?;
            let Some(subnets) = subnets_of.remove(&id) else {
                continue;
            };
            let resolver = int(row, "enable_dns_support")? != 0;
            plan.vpcs.push(VpcPlan {
                dns: DnsPlan {
                    resolver,
                    // Hostnames name what the resolver answers: off without it.
                    hostnames: resolver && int(row, "enable_dns_hostnames")? != 0,
                    domain: DnsPlan::domain_of(&self.region),
                },
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

    /// Every live instance on a tenant subnet with its groups' rules; group
    /// peers become the addresses of their members in the same VPC.
    async fn ports(&self) -> Result<Vec<PortPlan>> {
        let pool = self.db.pool();
        let instances = sqlx::query(
            "SELECT i.id, i.vpc_id, i.private_ip, s.segment FROM instances i JOIN subnets s ON s.id = i.subnet_id \
             WHERE i.state <> 'terminated' AND i.private_ip IS NOT NULL ORDER BY i.id",
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        let memberships = sqlx::query("SELECT instance_id, group_id FROM instance_groups")
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
        let rules = sqlx::query(
            "SELECT group_id, direction, protocol, from_port, to_port, peer_kind, peer FROM security_group_rules ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        struct Member {
            id: String,
            vpc: String,
            ip: std::net::Ipv4Addr,
            segment: u32,
        }
        let mut members: Vec<Member> = Vec::with_capacity(instances.len());
        for row in &instances {
            let Some(vpc) = opt_text(row, "vpc_id")? else {
                continue;
            };
            members.push(Member {
                id: text(row, "id")?,
                vpc,
                ip: parse("address", &text(row, "private_ip")?)?,
                segment: u32::try_from(int(row, "segment")?)
                    .map_err(|_| Error::internal("a segment id out of range"))?,
            });
        }
        // Launches under way: their addresses are theirs already, with their groups.
        let mut launching: Vec<(String, Vec<String>)> = Vec::new();
        for port in self.launching.ports() {
            if members
                .iter()
                .any(|m| m.segment == port.segment && m.ip == port.ip)
            {
                continue;
            }
            let id = format!("launching:{}:{}", port.segment, port.ip);
            members.push(Member {
                id: id.clone(),
                vpc: port.vpc,
                ip: port.ip,
                segment: port.segment,
            });
            launching.push((id, port.groups));
        }
        let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
        let mut members_of: HashMap<String, Vec<usize>> = HashMap::new();
        let index: HashMap<&str, usize> = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.as_str(), i))
            .collect();
        for row in &memberships {
            let (instance, group) = (text(row, "instance_id")?, text(row, "group_id")?);
            if let Some(&i) = index.get(instance.as_str()) {
                members_of.entry(group.clone()).or_default().push(i);
                groups_of.entry(instance).or_default().push(group);
            }
        }
        for (instance, groups) in launching {
            if let Some(&i) = index.get(instance.as_str()) {
                for group in &groups {
                    members_of.entry(group.clone()).or_default().push(i);
                }
                groups_of.insert(instance, groups);
            }
        }
        /// A stored rule before its peer is resolved.
        struct Stored {
            protocol: String,
            from_port: Option<i32>,
            to_port: Option<i32>,
            peer_kind: String,
            peer: String,
        }
        // (group, ingress?) → its rules.
        let mut rules_of: HashMap<(String, bool), Vec<Stored>> = HashMap::new();
        for row in &rules {
            let port = |column: &str| -> Result<Option<i32>> {
                Ok(datastore::opt_int(row, column)?.and_then(|p| i32::try_from(p).ok()))
            };
            rules_of
                .entry((text(row, "group_id")?, text(row, "direction")? == "ingress"))
                .or_default()
                .push(Stored {
                    protocol: text(row, "protocol")?,
                    from_port: port("from_port")?,
                    to_port: port("to_port")?,
                    peer_kind: text(row, "peer_kind")?,
                    peer: text(row, "peer")?,
                });
        }
        let resolve = |member: &Member, ingress: bool| -> Vec<RulePlan> {
            let mut out: Vec<RulePlan> = Vec::new();
            for group in groups_of.get(&member.id).into_iter().flatten() {
                for stored in rules_of
                    .get(&(group.clone(), ingress))
                    .into_iter()
                    .flatten()
                {
                    let peers: Vec<ipnet::Ipv4Net> = match stored.peer_kind.as_str() {
                        "cidr4" => stored.peer.parse().ok().into_iter().collect(),
                        "group" => members_of
                            .get(&stored.peer)
                            .into_iter()
                            .flatten()
                            .map(|&i| &members[i])
                            .filter(|other| other.vpc == member.vpc)
                            .map(|other| ipnet::Ipv4Net::from(other.ip))
                            .collect(),
                        // IPv6 rules have nothing to match on IPv4-only subnets.
                        _ => Vec::new(),
                    };
                    if peers.is_empty() {
                        continue;
                    }
                    let rule = RulePlan {
                        protocol: stored.protocol.clone(),
                        from_port: stored.from_port,
                        to_port: stored.to_port,
                        peers,
                    };
                    if !out.contains(&rule) {
                        out.push(rule);
                    }
                }
            }
            out.sort();
            out
        };
        Ok(members
            .iter()
            .map(|member| {
                let egress = resolve(member, false);
                let open = egress
                    .iter()
                    .any(|r| r.protocol == "-1" && r.peers.iter().any(|p| p.prefix_len() == 0));
                PortPlan {
                    instance_id: member.id.clone(),
                    segment: member.segment,
                    ip: member.ip,
                    ingress: resolve(member, true),
                    egress: (!open).then_some(egress),
                }
            })
            .collect())
    }
}
