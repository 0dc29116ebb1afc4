//! VPCs: each tenant's private address spaces, and the default VPC every
//! tenant gets on first use (as on AWS: a /16, a /20 subnet per zone, an
//! attached internet gateway, a main route table and a `default` group).

use cloud::network::{parse_block, Vpc};
use cloud::{Error, ResourceKind, Result};
use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use crate::networks::DEFAULT_VPC_CIDR;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, is_unique_violation, now, opt_text, text};

fn vpc_of(row: &AnyRow, tenant: &Tenant) -> Result<Vpc> {
    Ok(Vpc {
        id: text(row, "id")?,
        cidr: text(row, "cidr")?,
        is_default: opt_text(row, "default_for")?.is_some(),
        owner_id: tenant.account_id.clone(),
        tags: Vec::new(),
    })
}

/// Inserts a VPC row and its main route table (with the `local` route).
async fn insert_vpc(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    cidr: &str,
    default: bool,
) -> Result<String> {
    let id = ResourceKind::Vpc.new_id();
    // As on AWS, only default VPCs give instances DNS hostnames from the start.
    sqlx::query("INSERT INTO vpcs (id, tenant_id, cidr, default_for, created_at, enable_dns_hostnames) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(&tenant.id)
        .bind(cidr)
        .bind(default.then_some(tenant.id.as_str()))
        .bind(now())
        .bind(i64::from(default))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    crate::route_tables::insert_route_table(conn, tenant, &id, cidr, true).await?;
    Ok(id)
}

impl Accounts {
    /// Creates a VPC (a /16 to /28 block) with its main route table and `default` group.
    pub async fn create_vpc(&self, tenant: &Tenant, cidr: &str) -> Result<Vpc> {
        parse_block(ResourceKind::Vpc, "CidrBlock", cidr, 16, 28)?;
        let mut tx = self.db.begin_write().await?;
        let id = insert_vpc(&mut tx, tenant, cidr, false).await?;
        tx.commit().await.map_err(db_err)?;
        self.ensure_default_security_group(tenant, &id).await?;
        tracing::info!(tenant = %tenant.name, vpc = %id, %cidr, "VPC created");
        self.vpc(tenant, &id).await
    }

    /// The tenant's VPCs (the default one made first if missing), oldest first.
    pub async fn list_vpcs(&self, tenant: &Tenant) -> Result<Vec<Vpc>> {
        self.ensure_default_vpc(tenant).await?;
        let rows = sqlx::query(
            "SELECT id, cidr, default_for FROM vpcs WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut tags = self.tags_by_resource(tenant, ResourceKind::Vpc).await?;
        rows.iter()
            .map(|row| {
                let mut vpc = vpc_of(row, tenant)?;
                vpc.tags = tags.remove(&vpc.id).unwrap_or_default();
                Ok(vpc)
            })
            .collect()
    }

    /// One of the tenant's VPCs.
    pub async fn vpc(&self, tenant: &Tenant, id: &str) -> Result<Vpc> {
        let row =
            sqlx::query("SELECT id, cidr, default_for FROM vpcs WHERE id = $1 AND tenant_id = $2")
                .bind(id)
                .bind(&tenant.id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err)?
                .ok_or_else(|| Error::not_found(ResourceKind::Vpc, id))?;
        let mut vpc = vpc_of(&row, tenant)?;
        vpc.tags = self.tags_of(tenant, id).await?;
        Ok(vpc)
    }

    /// Deletes a VPC that holds nothing but its main route table and
    /// `default` group (AWS's DependencyViolation otherwise).
    pub async fn delete_vpc(&self, tenant: &Tenant, id: &str) -> Result<()> {
        self.vpc(tenant, id).await?;
        let dependants = [
            ("SELECT id FROM subnets WHERE vpc_id = $1", "subnets"),
            (
                "SELECT id FROM internet_gateways WHERE vpc_id = $1",
                "an attached internet gateway",
            ),
            (
                "SELECT id FROM route_tables WHERE vpc_id = $1 AND main = 0",
                "route tables other than the main one",
            ),
            (
                "SELECT id FROM security_groups WHERE vpc_id = $1 AND name <> 'default'",
                "security groups other than default",
            ),
        ];
        for (query, what) in dependants {
            let found = sqlx::query(query)
                .bind(id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err)?;
            if let Some(row) = found {
                return Err(Error::DependencyViolation(format!(
                    "The vpc '{id}' has dependencies and cannot be deleted: it still has {what} ({})",
                    text(&row, "id")?
                )));
            }
        }
        self.db
            .execute_each(
                &[
                "DELETE FROM tags WHERE resource_id IN (SELECT id FROM route_tables WHERE vpc_id = $1)",
                "DELETE FROM tags WHERE resource_id IN (SELECT id FROM security_groups WHERE vpc_id = $1)",
                "DELETE FROM route_tables WHERE vpc_id = $1",
                "DELETE FROM security_groups WHERE vpc_id = $1",
                "DELETE FROM tags WHERE resource_id = $1",
                "DELETE FROM vpcs WHERE id = $1",
                ],
                id,
            )
            .await?;
        tracing::info!(tenant = %tenant.name, vpc = %id, "VPC deleted");
        Ok(())
    }

    /// The tenant's default VPC, created with its subnets, internet gateway
    /// and `default` group on first use. Groups made before VPCs existed join it.
    pub async fn ensure_default_vpc(&self, tenant: &Tenant) -> Result<String> {
        if let Some(id) = self.default_vpc_id(tenant).await? {
            return Ok(id);
        }
        match self.create_default_vpc(tenant).await {
            Ok(id) => {
                tracing::info!(tenant = %tenant.name, vpc = %id, "default VPC created");
            }
            // Another request made it first: use theirs.
            Err(CreateDefault::Raced) => {}
            Err(CreateDefault::Failed(error)) => return Err(error),
        }
        let id = self
            .default_vpc_id(tenant)
            .await?
            .ok_or_else(|| Error::internal("the default VPC vanished while being created"))?;
        self.adopt_legacy_groups(tenant, &id).await?;
        self.ensure_default_security_group(tenant, &id).await?;
        Ok(id)
    }

    /// Whether a VPC exists, whoever owns it (admin views).
    pub async fn vpc_exists(&self, id: &str) -> Result<bool> {
        Ok(sqlx::query("SELECT id FROM vpcs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?
            .is_some())
    }

    pub(crate) async fn default_vpc_id(&self, tenant: &Tenant) -> Result<Option<String>> {
        let row = sqlx::query("SELECT id FROM vpcs WHERE default_for = $1")
            .bind(&tenant.id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
        row.map(|row| text(&row, "id")).transpose()
    }

    async fn create_default_vpc(&self, tenant: &Tenant) -> Result<String, CreateDefault> {
        let mut tx = self.db.begin_write().await?;
        let id = match insert_vpc(&mut tx, tenant, DEFAULT_VPC_CIDR, true).await {
            Ok(id) => id,
            Err(Error::Internal { .. }) if self.default_vpc_id(tenant).await?.is_some() => {
                return Err(CreateDefault::Raced)
            }
            Err(error) => return Err(error.into()),
        };
        for (index, zone) in self.network.zones.iter().enumerate() {
            // 172.31.0.0/20, 172.31.16.0/20, … as AWS lays them out.
            let cidr = format!("172.31.{}.0/20", index * 16);
            if index >= 16 {
                break;
            }
            crate::subnets::insert_subnet(
                &mut tx,
                tenant,
                &id,
                &cidr,
                zone,
                true,
                &self.network.segments,
            )
            .await?;
        }
        let igw =
            crate::internet_gateways::insert_internet_gateway(&mut tx, tenant, Some(&id)).await?;
        sqlx::query("INSERT INTO routes (route_table_id, destination, gateway_id) SELECT id, '0.0.0.0/0', $1 FROM route_tables WHERE vpc_id = $2 AND main = 1")
            .bind(&igw)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        match tx.commit().await {
            Ok(()) => Ok(id),
            Err(error) if is_unique_violation(&error) => Err(CreateDefault::Raced),
            Err(error) => Err(db_err(error).into()),
        }
    }

    /// Security groups created before VPCs existed belong to the default VPC.
    async fn adopt_legacy_groups(&self, tenant: &Tenant, vpc_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE security_groups SET vpc_id = $1 WHERE tenant_id = $2 AND vpc_id IS NULL",
        )
        .bind(vpc_id)
        .bind(&tenant.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

/// Why making the default VPC did not happen.
enum CreateDefault {
    /// A concurrent request made it.
    Raced,
    Failed(Error),
}

impl From<Error> for CreateDefault {
    fn from(error: Error) -> Self {
        CreateDefault::Failed(error)
    }
}
