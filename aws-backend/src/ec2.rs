//! `cloud::Compute` over the target's EC2 API.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::primitives::{Blob, DateTime, DateTimeFormat};
use aws_sdk_ec2::types::{
    Filter, Image, Instance, InstanceStateChange, InstanceType, IpPermission, IpRange, Ipv6Range,
    Placement, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use base64::Engine;
use cloud::{Compute, ImageView, InstanceState, InstanceView, LaunchSpec, StateChange};

use crate::error::Error;
use crate::target::AwsTarget;

/// Most values one EC2 filter takes.
pub(crate) const MAX_FILTER_VALUES: usize = 200;

#[async_trait]
impl Compute for AwsTarget {
    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = spec.count))]
    async fn run_instances(&self, spec: &LaunchSpec) -> cloud::Result<Vec<InstanceView>> {
        let count = i32::try_from(spec.count).map_err(|_| {
            cloud::Error::invalid("MinCount", format!("{} instances is too many", spec.count))
        })?;
        // ClientToken: the SDK generates one when the caller gave none, so its
        // retries never launch twice.
        let mut request = self
            .clients
            .ec2
            .run_instances()
            .image_id(&spec.image_id)
            .instance_type(InstanceType::from(spec.instance_type.as_str()))
            .min_count(count)
            .max_count(count)
            .set_key_name(spec.key_name.clone())
            .set_user_data(spec.user_data.clone())
            .set_client_token(spec.client_token.clone());
        if !spec.security_group_ids.is_empty() {
            request = request.set_security_group_ids(Some(spec.security_group_ids.clone()));
        }
        if let Some(zone) = &spec.availability_zone {
            request = request.placement(Placement::builder().availability_zone(zone).build());
        }
        if !spec.tags.is_empty() {
            let tags = spec
                .tags
                .iter()
                .map(|tag| Tag::builder().key(&tag.key).value(&tag.value).build())
                .collect();
            request = request.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Instance)
                    .set_tags(Some(tags))
                    .build(),
            );
        }
        let output = request.send().await.map_err(|error| self.fail(error))?;
        let views = output
            .instances()
            .iter()
            .map(|instance| instance_view(self.name(), instance));
        Ok(views.collect::<Result<_, _>>()?)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len()))]
    async fn describe_instances(&self, remote_ids: &[String]) -> cloud::Result<Vec<InstanceView>> {
        // A filter rather than InstanceIds: unknown IDs are then simply absent
        // instead of failing the whole call with InvalidInstanceID.NotFound.
        let mut views = Vec::new();
        for ids in remote_ids.chunks(MAX_FILTER_VALUES) {
            let filter = Filter::builder()
                .name("instance-id")
                .set_values(Some(ids.to_vec()))
                .build();
            views.extend(self.instances_matching(filter).await?);
        }
        Ok(views)
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), key))]
    async fn instances_tagged(&self, key: &str) -> cloud::Result<Vec<InstanceView>> {
        self.instances_matching(Filter::builder().name("tag-key").values(key).build())
            .await
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len()))]
    async fn start_instances(&self, remote_ids: &[String]) -> cloud::Result<Vec<StateChange>> {
        if remote_ids.is_empty() {
            return Ok(Vec::new());
        }
        let call = self
            .clients
            .ec2
            .start_instances()
            .set_instance_ids(Some(remote_ids.to_vec()));
        let output = call.send().await.map_err(|error| self.fail(error))?;
        state_changes(self.name(), output.starting_instances())
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len(), force))]
    async fn stop_instances(
        &self,
        remote_ids: &[String],
        force: bool,
    ) -> cloud::Result<Vec<StateChange>> {
        if remote_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut call = self
            .clients
            .ec2
            .stop_instances()
            .set_instance_ids(Some(remote_ids.to_vec()));
        if force {
            call = call.force(true);
        }
        let output = call.send().await.map_err(|error| self.fail(error))?;
        state_changes(self.name(), output.stopping_instances())
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len()))]
    async fn reboot_instances(&self, remote_ids: &[String]) -> cloud::Result<()> {
        if remote_ids.is_empty() {
            return Ok(());
        }
        let call = self
            .clients
            .ec2
            .reboot_instances()
            .set_instance_ids(Some(remote_ids.to_vec()));
        call.send().await.map_err(|error| self.fail(error))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = remote_ids.len()))]
    async fn terminate_instances(&self, remote_ids: &[String]) -> cloud::Result<Vec<StateChange>> {
        if remote_ids.is_empty() {
            return Ok(Vec::new());
        }
        let call = self
            .clients
            .ec2
            .terminate_instances()
            .set_instance_ids(Some(remote_ids.to_vec()));
        let output = call.send().await.map_err(|error| self.fail(error))?;
        state_changes(self.name(), output.terminating_instances())
    }

    #[tracing::instrument(skip(self), fields(backend = %self.name()))]
    async fn console_output(&self, remote_id: &str) -> cloud::Result<(Vec<u8>, Option<String>)> {
        let call = self.clients.ec2.get_console_output().instance_id(remote_id);
        let output = call.send().await.map_err(|error| self.fail(error))?;
        let text = match output.output() {
            None => Vec::new(),
            Some(encoded) => base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|error| Error::BadResponse {
                    target: self.name().to_owned(),
                    detail: format!("console output is not base64: {error}"),
                })?,
        };
        Ok((text, output.timestamp().and_then(rfc3339)))
    }

    #[tracing::instrument(skip(self, public_key), fields(backend = %self.name()))]
    async fn ensure_key_pair(&self, name: &str, public_key: &str) -> cloud::Result<()> {
        let call = self
            .clients
            .ec2
            .import_key_pair()
            .key_name(name)
            .public_key_material(Blob::new(public_key));
        match call.send().await {
            Ok(_) => Ok(()),
            Err(error)
                if error.as_service_error().and_then(|e| e.meta().code())
                    == Some("InvalidKeyPair.Duplicate") =>
            {
                Ok(())
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), group = name))]
    async fn ensure_security_group(
        &self,
        name: &str,
        description: &str,
        rules: &[cloud::types::Rule],
    ) -> cloud::Result<String> {
        let existing = self
            .clients
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name("group-name").values(name).build())
            .send()
            .await
            .map_err(|error| self.fail(error))?;
        let (id, have) = match existing.security_groups().first() {
            Some(group) => {
                let id = group.group_id().unwrap_or_default().to_string();
                (
                    id,
                    group.ip_permissions().iter().flat_map(rule_keys).collect(),
                )
            }
            None => {
                let created = self
                    .clients
                    .ec2
                    .create_security_group()
                    .group_name(name)
                    .description(description)
                    .send()
                    .await
                    .map_err(|error| self.fail(error))?;
                let id = created.group_id().ok_or_else(|| {
                    cloud::Error::from(Error::BadResponse {
                        target: self.name().to_string(),
                        detail: "CreateSecurityGroup answered without a group ID".into(),
                    })
                })?;
                (id.to_string(), BTreeSet::new())
            }
        };
        let want: BTreeSet<RuleKey> = rules.iter().filter_map(RuleKey::of_rule).collect();
        let missing: Vec<IpPermission> = want.difference(&have).map(RuleKey::permission).collect();
        let extra: Vec<IpPermission> = have.difference(&want).map(RuleKey::permission).collect();
        if !extra.is_empty() {
            (self.clients.ec2.revoke_security_group_ingress())
                .group_id(&id)
                .set_ip_permissions(Some(extra))
                .send()
                .await
                .map_err(|error| self.fail(error))?;
        }
        if !missing.is_empty() {
            (self.clients.ec2.authorize_security_group_ingress())
                .group_id(&id)
                .set_ip_permissions(Some(missing))
                .send()
                .await
                .map_err(|error| self.fail(error))?;
        }
        Ok(id)
    }

    #[tracing::instrument(skip(self), fields(backend = %self.name()))]
    async fn set_instance_type(&self, remote_id: &str, instance_type: &str) -> cloud::Result<()> {
        let value = aws_sdk_ec2::types::AttributeValue::builder()
            .value(instance_type)
            .build();
        let call = self
            .clients
            .ec2
            .modify_instance_attribute()
            .instance_id(remote_id)
            .instance_type(value);
        call.send().await.map_err(|error| self.fail(error))?;
        Ok(())
    }

    #[tracing::instrument(skip(self, user_data), fields(backend = %self.name()))]
    async fn set_user_data(&self, remote_id: &str, user_data: Option<&str>) -> cloud::Result<()> {
        // EC2 wants the base64 text itself as the blob (which the SDK encodes
        // once more for the wire), unlike RunInstances' plain string.
        let value = aws_sdk_ec2::types::SecureBlobAttributeValue::builder()
            .value(Blob::new(user_data.unwrap_or_default().trim().as_bytes()))
            .build();
        let call = self
            .clients
            .ec2
            .modify_instance_attribute()
            .instance_id(remote_id)
            .user_data(value);
        call.send().await.map_err(|error| self.fail(error))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(backend = %self.name(), count = image_ids.len()))]
    async fn describe_images(&self, image_ids: &[String]) -> cloud::Result<Vec<ImageView>> {
        let ids = (!image_ids.is_empty()).then(|| image_ids.to_vec());
        self.images(ids, None).await
    }
}

