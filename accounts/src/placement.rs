//! Where new resources go: the policy set in force, the live facts about every
//! target, and the record of each decision.
//!
//! The policy engine (`policies`) is pure; this module feeds it. Facts come from
//! the remote targets' circuit breakers and latency, and the local target (this
//! site) is always healthy. A target named in the policies but neither local nor
//! configured gets no facts, so the engine never chooses it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use cloud::{Compute, Error, RemoteTarget, Result};
use policies::{Decision, Facts, PolicySet, PolicyStore, Request, TargetFacts};

use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, now, text};

/// The tag that shows where an EC2 resource was placed: a system tag, as AWS
/// shows its own (`aws:` keys, which tenants can neither set nor remove, and
/// which tools comparing tags skip).
pub const PLACEMENT_TAG: &str = "aws:skyport:placement";

/// The target a decision chose.
#[derive(Clone)]
pub enum Chosen {
    /// This site's own backend.
    Local,
    /// A remote cloud.
    Remote(Arc<dyn RemoteTarget>),
}

/// The policy set in force and the targets it can place on.
pub struct Placement {
    local_target: String,
    policy_dir: Option<PathBuf>,
    store: RwLock<PolicyStore>,
    status: RwLock<PolicyStatus>,
    /// What the policy directory looked like at the last load (names, sizes, mtimes).
    seen: Mutex<Option<Vec<(PathBuf, u64, std::time::SystemTime)>>>,
    remotes: HashMap<String, Arc<dyn RemoteTarget>>,
    /// This site's own compute, or why there is none.
    local_compute: std::result::Result<Arc<dyn Compute>, String>,
}

/// Why a site has no local compute when nobody said.
const NO_LOCAL_COMPUTE: &str = "local compute is not configured on this site";

/// What an admin sees about the policies in force.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PolicyStatus {
    /// Successful loads so far (the first load is 1).
    pub generation: u64,
    /// Files of the set in force.
    pub files: Vec<String>,
    /// The last failed load's diagnostics; cleared by the next good load.
    pub last_error: Option<String>,
}

/// The policy used when no policy directory is configured: one local target, no
/// rules — everything stays on this site.
fn local_only(local_target: &str) -> PolicySet {
    let text = format!("[[target]]\nname = \"{local_target}\"\nkind = \"local\"\njurisdiction = {{ country = \"ZZ\" }}\n");
    PolicySet::parse("(built-in)", &text).expect("the built-in policy is valid")
}

impl Placement {
    /// Everything local: no policy directory, no remote targets.
    pub fn local_only(local_target: &str) -> Placement {
        let set = local_only(local_target);
        let status = PolicyStatus {
            generation: 1,
            files: set.files().to_vec(),
            last_error: None,
        };
        Placement {
            local_target: local_target.to_string(),
            policy_dir: None,
            store: RwLock::new(PolicyStore::new(set)),
            status: RwLock::new(status),
            seen: Mutex::new(None),
            remotes: HashMap::new(),
            local_compute: Err(NO_LOCAL_COMPUTE.into()),
        }
    }

    /// Loads the policies of `policy_dir` (refusing to start on an invalid set) and
    /// wires the remote targets.
    pub fn load(
        local_target: &str,
        policy_dir: &Path,
        remotes: Vec<Arc<dyn RemoteTarget>>,
    ) -> Result<Placement> {
        let placement = Placement {
            local_target: local_target.to_string(),
            policy_dir: Some(policy_dir.to_path_buf()),
            store: RwLock::new(PolicyStore::new(PolicySet::empty())),
            status: RwLock::new(PolicyStatus::default()),
            seen: Mutex::new(None),
            remotes: remotes
                .into_iter()
                .map(|target| (target.name().to_string(), target))
                .collect(),
            local_compute: Err(NO_LOCAL_COMPUTE.into()),
        };
        if let Some(error) = placement.reload_if_changed().err() {
            return Err(Error::invalid("policy_dir", error.to_string()));
        }
        Ok(placement)
    }

    /// The name of this site's own target in the policies.
    pub fn local_target(&self) -> &str {
        &self.local_target
    }

    /// Gives this site its own compute (libvirt), or records why it has none
    /// (the reason is what clients and admins are told).
    pub fn with_local_compute(
        mut self,
        compute: std::result::Result<Arc<dyn Compute>, String>,
    ) -> Placement {
        self.local_compute = compute;
        self
    }

    /// This site's compute, or `Unavailable` saying why there is none (so a
    /// placement fails over to a remote target where the policies allow).
    pub fn local_compute(&self) -> Result<Arc<dyn Compute>> {
        self.local_compute.clone().map_err(Error::Unavailable)
    }

    /// The compute of target `name`: this site's or a remote cloud's.
    pub fn compute(&self, name: &str) -> Result<Arc<dyn Compute>> {
        if name == self.local_target {
            return self.local_compute();
        }
        Ok(self.remote(name)? as Arc<dyn Compute>)
    }

