//! DescribeInstanceAttribute / ModifyInstanceAttribute: the instance type and
//! user data, changeable while the instance is stopped (as on EC2), and
//! termination protection, kept here and enforced here (TerminateInstances
//! never reaches the target of a protected instance).

use std::sync::Arc;

use cloud::{Error, InstanceState, ResourceKind, Result};

use crate::instances::Instance;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int, opt_text};

impl Accounts {
    /// The user data an instance was launched with (base64), if any.
    pub async fn instance_user_data(&self, tenant: &Tenant, id: &str) -> Result<Option<String>> {
        self.stopped_or_any(tenant, id, false).await?;
        let row = sqlx::query("SELECT user_data FROM instances WHERE id = $1 AND tenant_id = $2")
            .bind(id)
            .bind(&tenant.id)
            .fetch_one(self.db.pool())
            .await
            .map_err(db_err)?;
        opt_text(&row, "user_data")
    }

    /// Whether the instance has termination protection.
    pub async fn termination_protected(&self, tenant: &Tenant, id: &str) -> Result<bool> {
        self.stopped_or_any(tenant, id, false).await?;
        let row = sqlx::query(
            "SELECT disable_api_termination FROM instances WHERE id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(&tenant.id)
        .fetch_one(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(int(&row, "disable_api_termination")? != 0)
    }

    /// Turns termination protection on or off (in any state but terminated).
    pub async fn set_termination_protection(
        &self,
        tenant: &Tenant,
        id: &str,
        protected: bool,
    ) -> Result<()> {
        let (instance, _) = self.stopped_or_any(tenant, id, false).await?;
        if instance.state == InstanceState::Terminated {
            return Err(Error::IncorrectState(format!(
                "The instance '{id}' is terminated."
            )));
        }
        sqlx::query(
            "UPDATE instances SET disable_api_termination = $1 WHERE id = $2 AND tenant_id = $3",
        )
        .bind(i64::from(protected))
        .bind(id)
        .bind(&tenant.id)
        .execute(self.db.pool())
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// `OperationNotPermitted` when any of `ids` has termination protection.
    pub(crate) async fn refuse_protected(&self, tenant: &Tenant, ids: &[String]) -> Result<()> {
        for id in ids {
            let row = sqlx::query(
                "SELECT disable_api_termination FROM instances WHERE id = $1 AND tenant_id = $2",
            )
            .bind(id)
            .bind(&tenant.id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(db_err)?;
            if let Some(row) = row {
                if int(&row, "disable_api_termination")? != 0 {
                    return Err(Error::OperationNotPermitted(format!(
                        "The instance '{id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again."
                    )));
                }
            }
        }
        Ok(())
    }

    /// Changes a stopped instance's type, on its target and in the records.
    pub async fn modify_instance_type(
        &self,
        tenant: &Tenant,
        id: &str,
        instance_type: &str,
    ) -> Result<()> {
        let (instance, remote_id) = self.stopped_or_any(tenant, id, true).await?;
        self.placement
            .compute(&instance.target)?
            .set_instance_type(&remote_id, instance_type)
            .await?;
        self.set_instance_column(id, "instance_type", Some(instance_type))
            .await
    }

    /// Replaces a stopped instance's user data (base64), on its target and in
    /// the records (the local metadata service serves it from there).
    pub async fn modify_user_data(
        &self,
        tenant: &Tenant,
        id: &str,
        user_data: Option<&str>,
    ) -> Result<()> {
        let (instance, remote_id) = self.stopped_or_any(tenant, id, true).await?;
        self.placement
            .compute(&instance.target)?
            .set_user_data(&remote_id, user_data)
            .await?;
        self.set_instance_column(id, "user_data", user_data).await
    }

    /// The instance with fresh state and its target's ID; when `stopped`, an
    /// instance that is not stopped is `IncorrectState`.
    async fn stopped_or_any(
        &self,
        tenant: &Tenant,
        id: &str,
        stopped: bool,
    ) -> Result<(Instance, String)> {
        let instance = self
            .describe_instances(tenant, &[id.to_string()])
            .await?
            .pop()
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| Error::not_found(ResourceKind::Instance, id))?;
        if stopped && instance.state != InstanceState::Stopped {
            return Err(Error::IncorrectState(format!(
                "The instance '{id}' is not in the 'stopped' state."
            )));
        }
        let remote_id = self.remote_id_of(tenant, id).await?;
        Ok((instance, remote_id))
    }

    async fn set_instance_column(&self, id: &str, column: &str, value: Option<&str>) -> Result<()> {
        // `column` is one of this module's literals, never client input.
        sqlx::query(&format!("UPDATE instances SET {column} = $1 WHERE id = $2"))
            .bind(value)
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        self.instance_view.touch([id]);
        Ok(())
    }
}