impl AwsTarget {
    /// Deletes a security group (see `cloud::RemoteTarget::delete_security_group`).
    #[tracing::instrument(skip(self), fields(backend = %self.name()))]
    pub async fn delete_security_group(&self, group_id: &str) -> cloud::Result<()> {
        let call = (self.clients.ec2.delete_security_group()).group_id(group_id);
        match call.send().await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("InvalidGroup.NotFound") => Ok(()),
            Err(error) if error.code() == Some("DependencyViolation") => {
                Err(cloud::Error::DependencyViolation(format!(
                    "target {} still uses the group's copy there: {}",
                    self.name(),
                    error.message().unwrap_or_default()
                )))
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// The images of `owners` (see `cloud::RemoteTarget::images_owned_by`).
    #[tracing::instrument(skip_all, fields(backend = %self.name()))]
    pub async fn images_owned_by(&self, owners: &[String]) -> cloud::Result<Vec<ImageView>> {
        self.images(None, Some(owners.to_vec())).await
    }

    /// Every page of a DescribeImages.
    async fn images(
        &self,
        ids: Option<Vec<String>>,
        owners: Option<Vec<String>>,
    ) -> cloud::Result<Vec<ImageView>> {
        let mut views = Vec::new();
        let mut next_token = None;
        loop {
            let call = (self.clients.ec2.describe_images())
                .set_image_ids(ids.clone())
                .set_owners(owners.clone())
                .set_next_token(next_token);
            let output = call.send().await.map_err(|error| self.fail(error))?;
            for image in output.images() {
                views.push(image_view(self.name(), image)?);
            }
            next_token = output
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            if next_token.is_none() {
                return Ok(views);
            }
        }
    }
}

pub(crate) fn missing(target: &str, what: &str) -> Error {
    Error::BadResponse {
        target: target.to_owned(),
        detail: format!("{what} is missing"),
    }
}

fn state(
    target: &str,
    state: Option<&aws_sdk_ec2::types::InstanceState>,
) -> Result<InstanceState, Error> {
    let name = state
        .and_then(|state| state.name())
        .ok_or_else(|| missing(target, "instance state"))?;
    InstanceState::from_name(name.as_str()).ok_or_else(|| Error::BadResponse {
        target: target.to_owned(),
        detail: format!("unknown instance state '{}'", name.as_str()),
    })
}

/// One ingress rule as both sides can compare it: protocol, port range
/// (`None` for all ports) and one peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RuleKey {
    protocol: String,
    from_port: Option<i32>,
    to_port: Option<i32>,
    peer: Peer,
}

/// A rule's peer on the target: a block, or one of the target's groups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Peer {
    V4(String),
    V6(String),
    Group(String),
}