    /// The remote targets, by name.
    pub fn remotes(&self) -> impl Iterator<Item = &Arc<dyn RemoteTarget>> {
        self.remotes.values()
    }

    /// A remote target by name.
    pub fn remote(&self, name: &str) -> Result<Arc<dyn RemoteTarget>> {
        self.remotes.get(name).cloned().ok_or_else(|| {
            Error::Unavailable(format!("target {name} is not configured on this gateway"))
        })
    }

    /// The set in force.
    pub fn policies(&self) -> Arc<PolicySet> {
        self.store.read().expect("policy store lock").current()
    }

    /// Generation, files and last error of the policies.
    pub fn status(&self) -> PolicyStatus {
        self.status.read().expect("policy status lock").clone()
    }

    /// Reloads the policy directory if any file in it changed since the last load.
    /// An invalid set is refused (the previous one stays in force) and returned as
    /// the error, also kept in [`PolicyStatus::last_error`]. `Ok(true)` = reloaded.
    pub fn reload_if_changed(&self) -> std::result::Result<bool, policies::PolicyError> {
        let Some(dir) = &self.policy_dir else {
            return Ok(false);
        };
        let files = policies::policy_files(dir)?;
        let snapshot: Vec<_> = files
            .iter()
            .map(|path| {
                let meta = std::fs::metadata(path).ok();
                let size = meta.as_ref().map_or(0, |m| m.len());
                let modified = meta
                    .and_then(|m| m.modified().ok())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (path.clone(), size, modified)
            })
            .collect();
        let mut seen = self.seen.lock().expect("policy snapshot lock");
        if seen.as_ref() == Some(&snapshot) {
            return Ok(false);
        }
        *seen = Some(snapshot);
        let loaded = self
            .store
            .write()
            .expect("policy store lock")
            .reload_dir(dir);
        let mut status = self.status.write().expect("policy status lock");
        match loaded {
            Ok(set) => {
                status.generation += 1;
                status.files = set.files().to_vec();
                status.last_error = None;
                tracing::info!(generation = status.generation, files = ?status.files, "placement policies loaded");
                for target in set.targets() {
                    if target.name != self.local_target && !self.remotes.contains_key(&target.name)
                    {
                        tracing::warn!(
                            target = %target.name,
                            "policy target has no [targets.{}] connection in skyport.toml and is never chosen",
                            target.name
                        );
                    }
                }
                Ok(true)
            }
            Err(error) => {
                tracing::error!(
                    "policy files refused, the previous policies stay in force:\n{error}"
                );
                status.last_error = Some(error.to_string());
                Err(error)
            }
        }
    }

    /// Live facts for every target of `set`, with `down` counted unhealthy.
    fn facts(&self, set: &PolicySet, down: &HashSet<String>) -> Facts {
        let mut facts = Facts::new();
        for target in set.targets() {
            let name = &target.name;
            let live = if down.contains(name) {
                Some(TargetFacts::unhealthy())
            } else if *name == self.local_target {
                Some(TargetFacts::healthy())
            } else {
                self.remotes.get(name).map(|remote| {
                    let base = if remote.healthy() {
                        TargetFacts::healthy()
                    } else {
                        TargetFacts::unhealthy()
                    };
                    match remote.latency_ms() {
                        Some(ms) => base.with_latency_ms(ms),
                        None => base,
                    }
                })
            };
            if let Some(live) = live {
                facts.insert(name.clone(), live);
            }
        }
        facts
    }

    /// Decides where `request` goes, counting the targets in `down` as unhealthy
    /// (they failed during this request).
    pub fn decide(&self, request: &Request, down: &HashSet<String>) -> Decision {
        let set = self.policies();
        policies::decide(request, &self.facts(&set, down), &set)
    }

