//! RunInstances in three steps: check the request (counts, tags, the
//! ClientToken, the quota, the key pair and groups it names), place it (the
//! policies choose a target; each attempt launches there, this site's
//! guests plugged into their subnet), and record what was launched.

use std::sync::{Arc, Mutex};

use cloud::types::{KeyPair, SecurityGroup, Tag};
use cloud::{Compute, Error, InstanceView, LaunchSpec, ResourceKind, Result};

use super::record::{self, Launched};
use super::{Instance, LaunchRequest, Rendered, RESERVATION_TAG, TENANT_TAG};
use crate::attachments::Attached;
use crate::placement::{Chosen, PLACEMENT_TAG};
use crate::security_groups::GroupRef;
use crate::tenants::Tenant;
use crate::Accounts;
use datastore::{db_err, now};

/// What a checked launch brings to every placement attempt.
struct Checked {
    key: Option<KeyPair>,
    groups: Vec<SecurityGroup>,
    reservation_id: String,
}

impl Accounts {
    /// Places and launches instances. With a ClientToken already used by this
    /// tenant, returns that launch's instances instead (idempotency).
    pub async fn run_instances(
        &self,
        tenant: &Tenant,
        launch: &LaunchRequest,
    ) -> Result<Vec<Instance>> {
        self.check_launch(launch)?;
        if let Some(token) = &launch.client_token {
            let earlier = self
                .instance_rows(tenant, "client_token = $2", Some(token))
                .await?;
            if !earlier.is_empty() {
                return self
                    .with_tags(tenant, earlier.into_iter().map(|r| r.instance).collect())
                    .await;
            }
        }
        let checked = self.check_references(tenant, launch).await?;
        let request = self.launch_request(tenant, launch).await?;
        // Where a local launch was plugged in (set by the attempt that succeeds).
        let attached: Mutex<Option<Attached>> = Mutex::new(None);
        let (views, target, explanation) = self
            .place(&request, |chosen| {
                self.launch_on(chosen, tenant, launch, &checked, &attached)
            })
            .await?;
        let attached = attached.into_inner().expect("attachment lock");
        let instances = self
            .record_launch(
                tenant,
                launch,
                &checked,
                views,
                &target,
                &explanation,
                attached,
            )
            .await?;
        self.with_tags(tenant, instances).await
    }

    /// What needs no database: a site that can run instances at all, the
    /// tags, and the counts.
    fn check_launch(&self, launch: &LaunchRequest) -> Result<()> {
        if self.placement.remotes().next().is_none() {
            if let Err(error) = self.placement.local_compute() {
                return Err(Error::PlacementRefused(format!(
                    "no target can run instances: {error}; start libvirt (scripts/setup.sh) \
                     or configure [targets.NAME] and policy_dir (docs/policies.md)"
                )));
            }
        }
        for tag in &launch.tags {
            cloud::tags::validate_tag(tag)?;
        }
        if launch.min_count < 1 || launch.max_count < launch.min_count {
            return Err(Error::invalid(
                "MaxCount",
                "MinCount must be at least 1 and at most MaxCount",
            ));
        }
        Ok(())
    }

    /// The tenant's quota, and the key pair and security groups it names.
    async fn check_references(&self, tenant: &Tenant, launch: &LaunchRequest) -> Result<Checked> {
        if let Some(limit) = tenant.quotas.instances {
            let running = self
                .instance_rows(tenant, "state <> 'terminated'", None)
                .await?
                .len() as i64;
            if running + i64::from(launch.min_count) > limit {
                return Err(Error::QuotaExceeded {
                    resource: "instances",
                    limit,
                });
            }
        }
        let key = match &launch.key_name {
            Some(name) => Some(
                self.find_key_pair(tenant, name)
                    .await?
                    .ok_or_else(|| Error::not_found(ResourceKind::KeyPair, name.clone()))?,
            ),
            None => None,
        };
        let mut groups = Vec::with_capacity(launch.security_group_ids.len());
        for group in &launch.security_group_ids {
            let reference = if group.starts_with("sg-") {
                GroupRef::Id(group.clone())
            } else {
                GroupRef::Name(group.clone())
            };
            groups.push(self.security_group(tenant, &reference).await?);
        }
        Ok(Checked {
            key,
            groups,
            reservation_id: ResourceKind::Reservation.new_id(),
        })
    }

    /// The facts the policies decide a launch on.
    async fn launch_request(
        &self,
        tenant: &Tenant,
        launch: &LaunchRequest,
    ) -> Result<policies::Request> {
        let mut request = policies::Request::new(
            &tenant.name,
            "RunInstances",
            policies::ResourceKind::Instance,
        )
        .with_instance_type(&launch.instance_type)
        .with_region(&self.region);
        if let Some(zone) = &launch.availability_zone {
            request = request.with_availability_zone(zone);
        }
        for tag in &launch.tags {
            request = request.with_tag(&tag.key, &tag.value);
        }
        if let Some(targets) = self.image_targets(tenant, &launch.image_id).await? {
            let why = format!("image {} is not there", launch.image_id);
            request = request.with_eligible_targets(targets, why);
        }
        Ok(request)
    }