impl RuleKey {
    fn of_rule(rule: &cloud::types::Rule) -> Option<RuleKey> {
        if rule.direction != cloud::types::Direction::Ingress {
            return None;
        }
        let peer = match &rule.peer {
            cloud::types::RulePeer::Cidr4 { cidr, .. } => Peer::V4(cidr.clone()),
            cloud::types::RulePeer::Cidr6 { cidr, .. } => Peer::V6(cidr.clone()),
            cloud::types::RulePeer::Group { group_id, .. } => Peer::Group(group_id.clone()),
        };
        Some(RuleKey::new(
            &rule.protocol,
            rule.from_port,
            rule.to_port,
            peer,
        ))
    }

    fn new(protocol: &str, from_port: Option<i32>, to_port: Option<i32>, peer: Peer) -> RuleKey {
        // "All traffic" has no ports, whichever way a side spells it.
        let ports = |port: Option<i32>| {
            port.filter(|_| protocol != "-1")
                .filter(|p| *p != -1 || protocol == "icmp")
        };
        RuleKey {
            protocol: protocol.to_string(),
            from_port: ports(from_port),
            to_port: ports(to_port),
            peer,
        }
    }

    fn permission(&self) -> IpPermission {
        let permission = IpPermission::builder()
            .ip_protocol(&self.protocol)
            .set_from_port(self.from_port)
            .set_to_port(self.to_port);
        match &self.peer {
            Peer::V4(cidr) => permission.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
            Peer::V6(cidr) => permission.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build()),
            Peer::Group(id) => {
                permission.user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
            }
        }
        .build()
    }
}

