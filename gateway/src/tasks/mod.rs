//! The gateway's background work: loops that keep records, policies,
//! targets and hosts in step while requests are served. Each runs as one
//! tokio task whose handle [`Tasks`] keeps, so a shutdown stops them all
//! before the database closes (omicron's `app/background` idea).

mod instances;
mod networks;
mod placement;
mod sweeps;

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::bootstrap::Site;
use crate::config::Config;

/// The running background tasks, by name.
#[derive(Default)]
pub struct Tasks {
    running: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    /// Runs `task` in the background under `name`.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.running.push((name, tokio::spawn(task)));
    }

    /// Names of the tasks started, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.running.iter().map(|(name, _)| *name).collect()
    }

    /// Stops every task and waits until each has stopped.
    pub async fn shutdown(self) {
        for (_, handle) in &self.running {
            handle.abort();
        }
        for (name, handle) in self.running {
            if let Err(error) = handle.await {
                if !error.is_cancelled() {
                    tracing::warn!(task = name, %error, "background task ended badly");
                }
            }
        }
    }
}

/// Starts the loops this site needs: sweeps and policy reloads always;
/// target probes, instance sync and the reconciler where there is something
/// to probe or sync; libvirt lifecycle events and network repair where local
/// compute and tenant networks run.
pub fn start(site: &Site, config: &Config, tasks: &mut Tasks) {
    let accounts = &site.accounts;
    tasks.spawn(
        "hourly sweeps",
        sweeps::hourly(accounts.clone(), config.multipart_expiry_hours),
    );
    tasks.spawn(
        "lifecycle rules",
        sweeps::lifecycle_rules(
            accounts.clone(),
            Duration::from_secs(config.lifecycle_interval_secs.max(1)),
        ),
    );
    tasks.spawn(
        "policy reload",
        placement::watch_policies(accounts.clone(), secs(config.policy_reload_secs)),
    );
    if !site.targets.is_empty() {
        tasks.spawn(
            "target probes",
            placement::probe_targets(accounts.clone(), secs(config.target_probe_secs)),
        );
    }
    if !site.targets.is_empty() || site.compute.is_ok() {
        tasks.spawn(
            "instance sync",
            instances::sync(accounts.clone(), secs(config.instance_sync_secs)),
        );
        tasks.spawn(
            "reconciler",
            sweeps::reconcile(
                accounts.clone(),
                secs(config.reconcile_interval_secs),
                config.orphan_grace_secs,
            ),
        );
    }
    if let Ok(compute) = &site.compute {
        if let Some(events) = compute.take_lifecycle_events() {
            tasks.spawn(
                "lifecycle events",
                instances::follow_lifecycle_events(accounts.clone(), events),
            );
        }
    }
    if site.networks.is_ok() {
        tasks.spawn("network repair", networks::repair(accounts.clone()));
    }
}

/// A period of `seconds`, at least 0.1 s.
fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds.max(0.1))
}

/// A ticker firing at once and then every `period`; a late tick waits a
/// whole period rather than bursting.
fn ticker(period: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}