    /// One placement attempt: launches on the chosen target.
    async fn launch_on(
        &self,
        chosen: Chosen,
        tenant: &Tenant,
        launch: &LaunchRequest,
        checked: &Checked,
        attached: &Mutex<Option<Attached>>,
    ) -> Result<Vec<InstanceView>> {
        let is_local = matches!(chosen, Chosen::Local);
        let (compute, key_name, security_group_ids) = match chosen {
            // Local guests get their key from the metadata service, and
            // security groups are enforced by tenant networks.
            Chosen::Local => {
                let compute = self.placement.local_compute()?;
                self.launchable_image(tenant, &launch.image_id).await?;
                (compute, None, Vec::new())
            }
            Chosen::Remote(remote) if launch.subnet_id.is_some() => {
                return Err(Error::invalid(
                    "SubnetId",
                    format!(
                        "subnets are this site's, but the placement policy chose target {} for this launch",
                        remote.name()
                    ),
                ));
            }
            Chosen::Remote(remote) => {
                let mut security_group_ids = Vec::with_capacity(checked.groups.len());
                for group in &checked.groups {
                    security_group_ids
                        .push(self.copy_security_group(tenant, &remote, group).await?);
                }
                let key_name = match &checked.key {
                    Some(pair) => {
                        let name = super::remote_key_name(&pair.id);
                        remote.ensure_key_pair(&name, &pair.public_key).await?;
                        Some(name)
                    }
                    None => None,
                };
                (remote as Arc<dyn Compute>, key_name, security_group_ids)
            }
        };
        // The target's copy carries our IDs, so a reconciler can match orphans.
        let mut tags = launch.tags.clone();
        tags.push(Tag {
            key: TENANT_TAG.into(),
            value: tenant.account_id.clone(),
        });
        tags.push(Tag {
            key: RESERVATION_TAG.into(),
            value: checked.reservation_id.clone(),
        });
        let spec = LaunchSpec {
            image_id: launch.image_id.clone(),
            instance_type: launch.instance_type.clone(),
            count: launch.max_count,
            key_name,
            security_group_ids,
            user_data: launch.user_data.clone(),
            availability_zone: launch.availability_zone.clone(),
            client_token: launch
                .client_token
                .as_ref()
                .map(|t| format!("{}-{t}", tenant.account_id)),
            tags,
            network: None,
        };
        if !is_local {
            return compute.run_instances(&spec).await;
        }
        let (views, attachment) = self
            .run_attached(tenant, compute.as_ref(), spec, launch, &checked.groups)
            .await?;
        *attached.lock().expect("attachment lock") = attachment;
        Ok(views)
    }

    /// Records the launched instances, their addresses, groups, tags and
    /// placement in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn record_launch(
        &self,
        tenant: &Tenant,
        launch: &LaunchRequest,
        checked: &Checked,
        views: Vec<InstanceView>,
        target: &str,
        explanation: &str,
        attached: Option<Attached>,
    ) -> Result<Vec<Instance>> {
        // `_launching` keeps the guests' ports planned until their records commit.
        let (attachment, vpc_groups, _launching) = match attached {
            Some(launched) => (
                Some(launched.attachment),
                launched.groups,
                Some(launched.launching),
            ),
            None => (None, Vec::new(), None),
        };
        // A local launch on a subnet has its VPC's groups; a remote one the
        // groups copied to its target.
        let memberships: Vec<&str> = if attachment.is_some() {
            vpc_groups.iter().map(String::as_str).collect()
        } else {
            checked
                .groups
                .iter()
                .map(|group| group.id.as_str())
                .collect()
        };
        let launched_at = now();
        let mut instances = Vec::with_capacity(views.len());
        let mut tx = self.db.begin_write().await?;
        for (index, view) in views.iter().enumerate() {
            let instance = Instance {
                id: ResourceKind::Instance.new_id(),
                reservation_id: checked.reservation_id.clone(),
                target: target.to_string(),
                state: view.state,
                instance_type: view.instance_type.clone(),
                image_id: view.image_id.clone(),
                key_name: launch.key_name.clone(),
                availability_zone: view.availability_zone.clone(),
                private_ip: view.private_ip.clone(),
                public_ip: view.public_ip.clone(),
                private_dns: view.private_dns.clone(),
                architecture: view.architecture.clone(),
                launch_index: index as i64,
                launched_at,
                terminated_at: None,
                client_token: launch.client_token.clone(),
                state_reason: None,
                vpc_id: attachment.as_ref().map(|a| a.subnet.vpc_id.clone()),
                subnet_id: attachment.as_ref().map(|a| a.subnet.id.clone()),
                groups: Vec::new(),
                rendered: Rendered::default(),
                tags: launch
                    .tags
                    .iter()
                    .cloned()
                    .chain([Tag {
                        key: PLACEMENT_TAG.into(),
                        value: target.to_string(),
                    }])
                    .collect(),
            };
            let launched = Launched {
                instance: &instance,
                remote_id: &view.remote_id,
                user_data: launch.user_data.as_deref(),
                disable_api_termination: launch.disable_api_termination,
                groups: &memberships,
            };
            record::insert(&mut tx, tenant, &launched).await?;
            Self::record_placement(
                &mut tx,
                tenant,
                &instance.id,
                "instance",
                target,
                explanation,
            )
            .await?;
            instances.push(instance);
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_view
            .added(&tenant.id, instances.iter().map(|i| i.id.as_str()));
        tracing::info!(tenant = %tenant.name, %target, count = instances.len(), reservation = %checked.reservation_id, "instances launched");
        Ok(instances)
    }
}