/// The rules of one of the target's permissions.
fn rule_keys(permission: &IpPermission) -> Vec<RuleKey> {
    let protocol = permission.ip_protocol().unwrap_or("-1");
    let (from, to) = (permission.from_port(), permission.to_port());
    let v4 = (permission.ip_ranges().iter())
        .filter_map(|r| r.cidr_ip())
        .map(|c| Peer::V4(c.to_string()));
    let v6 = (permission.ipv6_ranges().iter())
        .filter_map(|r| r.cidr_ipv6())
        .map(|c| Peer::V6(c.to_string()));
    let groups = (permission.user_id_group_pairs().iter())
        .filter_map(|pair| pair.group_id())
        .map(|id| Peer::Group(id.to_string()));
    v4.chain(v6)
        .chain(groups)
        .map(|peer| RuleKey::new(protocol, from, to, peer))
        .collect()
}

impl AwsTarget {
    /// Every instance matching `filter`, all pages.
    async fn instances_matching(&self, filter: Filter) -> cloud::Result<Vec<InstanceView>> {
        let mut views = Vec::new();
        let mut next_token = None;
        loop {
            let output = (self.clients.ec2.describe_instances())
                .filters(filter.clone())
                .set_next_token(next_token)
                .send()
                .await
                .map_err(|error| self.fail(error))?;
            for reservation in output.reservations() {
                for instance in reservation.instances() {
                    views.push(instance_view(self.name(), instance)?);
                }
            }
            next_token = output
                .next_token()
                .filter(|token| !token.is_empty())
                .map(str::to_owned);
            if next_token.is_none() {
                return Ok(views);
            }
        }
    }
}

fn instance_view(target: &str, instance: &Instance) -> Result<InstanceView, Error> {
    Ok(InstanceView {
        remote_id: instance
            .instance_id()
            .ok_or_else(|| missing(target, "instanceId"))?
            .to_owned(),
        state: state(target, instance.state())?,
        instance_type: instance
            .instance_type()
            .map(|kind| kind.as_str().to_owned())
            .unwrap_or_default(),
        image_id: instance.image_id().unwrap_or_default().to_owned(),
        availability_zone: instance
            .placement()
            .and_then(|placement| placement.availability_zone())
            .map(str::to_owned),
        private_ip: instance.private_ip_address().map(str::to_owned),
        public_ip: instance.public_ip_address().map(str::to_owned),
        private_dns: instance
            .private_dns_name()
            .filter(|name| !name.is_empty())
            .map(str::to_owned),
        key_name: instance.key_name().map(str::to_owned),
        launch_time: instance.launch_time().and_then(rfc3339),
        architecture: instance
            .architecture()
            .map(|architecture| architecture.as_str().to_owned()),
        tags: tags_of(instance.tags()),
    })
}

/// A target's tags in Skyport's terms.
pub(crate) fn tags_of(tags: &[Tag]) -> Vec<cloud::types::Tag> {
    tags.iter()
        .filter_map(|tag| {
            Some(cloud::types::Tag {
                key: tag.key()?.to_owned(),
                value: tag.value().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

fn state_changes(target: &str, changes: &[InstanceStateChange]) -> cloud::Result<Vec<StateChange>> {
    let change = |change: &InstanceStateChange| -> Result<StateChange, Error> {
        Ok(StateChange {
            remote_id: change
                .instance_id()
                .ok_or_else(|| missing(target, "instanceId"))?
                .to_owned(),
            previous: state(target, change.previous_state())?,
            current: state(target, change.current_state())?,
        })
    };
    Ok(changes.iter().map(change).collect::<Result<_, _>>()?)
}

fn image_view(target: &str, image: &Image) -> Result<ImageView, Error> {
    Ok(ImageView {
        image_id: image
            .image_id()
            .ok_or_else(|| missing(target, "imageId"))?
            .to_owned(),
        name: image.name().map(str::to_owned),
        description: image.description().map(str::to_owned),
        state: image
            .state()
            .map(|state| state.as_str().to_owned())
            .unwrap_or_default(),
        architecture: image
            .architecture()
            .map(|architecture| architecture.as_str().to_owned()),
        owner_id: image.owner_id().map(str::to_owned),
        public: image.public().unwrap_or(false),
        root_device_type: image
            .root_device_type()
            .map(|kind| kind.as_str().to_owned()),
        virtualization_type: image
            .virtualization_type()
            .map(|kind| kind.as_str().to_owned()),
        creation_date: image.creation_date().map(str::to_owned),
    })
}

pub(crate) fn rfc3339(time: &DateTime) -> Option<String> {
    time.fmt(DateTimeFormat::DateTime).ok()
}
