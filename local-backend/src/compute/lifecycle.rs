//! A launched instance's life: describe, start, stop (clean, then forced
//! after the timeout), reboot, terminate (everything of it removed), and
//! changing its type while stopped.

use cloud::{Error, InstanceState, InstanceView, ResourceKind, Result, StateChange};
use virt::connect::Connect;
use virt::domain::Domain;
use virt::network::Network;
use virt::sys;

use super::console::console_log_name;
use super::domain::{self, METADATA_URI};
use super::host::Host;
use super::libvirt::{virt_error, Inner};
use super::{network, pool};

impl Inner {
    /// Removes every trace of an instance: domain, lease, files. Tolerates
    /// any of them being gone already.
    pub(super) fn remove_instance(
        &self,
        conn: &Connect,
        host: &Host,
        network: &Network,
        name: &str,
    ) {
        if let Ok(domain) = Domain::lookup_by_name(conn, name) {
            if domain.is_active().unwrap_or(false) {
                let _ = domain.destroy();
            }
            if let Err(e) = domain.undefine() {
                tracing::warn!(domain = %name, error = %e, "undefining the domain failed");
            }
        }
        if let Ok(leases) = network::leases(network) {
            for lease in leases.iter().filter(|l| l.name == name) {
                if let Err(error) = network::remove_lease(network, lease) {
                    tracing::warn!(domain = %name, %error, "removing the lease failed");
                }
            }
        }
        if let Some((pool, _)) = &host.pool {
            if let Ok(pool) = virt::storage_pool::StoragePool::lookup_by_name(conn, pool) {
                pool::remove(
                    &pool,
                    &[format!("{name}-root.qcow2"), console_log_name(name)],
                );
            }
        }
        let _ = std::fs::remove_dir_all(self.instances_dir.join(name));
        self.stopping.lock().expect("stopping lock").remove(name);
    }

    pub(super) fn describe(&self, names: &[String]) -> Result<Vec<InstanceView>> {
        let mut views = Vec::with_capacity(names.len());
        for name in names {
            if let Some((_, domain, meta)) = self.find(name)? {
                let state = self.state_of(name, &domain);
                views.push(self.view(name, meta, state));
            }
        }
        Ok(views)
    }

    pub(super) fn tagged(&self, key: &str) -> Result<Vec<InstanceView>> {
        let mut views = Vec::new();
        for host in &self.hosts {
            let domains = host.with_conn(|conn| {
                conn.list_all_domains(0)
                    .map_err(|e| virt_error("listing domains", e))
            })?;
            for domain in domains {
                let (Ok(name), Some(meta)) = (domain.get_name(), self.meta_of(&domain)) else {
                    continue;
                };
                if meta.tags.iter().any(|(k, _)| k == key) {
                    let state = self.state_of(&name, &domain);
                    views.push(self.view(&name, meta, state));
                }
            }
        }
        Ok(views)
    }

    /// Applies `action` to each of this site's domains among `names` and
    /// reports (previous, current); names that are not ours are skipped.
    fn each_domain(
        &self,
        names: &[String],
        mut action: impl FnMut(&str, &Domain, InstanceState) -> Result<InstanceState>,
    ) -> Result<Vec<StateChange>> {
        let mut changes = Vec::with_capacity(names.len());
        for name in names {
            let Some((_, domain, _)) = self.find(name)? else {
                continue;
            };
            let previous = self.state_of(name, &domain);
            let current = action(name, &domain, previous)?;
            changes.push(StateChange {
                remote_id: name.clone(),
                previous,
                current,
            });
        }
        Ok(changes)
    }

    pub(super) fn start(&self, names: &[String]) -> Result<Vec<StateChange>> {
        self.each_domain(names, |name, domain, previous| {
            if previous != InstanceState::Stopped {
                return Ok(previous);
            }
            domain
                .create()
                .map_err(|e| virt_error("starting the domain", e))?;
            self.stopping.lock().expect("stopping lock").remove(name);
            Ok(InstanceState::Pending)
        })
    }