    /// The target a decision chose, or the client's error naming the rules.
    pub fn chosen(&self, decision: &Decision) -> Result<(String, Chosen)> {
        let Some(target) = decision.target.clone() else {
            let mut refusal = decision
                .refusal
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            // Targets that could not serve the request at all are part of the answer.
            let ineligible: Vec<String> = decision
                .dropped
                .iter()
                .filter(|dropped| matches!(dropped.reason, policies::DropReason::Ineligible(_)))
                .map(|dropped| format!("{}: {}", dropped.target, dropped.reason))
                .collect();
            if !ineligible.is_empty() {
                refusal.push_str(&format!(" ({})", ineligible.join("; ")));
            }
            // Targets the rules allow but that cannot take work now (down, circuit
            // open, full): only the availability step drops targets that passed
            // every rule. If there are any, the refusal is an outage, which the
            // client should retry (503), not a policy answer (400).
            let unavailable: Vec<String> = decision
                .dropped
                .iter()
                .filter(|dropped| {
                    matches!(
                        dropped.reason,
                        policies::DropReason::Unhealthy
                            | policies::DropReason::NoFacts
                            | policies::DropReason::Capacity { .. }
                    )
                })
                .map(|dropped| format!("{}: {}", dropped.target, dropped.reason))
                .collect();
            return Err(match decision.refusal {
                Some(policies::Refusal::Unhealthy { .. }) => {
                    Error::Unavailable(format!("placement refused: {refusal}"))
                }
                Some(policies::Refusal::NoCandidate { .. }) if !unavailable.is_empty() => {
                    Error::Unavailable(format!(
                        "placement refused: {refusal}; the targets it allows are unavailable ({})",
                        unavailable.join("; ")
                    ))
                }
                Some(policies::Refusal::NoCandidate { ref rules }) if rules.is_empty() => {
                    Error::Unavailable(format!("placement refused: {refusal}"))
                }
                _ => Error::PlacementRefused(format!("placement refused: {refusal}")),
            });
        };
        if target == self.local_target {
            return Ok((target, Chosen::Local));
        }
        let remote = self.remote(&target)?;
        Ok((target, Chosen::Remote(remote)))
    }

    /// Probes every remote target, so open circuits close once a target is back.
    pub async fn probe_all(&self) {
        for remote in self.remotes.values() {
            if let Err(error) = remote.probe().await {
                tracing::debug!(target = remote.name(), %error, "target probe failed");
            }
        }
    }
}

/// One recorded placement, as `skyport admin placement show` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlacementRecord {
    pub resource_id: String,
    pub tenant: String,
    pub resource_kind: String,
    pub target: String,
    pub decision: String,
    pub created_at: i64,
}

impl Accounts {
    /// The placement component.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Runs `attempt` on the target the policies choose; when the target proves
    /// unreachable (nothing was created), decides again without it, as the
    /// policies' failover allows. Returns the result, the target's name and the
    /// explanation to record.
    pub(crate) async fn place<T, F, Fut>(
        &self,
        request: &Request,
        mut attempt: F,
    ) -> Result<(T, String, String)>
    where
        F: FnMut(Chosen) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut down = HashSet::new();
        let mut failures = Vec::new();
        loop {
            let decision = self.placement.decide(request, &down);
            let (target, chosen) = self.placement.chosen(&decision).map_err(|error| {
                match (&error, failures.is_empty()) {
                    (_, true) => error,
                    (Error::PlacementRefused(message) | Error::Unavailable(message), false) => {
                        Error::Unavailable(format!("{message} (after: {})", failures.join("; ")))
                    }
                    _ => error,
                }
            })?;
            match attempt(chosen).await {
                Ok(value) => {
                    let mut explanation = decision.explain();
                    for failure in &failures {
                        explanation.push_str(&format!("failed over: {failure}\n"));
                    }
                    return Ok((value, target, explanation));
                }
                Err(Error::Unavailable(message)) => {
                    tracing::warn!(%target, %message, "target unavailable, deciding again without it");
                    failures.push(format!("{target}: {message}"));
                    down.insert(target);
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// Records where a resource was placed and why, in the transaction that
    /// registers the resource.
    pub(crate) async fn record_placement(
        connection: &mut sqlx::AnyConnection,
        tenant: &Tenant,
        resource_id: &str,
        kind: &str,
        target: &str,
        explanation: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO placements (resource_id, tenant_id, resource_kind, target, decision, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(resource_id)
        .bind(&tenant.id)
        .bind(kind)
        .bind(target)
        .bind(explanation)
        .bind(now())
        .execute(connection)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Drops a deleted resource's placement record, in the transaction that
    /// forgets the resource.
    pub(crate) async fn forget_placement(
        connection: &mut sqlx::AnyConnection,
        resource_id: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM placements WHERE resource_id = $1")
            .bind(resource_id)
            .execute(connection)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The placement of a resource (admin view: any tenant).
    pub async fn placement_of(&self, resource_id: &str) -> Result<PlacementRecord> {
        let row = sqlx::query(
            "SELECT p.resource_id, t.name AS tenant, p.resource_kind, p.target, p.decision, p.created_at \
             FROM placements p JOIN tenants t ON t.id = p.tenant_id WHERE p.resource_id = $1",
        )
        .bind(resource_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err)?
        .ok_or_else(|| Error::invalid("ResourceId", format!("no placement is recorded for '{resource_id}'")))?;
        Ok(PlacementRecord {
            resource_id: text(&row, "resource_id")?,
            tenant: text(&row, "tenant")?,
            resource_kind: text(&row, "resource_kind")?,
            target: text(&row, "target")?,
            decision: text(&row, "decision")?,
            created_at: datastore::int(&row, "created_at")?,
        })
    }
}
