//! The filters of DescribeInstances and DescribeInstanceStatus: every name
//! AWS documents for them, with the values this site's instances have (none
//! for features they lack, so such a filter matches nothing).

use std::sync::Arc;

use accounts::interface_id;
use accounts::Instance;
use cloud::types::Tag;

use super::filter::{absent, field, one, opt, FilterField, Filterable};
use super::xml::timestamp;

/// Values that exist only when the instance has a network interface here.
fn on_subnet(instance: &Instance, value: impl FnOnce(&Instance) -> Vec<String>) -> Vec<String> {
    if instance.subnet_id.is_some() {
        value(instance)
    } else {
        Vec::new()
    }
}

fn group_ids(instance: &Instance) -> Vec<String> {
    instance.groups.iter().map(|g| g.0.clone()).collect()
}

fn group_names(instance: &Instance) -> Vec<String> {
    instance.groups.iter().map(|g| g.1.clone()).collect()
}

impl Filterable for Instance {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["instance-id"], |i| one(&i.id)),
        field(&["instance-state-name"], |i| one(i.state.name())),
        field(&["instance-state-code"], |i| one(i.state.code().to_string())),
        field(&["instance-type"], |i| one(&i.instance_type)),
        field(&["image-id"], |i| one(&i.image_id)),
        field(&["availability-zone"], |i| opt(&i.availability_zone)),
        field(&["key-name"], |i| opt(&i.key_name)),
        field(&["private-ip-address"], |i| opt(&i.private_ip)),
        field(&["ip-address"], |i| opt(&i.public_ip)),
        field(&["private-dns-name"], |i| opt(&i.private_dns)),
        field(&["reservation-id"], |i| one(&i.reservation_id)),
        field(&["client-token"], |i| opt(&i.client_token)),
        field(&["subnet-id"], |i| opt(&i.subnet_id)),
        field(&["vpc-id"], |i| opt(&i.vpc_id)),
        field(&["instance.group-id", "group-id"], group_ids),
        field(&["instance.group-name", "group-name"], group_names),
        field(&["launch-index"], |i| one(i.launch_index.to_string())),
        field(&["launch-time"], |i| one(timestamp(i.launched_at))),
        field(&["architecture"], |i| {
            one(i.architecture.as_deref().unwrap_or("x86_64"))
        }),
        field(&["root-device-type"], |_| one("ebs")),
        field(&["virtualization-type"], |_| one("hvm")),
        field(&["hypervisor"], |_| one("xen")),
        field(&["tenancy"], |_| one("default")),
        field(&["monitoring-state"], |_| one("disabled")),
        field(&["state-reason-code"], |i| opt(&i.state_reason)),
        field(&["network-interface.network-interface-id"], |i| {
            on_subnet(i, |i| one(interface_id(&i.id)))
        }),
        field(&["network-interface.subnet-id"], |i| opt(&i.subnet_id)),
        field(&["network-interface.vpc-id"], |i| opt(&i.vpc_id)),
        field(&["network-interface.availability-zone"], |i| {
            on_subnet(i, |i| opt(&i.availability_zone))
        }),
        field(
            &[
                "network-interface.private-ip-address",
                "network-interface.addresses.private-ip-address",
            ],
            |i| on_subnet(i, |i| opt(&i.private_ip)),
        ),
        field(
            &[
                "network-interface.private-dns-name",
                "network-interface.addresses.private-dns-name",
            ],
            |i| on_subnet(i, |i| opt(&i.private_dns)),
        ),
        field(&["network-interface.group-id"], |i| on_subnet(i, group_ids)),
        field(&["network-interface.group-name"], |i| {
            on_subnet(i, group_names)
        }),
        field(
            &[
                "network-interface.association.public-ip",
                "network-interface.addresses.association.public-ip",
            ],
            |i| on_subnet(i, |i| opt(&i.public_ip)),
        ),
        field(
            &[
                "owner-id",
                "network-interface.owner-id",
                "network-interface.attachment.instance-owner-id",
            ],
            // Every instance listed is the caller's: the handler settles these
            // filters with `filter::settle_constant` before any record is read.
            |_| Vec::new(),
        ),
        field(&["network-interface.attachment.instance-id"], |i| {
            on_subnet(i, |i| one(&i.id))
        }),
        field(&["network-interface.attachment.device-index"], |i| {
            on_subnet(i, |_| one("0"))
        }),
        field(&["network-interface.attachment.status"], |i| {
            on_subnet(i, |_| one("attached"))
        }),
        field(&["network-interface.status"], |i| {
            on_subnet(i, |_| one("in-use"))
        }),
        field(&["network-interface.addresses.primary"], |i| {
            on_subnet(i, |_| one("true"))
        }),
        field(&["network-interface.source-dest-check", "source-dest-check"], |i| {
            on_subnet(i, |_| one("true"))
        }),
        absent(&[
            "affinity",
            "availability-zone-id",
            "block-device-mapping.attach-time",
            "block-device-mapping.delete-on-termination",
            "block-device-mapping.device-name",
            "block-device-mapping.status",
            "block-device-mapping.volume-id",
            "boot-mode",
            "capacity-reservation-id",
            "capacity-reservation-specification.capacity-reservation-preference",
            "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id",
            "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn",
            "current-instance-boot-mode",
            "dns-name",
            "ebs-optimized",
            "ena-support",
            "enclave-options.enabled",
            "hibernation-options.configured",
            "host-id",
            "iam-instance-profile.arn",
            "iam-instance-profile.id",
            "instance-lifecycle",
            "ipv6-address",
            "kernel-id",
            "maintenance-options.auto-recovery",
            "metadata-options.http-endpoint",
            "metadata-options.http-protocol-ipv4",
            "metadata-options.http-protocol-ipv6",
            "metadata-options.http-put-response-hop-limit",
            "metadata-options.http-tokens",
            "metadata-options.instance-metadata-tags",
            "metadata-options.state",
            "network-interface.addresses.association.allocation-id",
            "network-interface.addresses.association.association-id",
            "network-interface.addresses.association.carrier-ip",
            "network-interface.addresses.association.customer-owned-ip",
            "network-interface.addresses.association.ip-owner-id",
            "network-interface.addresses.association.public-dns-name",
            "network-interface.association.allocation-id",
            "network-interface.association.association-id",
            "network-interface.association.carrier-ip",
            "network-interface.association.customer-owned-ip",
            "network-interface.association.ip-owner-id",
            "network-interface.association.public-dns-name",
            "network-interface.attachment.attach-time",
            "network-interface.attachment.attachment-id",
            "network-interface.attachment.delete-on-termination",
            "network-interface.attachment.network-card-index",
            "network-interface.deny-all-igw-traffic",
            "network-interface.description",
            "network-interface.ipv4-prefixes.ipv4-prefix",
            "network-interface.ipv6-address",
            "network-interface.ipv6-addresses.ipv6-address",
            "network-interface.ipv6-addresses.is-primary-ipv6",
            "network-interface.ipv6-native",
            "network-interface.ipv6-prefixes.ipv6-prefix",
            "network-interface.mac-address",
            "network-interface.operator.managed",
            "network-interface.operator.principal",
            "network-interface.outpost-arn",
            "network-interface.public-dns-name",
            "network-interface.requester-id",
            "network-interface.requester-managed",
            "network-interface.tag-key",
            "network-interface.tag-value",
            "network-performance-options.bandwidth-weighting",
            "operator.managed",
            "operator.principal",
            "outpost-arn",
            "placement-group-name",
            "placement-partition-number",
            "platform",
            "platform-details",
            "private-dns-name-options.enable-resource-name-dns-a-record",
            "private-dns-name-options.enable-resource-name-dns-aaaa-record",
            "private-dns-name-options.hostname-type",
            "product-code",
            "product-code.type",
            "ramdisk-id",
            "requester-id",
            "root-device-name",
            "spot-instance-request-id",
            "state-reason-message",
            "tpm-support",
            "usage-operation",
            "usage-operation-update-time",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

/// Filters whose value is the caller's account ID for every instance.
pub(super) const OWNER_FILTERS: &[&str] = &[
    "owner-id",
    "network-interface.owner-id",
    "network-interface.attachment.instance-owner-id",
];

/// An instance as DescribeInstanceStatus shows it.
pub(super) struct Status(pub Arc<Instance>);

impl Status {
    /// The system and instance checks: `ok` while running, else not applicable.
    pub(super) fn health(&self) -> &'static str {
        if self.0.state == cloud::InstanceState::Running {
            "ok"
        } else {
            "not-applicable"
        }
    }
}

impl Filterable for Status {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["availability-zone"], |s| opt(&s.0.availability_zone)),
        field(&["instance-state-name"], |s| one(s.0.state.name())),
        field(&["instance-state-code"], |s| {
            one(s.0.state.code().to_string())
        }),
        field(&["instance-status.status", "system-status.status"], |s| {
            one(s.health())
        }),
        absent(&[
            "availability-zone-id",
            "event.code",
            "event.description",
            "event.instance-event-id",
            "event.not-after",
            "event.not-before",
            "event.not-before-deadline",
            "instance-status.reachability",
            "system-status.reachability",
            "operator.managed",
            "operator.principal",
            "attached-ebs-status.status",
            "application-status.status",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.0.tags
    }
}
