//! An in-memory copy of each tenant's instance records as describes return
//! them (tags, security groups and elastic IPs included), kept on the embedded
//! SQLite deployment, where this process is the database's one writer. A whole
//! DescribeInstances of ten thousand instances is then a walk over a map
//! instead of reading and decoding ten thousand rows and their tags.
//!
//! Writers mark the instances they changed once their transaction has
//! committed ([`InstanceView::touch`], [`InstanceView::added`],
//! [`InstanceView::forget`]); the tenant's next describe re-reads only those
//! records. A full load that overlapped any change is handed out but not kept,
//! since it may predate the change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::instances::{Instance, Row};

/// Above this many cached instances (all tenants), the copy is dropped and
/// rebuilt on demand: a bound on memory, far above what one site runs.
const MAX_INSTANCES: usize = 200_000;

pub(crate) struct InstanceView {
    enabled: bool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every change, to tell whether a full load overlapped one.
    generation: u64,
    tenants: HashMap<String, TenantInstances>,
    /// Instance ID → tenant ID, for the tenants held.
    owners: HashMap<String, String>,
    size: usize,
}

#[derive(Default)]
struct TenantInstances {
    instances: BTreeMap<String, Entry>,
    /// Changed since they were read.
    stale: HashSet<String>,
}

struct Entry {
    instance: Arc<Instance>,
    remote_id: String,
}

/// What a describe must read before it can answer from the view.
pub(crate) enum Plan {
    /// Nothing held for the tenant: read all its visible instances.
    Load { generation: u64 },
    /// Held: re-read these changed instances (possibly none).
    Refresh { stale: Vec<String> },
}

/// A tenant's visible instances: settled ones shared with the view, ones in a
/// transitional state as rows to ask their targets about.
pub(crate) struct Snapshot {
    pub settled: Vec<Arc<Instance>>,
    pub moving: Vec<Row>,
}

impl InstanceView {
    pub(crate) fn new(enabled: bool) -> Self {
        InstanceView {
            enabled,
            inner: Mutex::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-written that
        // matters: at worst a stale entry, which the next change replaces.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a describe of `tenant_id`: what to read first. Changed IDs are
    /// taken out of the stale set now, so a change made while they are read
    /// marks them again.
    pub(crate) fn plan(&self, tenant_id: &str) -> Plan {
        let mut inner = self.lock();
        let generation = inner.generation;
        match inner.tenants.get_mut(tenant_id) {
            Some(held) => Plan::Refresh {
                stale: held.stale.drain().collect(),
            },
            None => Plan::Load { generation },
        }
    }

    /// Finishes a [`Plan::Load`]: keeps `rows` unless a change happened since
    /// `generation`, and returns the tenant's visible instances either way.
    pub(crate) fn load(
        &self,
        tenant_id: &str,
        generation: u64,
        rows: Vec<Row>,
        cutoff: i64,
    ) -> Snapshot {
        let mut held = TenantInstances::default();
        for row in rows {
            held.put(row);
        }
        let mut inner = self.lock();
        let snapshot = held.snapshot(cutoff);
        if inner.generation == generation && inner.size + held.instances.len() <= MAX_INSTANCES {
            inner.size += held.instances.len();
            for id in held.instances.keys() {
                inner.owners.insert(id.clone(), tenant_id.to_string());
            }
            inner.tenants.insert(tenant_id.to_string(), held);
        }
        snapshot
    }

    /// Finishes a [`Plan::Refresh`]: replaces the `stale` instances with
    /// `rows` as re-read (an ID not among them is gone or no longer visible)
    /// and returns the tenant's visible instances.
    pub(crate) fn refresh(
        &self,
        tenant_id: &str,
        stale: &[String],
        rows: Vec<Row>,
        cutoff: i64,
    ) -> Option<Snapshot> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let held = inner.tenants.get_mut(tenant_id)?;
        for id in stale {
            if held.instances.remove(id).is_some() {
                inner.size -= 1;
                inner.owners.remove(id);
            }
        }
        for row in rows {
            inner
                .owners
                .insert(row.instance.id.clone(), tenant_id.to_string());
            inner.size += 1;
            held.put(row);
        }
        // Terminated long enough ago to be gone from describes: drop them.
        let before = held.instances.len();
        held.instances
            .retain(|_, entry| visible(&entry.instance, cutoff));
        inner.size -= before - held.instances.len();
        Some(held.snapshot(cutoff))
    }

    /// Marks instances whose records changed (after the change committed).
    /// IDs of tenants not held, or of other resources, are ignored.
    pub(crate) fn touch<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.generation += 1;
        for id in ids {
            if let Some(held) = inner
                .owners
                .get(id)
                .and_then(|tenant| inner.tenants.get_mut(tenant))
            {
                held.stale.insert(id.to_string());
            }
        }
    }

    /// Marks instances just launched for `tenant_id` (after their records committed).
    pub(crate) fn added<'a>(&self, tenant_id: &str, ids: impl IntoIterator<Item = &'a str>) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some(held) = inner.tenants.get_mut(tenant_id) {
            held.stale.extend(ids.into_iter().map(str::to_string));
        }
        if inner.size > MAX_INSTANCES {
            *inner = Inner {
                generation: inner.generation,
                ..Inner::default()
            };
        }
    }

    /// Drops what is held for `tenant_id` (a change whose instances are not
    /// known one by one); its next describe reads everything again.
    pub(crate) fn forget(&self, tenant_id: &str) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some(held) = inner.tenants.remove(tenant_id) {
            inner.size -= held.instances.len();
            for id in held.instances.keys() {
                inner.owners.remove(id);
            }
        }
    }
}

