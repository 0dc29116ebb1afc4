//! EC2 key pairs: one set per tenant, usable on every cloud the tenant reaches.

use cloud::types::{KeyPair, KeyType};
use cloud::{Error, ResourceKind, Result};

use crate::key_material;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, is_unique_violation, now, text};

fn validate_key_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || !name.is_ascii() {
        return Err(Error::invalid(
            "KeyName",
            "key pair names are 1-255 ASCII characters",
        ));
    }
    Ok(())
}

impl Accounts {
    /// Creates a key pair and returns it with its private key (PEM), which is not kept.
    pub async fn create_key_pair(
        &self,
        tenant: &Tenant,
        name: &str,
        key_type: KeyType,
    ) -> Result<(KeyPair, String)> {
        validate_key_name(name)?;
        if self.find_key_pair(tenant, name).await?.is_some() {
            return Err(Error::duplicate(ResourceKind::KeyPair, name));
        }
        // RSA generation takes a while: keep it off the async workers.
        let comment = name.to_string();
        let generated =
            tokio::task::spawn_blocking(move || key_material::generate(key_type, &comment))
                .await
                .map_err(Error::internal)??;
        let pair = self
            .insert_key_pair(
                tenant,
                name,
                key_type,
                generated.fingerprint,
                generated.public_openssh,
            )
            .await?;
        Ok((pair, generated.private_pem))
    }

    /// Imports a public key under `name`.
    pub async fn import_key_pair(
        &self,
        tenant: &Tenant,
        name: &str,
        material: &[u8],
    ) -> Result<KeyPair> {
        validate_key_name(name)?;
        let imported = key_material::import(material)?;
        self.insert_key_pair(
            tenant,
            name,
            imported.key_type,
            imported.fingerprint,
            imported.public_openssh,
        )
        .await
    }

    async fn insert_key_pair(
        &self,
        tenant: &Tenant,
        name: &str,
        key_type: KeyType,
        fingerprint: String,
        public_key: String,
    ) -> Result<KeyPair> {
        let pair = KeyPair {
            id: ResourceKind::KeyPair.new_id(),
            name: name.to_string(),
            key_type,
            fingerprint,
            public_key,
            created_at: now(),
            tags: Vec::new(),
        };
        let inserted = sqlx::query(
            "INSERT INTO key_pairs (id, tenant_id, name, key_type, fingerprint, public_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&pair.id)
        .bind(&tenant.id)
        .bind(&pair.name)
        .bind(key_type.as_str())
        .bind(&pair.fingerprint)
        .bind(&pair.public_key)
        .bind(pair.created_at)
        .execute(self.db.pool())
        .await;
        match inserted {
            Ok(_) => Ok(pair),
            Err(e) if is_unique_violation(&e) => Err(Error::duplicate(ResourceKind::KeyPair, name)),
            Err(e) => Err(db_err(e)),
        }
    }

    /// All of the tenant's key pairs, by name, with their tags.
    pub async fn list_key_pairs(&self, tenant: &Tenant) -> Result<Vec<KeyPair>> {
        let rows = sqlx::query(
            "SELECT id, name, key_type, fingerprint, public_key, created_at FROM key_pairs WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(&tenant.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err)?;
        let mut pairs = Vec::with_capacity(rows.len());
        for row in &rows {
            pairs.push(KeyPair {
                id: text(row, "id")?,
                name: text(row, "name")?,
                key_type: KeyType::parse(&text(row, "key_type")?).unwrap_or(KeyType::Rsa),
                fingerprint: text(row, "fingerprint")?,
                public_key: text(row, "public_key")?,
                created_at: int(row, "created_at")?,
                tags: Vec::new(),
            });
        }
        let mut tags = self.tags_by_resource(tenant, ResourceKind::KeyPair).await?;
        for pair in &mut pairs {
            pair.tags = tags.remove(&pair.id).unwrap_or_default();
        }
        Ok(pairs)
    }

    /// The tenant's key pair with this name or ID, if any.
    pub async fn find_key_pair(
        &self,
        tenant: &Tenant,
        name_or_id: &str,
    ) -> Result<Option<KeyPair>> {
        Ok(self
            .list_key_pairs(tenant)
            .await?
            .into_iter()
            .find(|pair| pair.name == name_or_id || pair.id == name_or_id))
    }

    /// Deletes a key pair by name or ID. Like AWS, deleting a missing name succeeds;
    /// returns the ID that was deleted, if any.
    pub async fn delete_key_pair(
        &self,
        tenant: &Tenant,
        name_or_id: &str,
    ) -> Result<Option<String>> {
        let Some(pair) = self.find_key_pair(tenant, name_or_id).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM tags WHERE tenant_id = $1 AND resource_id = $2")
            .bind(&tenant.id)
            .bind(&pair.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM key_pairs WHERE tenant_id = $1 AND id = $2")
            .bind(&tenant.id)
            .bind(&pair.id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(pair.id))
    }
}