    pub(super) fn stop(&self, names: &[String], force: bool) -> Result<Vec<StateChange>> {
        self.each_domain(names, |name, domain, previous| {
            if previous == InstanceState::Stopped {
                return Ok(previous);
            }
            if force {
                domain
                    .destroy()
                    .map_err(|e| virt_error("powering the domain off", e))?;
                self.stopping.lock().expect("stopping lock").remove(name);
                return Ok(InstanceState::Stopped);
            }
            domain
                .shutdown()
                .map_err(|e| virt_error("shutting the domain down", e))?;
            self.stopping
                .lock()
                .expect("stopping lock")
                .insert(name.to_string());
            Ok(InstanceState::Stopping)
        })
    }

    /// Powers off a domain still shutting down after the stop timeout.
    pub(super) fn force_off_if_stopping(&self, name: &str) {
        if !self.stopping.lock().expect("stopping lock").contains(name) {
            return;
        }
        let result = self.find(name).and_then(|found| {
            if let Some((_, domain, _)) = found {
                if domain.is_active().unwrap_or(false) {
                    tracing::info!(domain = %name, "clean shutdown timed out; powering off");
                    domain
                        .destroy()
                        .map_err(|e| virt_error("powering the domain off", e))?;
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            tracing::warn!(domain = %name, %error, "forced stop failed");
        }
        self.stopping.lock().expect("stopping lock").remove(name);
    }

    pub(super) fn reboot(&self, names: &[String]) -> Result<()> {
        self.each_domain(names, |_, domain, previous| {
            if previous == InstanceState::Running {
                // ACPI: the guest shuts down cleanly and libvirt starts it again.
                domain
                    .reboot(0)
                    .map_err(|e| virt_error("rebooting the domain", e))?;
            }
            Ok(previous)
        })?;
        Ok(())
    }

    pub(super) fn terminate(&self, names: &[String]) -> Result<Vec<StateChange>> {
        let mut changes = Vec::with_capacity(names.len());
        for name in names {
            let Some((host, domain, _)) = self.find(name)? else {
                continue;
            };
            let previous = self.state_of(name, &domain);
            drop(domain);
            host.with_conn(|conn| {
                self.remove_instance(conn, host, &self.network(conn)?, name);
                Ok(())
            })?;
            tracing::info!(host = %host.name, domain = %name, "instance terminated");
            changes.push(StateChange {
                remote_id: name.clone(),
                previous,
                current: InstanceState::Terminated,
            });
        }
        Ok(changes)
    }

    /// Removes an instance wherever it is, logging what fails (rollback path).
    pub(super) fn terminate_one(&self, name: &str) {
        if let Err(error) = self.terminate(&[name.to_string()]) {
            tracing::warn!(domain = %name, %error, "rolling back a launch failed");
        }
    }

    /// Resizes a stopped domain (its persistent definition) and records the type.
    pub(super) fn set_type(&self, name: &str, instance_type: &str) -> Result<()> {
        let size = self.size_of(instance_type)?;
        {
            let (_, domain, mut meta) = self
                .find(name)?
                .ok_or_else(|| Error::not_found(ResourceKind::Instance, name))?;
            if self.state_of(name, &domain) != InstanceState::Stopped {
                return Err(Error::IncorrectState(
                    "The instance must be stopped to change its instance type".into(),
                ));
            }
            let fail = |e| virt_error("resizing the domain", e);
            let kib = size.memory_mib * 1024;
            domain.set_max_memory(kib).map_err(fail)?;
            domain
                .set_memory_flags(kib, sys::VIR_DOMAIN_MEM_CONFIG)
                .map_err(fail)?;
            // Raise the maximum before the count, or lower the count first.
            let config = sys::VIR_DOMAIN_AFFECT_CONFIG;
            let maximum = config | sys::VIR_DOMAIN_VCPU_MAXIMUM;
            if domain.set_vcpus_flags(size.vcpus, maximum).is_ok() {
                domain.set_vcpus_flags(size.vcpus, config).map_err(fail)?;
            } else {
                domain.set_vcpus_flags(size.vcpus, config).map_err(fail)?;
                domain.set_vcpus_flags(size.vcpus, maximum).map_err(fail)?;
            }
            meta.instance_type = instance_type.to_string();
            domain
                .set_metadata(
                    sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
                    Some(&domain::meta_element(&meta)),
                    Some("skyport"),
                    Some(METADATA_URI),
                    config,
                )
                .map_err(|e| virt_error("recording the instance type", e))?;
            Ok(())
        }
    }
}
