//! Records of resources that live on a remote target (volumes, snapshots):
//! each maps a Skyport ID to (target, the target's ID). Describes ask every
//! target holding some of them at once and tell, per record, whether its
//! target saw it, answered without it, or could not answer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use cloud::types::Tag;
use cloud::{Error, RemoteTarget, ResourceKind, Result};

use crate::instances::TENANT_TAG;
use crate::tenants::Tenant;
use crate::Accounts;

/// On a target, the Skyport ID of a volume or snapshot.
pub(crate) const RESOURCE_TAG: &str = "skyport:id";

/// How long a new volume may be missing from its target's describes (clouds
/// are eventually consistent) before Skyport takes it for deleted.
pub(crate) const GRACE_SECS: i64 = 60;

/// A record and the target's ID for it.
pub(crate) struct Mapped<T> {
    pub record: T,
    pub remote_id: String,
}

/// A record that lives on a remote target.
pub(crate) trait Placed {
    fn id(&self) -> &str;
    fn target(&self) -> &str;
}

/// What a record's target said of it.
pub(crate) enum Observed<V> {
    /// The target could not answer: show the record as last stored.
    Unanswered,
    /// The target answered without it.
    Absent,
    Seen(V),
}

/// Keeps the rows named in `ids` (all when `ids` is empty); an ID the rows
/// lack is NotFound.
pub(crate) fn select<T: Placed>(
    mut rows: Vec<Mapped<T>>,
    ids: &[String],
    kind: ResourceKind,
) -> Result<Vec<Mapped<T>>> {
    if ids.is_empty() {
        return Ok(rows);
    }
    if let Some(missing) = ids
        .iter()
        .find(|id| !rows.iter().any(|row| row.record.id() == id.as_str()))
    {
        return Err(Error::not_found(kind, missing.clone()));
    }
    rows.retain(|row| ids.iter().any(|id| id == row.record.id()));
    Ok(rows)
}

/// Asks each target holding some of `rows` about them (`fetch` with the
/// target's IDs), all targets at once.
pub(crate) async fn observe<T, V, F, Fut>(
    accounts: &Accounts,
    rows: &[Mapped<T>],
    fetch: F,
) -> Vec<Observed<V>>
where
    T: Placed,
    F: Fn(Arc<dyn RemoteTarget>, Vec<String>) -> Fut,
    Fut: Future<Output = Result<Vec<(String, V)>>>,
{
    let mut by_target: HashMap<&str, Vec<String>> = HashMap::new();
    for row in rows {
        by_target
            .entry(row.record.target())
            .or_default()
            .push(row.remote_id.clone());
    }
    let calls = by_target.into_iter().map(|(target, ids)| {
        let call = accounts.placement.remote(target).map(|remote| fetch(remote, ids));
        async move {
            let views = match call {
                Ok(call) => call.await,
                Err(error) => Err(error),
            };
            match views {
                Ok(views) => (target, Some(views.into_iter().collect::<HashMap<_, _>>())),
                Err(error) => {
                    tracing::warn!(%target, %error, "target cannot describe; showing last known state");
                    (target, None)
                }
            }
        }
    });
    let mut live: HashMap<&str, Option<HashMap<String, V>>> =
        futures::future::join_all(calls).await.into_iter().collect();
    rows.iter()
        .map(|row| match live.get_mut(row.record.target()) {
            Some(Some(views)) => views
                .remove(&row.remote_id)
                .map_or(Observed::Absent, Observed::Seen),
            _ => Observed::Unanswered,
        })
        .collect()
}

/// The tags a target's copy of a resource carries: the tenant's own and
/// Skyport's IDs, so an orphan can be traced.
pub(crate) fn remote_tags(tenant: &Tenant, id: &str, tags: &[Tag]) -> Vec<Tag> {
    let mut remote = tags.to_vec();
    remote.push(Tag {
        key: TENANT_TAG.into(),
        value: tenant.account_id.clone(),
    });
    remote.push(Tag {
        key: RESOURCE_TAG.into(),
        value: id.into(),
    });
    remote
}
