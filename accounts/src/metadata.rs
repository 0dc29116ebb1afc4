//! What the instance metadata service tells a local guest about itself. The
//! guest is known by its address on the site's network, or by its VPC and
//! its address there: each local instance has a fixed one, recorded at launch.

use cloud::Result;

use crate::instances::Instance;
use crate::Accounts;
use datastore::{db_err, opt_text, text};

/// One instance's metadata.
#[derive(Debug, Clone)]
pub struct InstanceMetadata {
    pub instance: Instance,
    /// Base64, as the client sent it.
    pub user_data: Option<String>,
    /// OpenSSH public key of the instance's key pair.
    pub public_key: Option<String>,
    pub security_groups: Vec<String>,
}

impl Accounts {
    /// The live local instance holding `private_ip` on the site's network
    /// (`vpc` None) or in a VPC (addresses repeat across VPCs), if any.
    pub async fn instance_metadata(
        &self,
        vpc: Option<&str>,
        private_ip: &str,
    ) -> Result<Option<InstanceMetadata>> {
        let columns = "SELECT id, tenant_id, user_data, key_name FROM instances \
                       WHERE target = $1 AND private_ip = $2 AND state <> 'terminated'";
        let query = match vpc {
            Some(_) => format!("{columns} AND vpc_id = $3 ORDER BY launched_at DESC"),
            None => format!("{columns} AND vpc_id IS NULL ORDER BY launched_at DESC"),
        };
        let mut query = sqlx::query(&query)
            .bind(self.placement.local_target())
            .bind(private_ip);
        if let Some(vpc) = vpc {
            query = query.bind(vpc);
        }
        let row = query.fetch_optional(self.db.pool()).await.map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id = text(&row, "id")?;
        let tenant_id = text(&row, "tenant_id")?;
        let Some(tenant) = self.tenant_by_id(&tenant_id).await? else {
            return Ok(None);
        };
        let Some(instance) = self.instance_record(&tenant, &id).await? else {
            return Ok(None);
        };
        let public_key = match opt_text(&row, "key_name")? {
            Some(name) => self
                .find_key_pair(&tenant, &name)
                .await?
                .map(|pair| pair.public_key),
            None => None,
        };
        Ok(Some(InstanceMetadata {
            instance,
            user_data: opt_text(&row, "user_data")?,
            public_key,
            security_groups: Vec::new(),
        }))
    }
}
