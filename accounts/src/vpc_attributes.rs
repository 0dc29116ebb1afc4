//! A VPC's attributes (DescribeVpcAttribute / ModifyVpcAttribute): its DNS
//! settings, which the data plane's DHCP and DNS follow (docs/networking.md),
//! and the network address usage metrics flag, kept and reported.

use cloud::{Error, ResourceKind, Result};

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, int};

/// One attribute ModifyVpcAttribute changes (AWS takes one per call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    /// `enableDnsSupport`: the VPC's routers answer DNS for instance names.
    DnsSupport,
    /// `enableDnsHostnames`: DHCP gives instances their hostnames and the domain.
    DnsHostnames,
    /// `enableNetworkAddressUsageMetrics`: recorded only.
    NetworkAddressUsageMetrics,
}

impl VpcAttribute {
    fn column(self) -> &'static str {
        match self {
            VpcAttribute::DnsSupport => "enable_dns_support",
            VpcAttribute::DnsHostnames => "enable_dns_hostnames",
            VpcAttribute::NetworkAddressUsageMetrics => "enable_network_address_usage_metrics",
        }
    }
}

/// A VPC's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcAttributes {
    pub dns_support: bool,
    pub dns_hostnames: bool,
    pub network_address_usage_metrics: bool,
}

impl Accounts {
    /// The attributes of one of the tenant's VPCs.
    pub async fn vpc_attributes(&self, tenant: &Tenant, vpc_id: &str) -> Result<VpcAttributes> {
        let row = sqlx::query(
            "SELECT enable_dns_support, enable_dns_hostnames, enable_network_address_usage_metrics \
             FROM vpcs WHERE id = $1 AND tenant_id = $2",
        )
        .bind(vpc_id)
        .bind(&tenant.id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::not_found(ResourceKind::Vpc, vpc_id))?;
        Ok(VpcAttributes {
            dns_support: int(&row, "enable_dns_support")? != 0,
            dns_hostnames: int(&row, "enable_dns_hostnames")? != 0,
            network_address_usage_metrics: int(&row, "enable_network_address_usage_metrics")? != 0,
        })
    }

    /// Sets one attribute; the VPC's DHCP and DNS follow at once.
    pub async fn modify_vpc_attribute(
        &self,
        tenant: &Tenant,
        vpc_id: &str,
        attribute: VpcAttribute,
        value: bool,
    ) -> Result<()> {
        let current = self.vpc_attributes(tenant, vpc_id).await?;
        if attribute == VpcAttribute::DnsHostnames && value && !current.dns_support {
            return Err(Error::invalid(
                "EnableDnsHostnames",
                "You can only enable DNS hostnames if you've enabled DNS support.",
            ));
        }
        // `column` is one of this module's literals, never client input.
        let sql = format!(
            "UPDATE vpcs SET {} = $1 WHERE id = $2 AND tenant_id = $3",
            attribute.column()
        );
        sqlx::query(&sql)
            .bind(i64::from(value))
            .bind(vpc_id)
            .bind(&tenant.id)
            .execute(self.db.pool())
            .await
            .map_err(db_err)?;
        tracing::info!(tenant = %tenant.name, vpc = vpc_id, ?attribute, value, "VPC attribute changed");
        self.network_changed().await;
        Ok(())
    }
}
