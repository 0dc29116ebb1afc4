//! DescribeInstances: from the records (or the in-memory view of them),
//! with instances on their way somewhere asked of their targets now.

use std::sync::Arc;

use cloud::Result;

use super::{Instance, Row, TERMINATED_VISIBLE_SECS};
use crate::instance_view::{Plan, Snapshot};
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::now;

impl Accounts {
    /// The tenant's instances with live state from their targets (`ids` empty =
    /// all). An ID the tenant does not own is NotFound.
    pub async fn describe_instances(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Arc<Instance>>> {
        if ids.is_empty() && self.instance_view.enabled() {
            return self.describe_from_view(tenant).await;
        }
        let rows = self.owned_instances(tenant, ids).await?;
        self.describe_rows(tenant, rows).await
    }

    /// The tenant's instances among `ids`, skipping IDs it does not own (an
    /// `instance-id` filter, unlike `InstanceIds`, is no error for unknown IDs).
    pub async fn describe_instances_among(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Arc<Instance>>> {
        let rows = self.selected_instances(tenant, ids).await?;
        self.describe_rows(tenant, rows).await
    }

    async fn describe_rows(&self, tenant: &Tenant, rows: Vec<Row>) -> Result<Vec<Arc<Instance>>> {
        let rows = self.rows_with_tags(tenant, rows).await?;
        let (moving, settled): (Vec<Row>, Vec<Row>) = rows
            .into_iter()
            .partition(|row| row.instance.state.is_transitional());
        let snapshot = Snapshot {
            settled: settled.into_iter().map(|r| Arc::new(r.instance)).collect(),
            moving,
        };
        Ok(self.settle(snapshot).await)
    }

    /// All of the tenant's visible instances, from the in-memory view once it
    /// holds them: only records changed since they were read are read again.
    async fn describe_from_view(&self, tenant: &Tenant) -> Result<Vec<Arc<Instance>>> {
        let cutoff = now() - TERMINATED_VISIBLE_SECS;
        let snapshot = match self.instance_view.plan(&tenant.id) {
            Plan::Load { generation } => {
                let rows = self.owned_instances(tenant, &[]).await?;
                let rows = self.rows_with_tags(tenant, rows).await?;
                self.instance_view
                    .load(&tenant.id, generation, rows, cutoff)
            }
            Plan::Refresh { stale } => {
                let rows = if stale.is_empty() {
                    Vec::new()
                } else {
                    let rows = self.selected_instances(tenant, &stale).await?;
                    self.rows_with_tags(tenant, rows).await?
                };
                match self.instance_view.refresh(&tenant.id, &stale, rows, cutoff) {
                    Some(snapshot) => snapshot,
                    // Dropped meanwhile (memory bound): read it all.
                    None => return Box::pin(self.describe_from_view(tenant)).await,
                }
            }
        };
        Ok(self.settle(snapshot).await)
    }

    /// Instances on their way somewhere are asked about now (waiters poll for
    /// the end of the move); settled ones are served from the records, which
    /// `sync_instances` keeps fresh in the background.
    async fn settle(&self, snapshot: Snapshot) -> Vec<Arc<Instance>> {
        let Snapshot {
            mut settled,
            moving,
        } = snapshot;
        settled.extend(self.refresh_all(moving).await.into_iter().map(Arc::new));
        settled.sort_by(|a, b| a.id.cmp(&b.id));
        settled
    }
}