/// Whether describes still show the instance (terminated ones stay for a while).
fn visible(instance: &Instance, cutoff: i64) -> bool {
    instance.terminated_at.is_none_or(|at| at >= cutoff)
}

impl TenantInstances {
    fn put(&mut self, row: Row) {
        let Row {
            instance,
            remote_id,
        } = row;
        self.instances.insert(
            instance.id.clone(),
            Entry {
                instance: Arc::new(instance),
                remote_id,
            },
        );
    }

    fn snapshot(&self, cutoff: i64) -> Snapshot {
        let mut snapshot = Snapshot {
            settled: Vec::with_capacity(self.instances.len()),
            moving: Vec::new(),
        };
        for entry in self.instances.values() {
            if !visible(&entry.instance, cutoff) {
                continue;
            }
            if entry.instance.state.is_transitional() {
                snapshot.moving.push(Row {
                    instance: Instance::clone(&entry.instance),
                    remote_id: entry.remote_id.clone(),
                });
            } else {
                snapshot.settled.push(Arc::clone(&entry.instance));
            }
        }
        snapshot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloud::InstanceState;

    fn row(id: &str, state: InstanceState, terminated_at: Option<i64>) -> Row {
        Row {
            instance: Instance {
                id: id.into(),
                reservation_id: "r-1".into(),
                target: "local".into(),
                state,
                instance_type: "t3.micro".into(),
                image_id: "ami-1".into(),
                key_name: None,
                availability_zone: None,
                private_ip: None,
                public_ip: None,
                private_dns: None,
                architecture: None,
                launch_index: 0,
                launched_at: 0,
                terminated_at,
                client_token: None,
                state_reason: None,
                vpc_id: None,
                subnet_id: None,
                groups: Vec::new(),
                tags: Vec::new(),
                rendered: Default::default(),
            },
            remote_id: format!("remote-{id}"),
        }
    }

    fn ids(snapshot: &Snapshot) -> Vec<String> {
        let mut ids: Vec<String> = snapshot
            .settled
            .iter()
            .map(|i| i.id.clone())
            .chain(snapshot.moving.iter().map(|r| r.instance.id.clone()))
            .collect();
        ids.sort();
        ids
    }

    fn generation_of(plan: Plan) -> u64 {
        match plan {
            Plan::Load { generation } => generation,
            Plan::Refresh { .. } => panic!("expected a load"),
        }
    }

    fn stale_of(plan: Plan) -> Vec<String> {
        match plan {
            Plan::Refresh { mut stale } => {
                stale.sort();
                stale
            }
            Plan::Load { .. } => panic!("expected a refresh"),
        }
    }

    #[test]
    fn a_load_is_kept_and_changes_come_back_as_stale_ids() {
        let view = InstanceView::new(true);
        let generation = generation_of(view.plan("t1"));
        let snapshot = view.load(
            "t1",
            generation,
            vec![
                row("i-a", InstanceState::Running, None),
                row("i-b", InstanceState::Pending, None),
            ],
            100,
        );
        assert_eq!(snapshot.settled.len(), 1);
        assert_eq!(snapshot.moving[0].remote_id, "remote-i-b");
        assert!(stale_of(view.plan("t1")).is_empty());
        view.touch(["i-b", "i-unknown"]);
        view.added("t1", ["i-c"]);
        view.added("t2", ["i-z"]);
        assert_eq!(stale_of(view.plan("t1")), vec!["i-b", "i-c"]);
        // Taken once: a second describe has nothing left to re-read.
        assert!(stale_of(view.plan("t1")).is_empty());
        let stale = vec!["i-b".to_string(), "i-c".to_string()];
        let snapshot = view
            .refresh(
                "t1",
                &stale,
                vec![row("i-c", InstanceState::Running, None)],
                100,
            )
            .expect("held");
        // i-b was not re-read: it is gone.
        assert_eq!(ids(&snapshot), vec!["i-a", "i-c"]);
        assert!(snapshot.moving.is_empty());
    }

    #[test]
    fn a_load_overlapping_a_change_is_not_kept() {
        let view = InstanceView::new(true);
        let generation = generation_of(view.plan("t1"));
        view.touch(["i-a"]);
        let snapshot = view.load(
            "t1",
            generation,
            vec![row("i-a", InstanceState::Running, None)],
            100,
        );
        assert_eq!(ids(&snapshot), vec!["i-a"]);
        generation_of(view.plan("t1"));
    }

    #[test]
    fn terminated_instances_leave_after_their_visibility() {
        let view = InstanceView::new(true);
        let generation = generation_of(view.plan("t1"));
        let rows = vec![
            row("i-old", InstanceState::Terminated, Some(50)),
            row("i-new", InstanceState::Terminated, Some(150)),
        ];
        assert_eq!(ids(&view.load("t1", generation, rows, 100)), vec!["i-new"]);
        let snapshot = view.refresh("t1", &[], Vec::new(), 200).expect("held");
        assert!(ids(&snapshot).is_empty());
        view.forget("t1");
        generation_of(view.plan("t1"));
    }
}
