//! Tags on tenant resources (EC2 CreateTags / DeleteTags / DescribeTags).

use std::collections::HashMap;

use cloud::types::{ResourceTag, Tag};
use cloud::{Error, ResourceKind, Result};

use crate::security_groups::GroupRef;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, text};

pub use cloud::tags::MAX_TAGS_PER_RESOURCE;
use cloud::tags::{is_system_key, reserved_key, validate_tag};

/// Stores a new resource's tags, in the transaction that registers it.
pub(crate) async fn insert_tags(
    connection: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    resource_id: &str,
    kind: ResourceKind,
    tags: &[Tag],
) -> Result<()> {
    for tag in tags {
        sqlx::query("INSERT INTO tags (tenant_id, resource_id, resource_type, tag_key, tag_value) VALUES ($1, $2, $3, $4, $5)")
            .bind(&tenant.id)
            .bind(resource_id)
            .bind(kind.ec2_type())
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut *connection)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// A tag to remove: by key alone, or only when it has this value.
#[derive(Debug, Clone)]
pub struct TagRemoval {
    pub key: String,
    pub value: Option<String>,
}

impl Accounts {
    /// Confirms a resource exists and belongs to the tenant; returns its kind.
    async fn owned_resource(&self, tenant: &Tenant, resource_id: &str) -> Result<ResourceKind> {
        let kind = ResourceKind::of_id(resource_id).ok_or_else(|| {
            Error::invalid("ResourceId", format!("Invalid id: \"{resource_id}\""))
        })?;
        let exists = match kind {
            ResourceKind::KeyPair => self
                .list_key_pairs(tenant)
                .await?
                .iter()
                .any(|pair| pair.id == resource_id),
            ResourceKind::SecurityGroup => self
                .security_group(tenant, &GroupRef::Id(resource_id.to_string()))
                .await
                .is_ok(),
            ResourceKind::SecurityGroupRule => {
                self.owns_security_group_rule(tenant, resource_id).await?
            }
            ResourceKind::Instance => self.owns_instance(tenant, resource_id).await?,
            ResourceKind::Vpc => self.vpc(tenant, resource_id).await.is_ok(),
            ResourceKind::Subnet => self.subnet(tenant, resource_id).await.is_ok(),
            ResourceKind::InternetGateway => {
                self.internet_gateway(tenant, resource_id).await.is_ok()
            }
            ResourceKind::RouteTable => self.route_table(tenant, resource_id).await.is_ok(),
            ResourceKind::ElasticIp => self.address(tenant, resource_id).await.is_ok(),
            ResourceKind::Image => self.owns_image(tenant, resource_id).await?,
            ResourceKind::Volume => self.volume_row(tenant, resource_id).await.is_ok(),
            ResourceKind::Snapshot => self.snapshot_row(tenant, resource_id).await.is_ok(),
            _ => false,
        };
        if exists {
            Ok(kind)
        } else {
            Err(Error::not_found(kind, resource_id))
        }
    }

    /// Adds or overwrites tags on resources. All-or-nothing.
    pub async fn create_tags(
        &self,
        tenant: &Tenant,
        resource_ids: &[String],
        tags: &[Tag],
    ) -> Result<()> {
        for tag in tags {
            validate_tag(tag)?;
        }
        let mut kinds = Vec::with_capacity(resource_ids.len());
        for id in resource_ids {
            let kind = self.owned_resource(tenant, id).await?;
            let existing = self.tags_of(tenant, id).await?;
            let added = tags
                .iter()
                .filter(|t| !existing.iter().any(|e| e.key == t.key))
                .count();
            if existing.len() + added > MAX_TAGS_PER_RESOURCE {
                return Err(Error::invalid(
                    "Tag",
                    format!("a resource may have at most {MAX_TAGS_PER_RESOURCE} tags"),
                ));
            }
            kinds.push(kind);
        }
        let mut tx = self.db.begin_write().await?;
        for (id, kind) in resource_ids.iter().zip(kinds) {
            for tag in tags {
                sqlx::query("DELETE FROM tags WHERE resource_id = $1 AND tag_key = $2")
                    .bind(id)
                    .bind(&tag.key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query("INSERT INTO tags (tenant_id, resource_id, resource_type, tag_key, tag_value) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&tenant.id)
                    .bind(id)
                    .bind(kind.ec2_type())
                    .bind(&tag.key)
                    .bind(&tag.value)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_view
            .touch(resource_ids.iter().map(String::as_str));
        Ok(())
    }

    /// Removes tags; with no removals listed, removes every tag of the resources.
    pub async fn delete_tags(
        &self,
        tenant: &Tenant,
        resource_ids: &[String],
        removals: &[TagRemoval],
    ) -> Result<()> {
        for id in resource_ids {
            self.owned_resource(tenant, id).await?;
        }
        if let Some(reserved) = removals.iter().find(|r| is_system_key(&r.key)) {
            return Err(reserved_key(&reserved.key));
        }
        let mut tx = self.db.begin_write().await?;
        for id in resource_ids {
            if removals.is_empty() {
                sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND resource_id = $2 AND tag_key NOT LIKE 'skyport:%' AND tag_key NOT LIKE 'aws:%'")
                    .bind(&tenant.id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            for removal in removals {
                let query = match &removal.value {
                    Some(value) => sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND resource_id = $2 AND tag_key = $3 AND tag_value = $4")
                        .bind(&tenant.id)
                        .bind(id)
                        .bind(&removal.key)
                        .bind(value),
                    None => sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND resource_id = $2 AND tag_key = $3")
                        .bind(&tenant.id)
                        .bind(id)
                        .bind(&removal.key),
                };
                query.execute(&mut *tx).await.map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_view
            .touch(resource_ids.iter().map(String::as_str));
        Ok(())
    }

    /// Every tag of the tenant, ordered by resource then key.
    pub async fn list_tags(&self, tenant: &Tenant) -> Result<Vec<ResourceTag>> {
        let rows = sqlx::query("SELECT resource_id, resource_type, tag_key, tag_value FROM tags WHERE tenant_id = $1 AND resource_type <> 'bucket' ORDER BY resource_id, tag_key")
            .bind(&tenant.id)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let resource_id = text(row, "resource_id")?;
                let resource_type = ResourceKind::of_id(&resource_id)
                    .map(ResourceKind::ec2_type)
                    .unwrap_or("unknown");
                Ok(ResourceTag {
                    resource_id,
                    resource_type,
                    key: text(row, "tag_key")?,
                    value: text(row, "tag_value")?,
                })
            })
            .collect()
    }

    /// The tags of one resource the tenant owns, by key.
    pub(crate) async fn tags_of(&self, tenant: &Tenant, resource_id: &str) -> Result<Vec<Tag>> {
        let rows = sqlx::query(
            "SELECT tag_key, tag_value FROM tags WHERE tenant_id = $1 AND resource_id = $2 ORDER BY tag_key",
        )
        .bind(&tenant.id)
        .bind(resource_id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(Tag {
                    key: text(row, "tag_key")?,
                    value: text(row, "tag_value")?,
                })
            })
            .collect()
    }

    /// Tags of every resource of one kind, keyed by resource ID.
    /// The tags of a few resources, by resource ID.
    pub(crate) async fn tags_of_resources(
        &self,
        tenant: &Tenant,
        ids: &[&str],
    ) -> Result<HashMap<String, Vec<Tag>>> {
        let mut map: HashMap<String, Vec<Tag>> = HashMap::new();
        if ids.is_empty() {
            return Ok(map);
        }
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT resource_id, tag_key, tag_value FROM tags WHERE tenant_id = $1 AND resource_id IN ({}) ORDER BY tag_key",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(&tenant.id);
        for id in ids {
            query = query.bind(*id);
        }
        for row in query.fetch_all(self.db.pool()).await.map_err(db_err)? {
            map.entry(text(&row, "resource_id")?)
                .or_default()
                .push(Tag {
                    key: text(&row, "tag_key")?,
                    value: text(&row, "tag_value")?,
                });
        }
        Ok(map)
    }

    pub(crate) async fn tags_by_resource(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
    ) -> Result<HashMap<String, Vec<Tag>>> {
        let rows = sqlx::query("SELECT resource_id, tag_key, tag_value FROM tags WHERE tenant_id = $1 AND resource_type = $2 ORDER BY tag_key")
            .bind(&tenant.id)
            .bind(kind.ec2_type())
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err)?;
        let mut map: HashMap<String, Vec<Tag>> = HashMap::new();
        for row in &rows {
            map.entry(text(row, "resource_id")?).or_default().push(Tag {
                key: text(row, "tag_key")?,
                value: text(row, "tag_value")?,
            });
        }
        Ok(map)
    }
}
