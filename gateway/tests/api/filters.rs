//! Every Describe action takes the filter names AWS documents for it (the
//! Filter lists of the EC2 API reference, aliases included) and refuses others.

use crate::common::{on_both_databases, Server};
use crate::raw::{code_of, ec2_post};

/// (action, the filter names its API reference documents, besides `tag:KEY`).
const DOCUMENTED: &[(&str, &[&str])] = &[
    ("DescribeRegions", &["endpoint", "opt-in-status", "region-name"]),
    (
        "DescribeAvailabilityZones",
        &[
            "group-long-name", "group-name", "message", "opt-in-status", "parent-zone-id",
            "parent-zone-name", "region-name", "state", "zone-id", "zone-name", "zone-type",
        ],
    ),
    ("DescribeKeyPairs", &["key-pair-id", "fingerprint", "key-name", "tag-key"]),
    (
        "DescribeSecurityGroups",
        &[
            "description", "egress.ip-permission.cidr", "egress.ip-permission.from-port",
            "egress.ip-permission.group-id", "egress.ip-permission.group-name",
            "egress.ip-permission.ipv6-cidr", "egress.ip-permission.prefix-list-id",
            "egress.ip-permission.protocol", "egress.ip-permission.to-port",
            "egress.ip-permission.user-id", "group-id", "group-name", "ip-permission.cidr",
            "ip-permission.from-port", "ip-permission.group-id", "ip-permission.group-name",
            "ip-permission.ipv6-cidr", "ip-permission.prefix-list-id", "ip-permission.protocol",
            "ip-permission.to-port", "ip-permission.user-id", "owner-id", "tag-key", "vpc-id",
        ],
    ),
    ("DescribeSecurityGroupRules", &["group-id", "security-group-rule-id"]),
    ("DescribeTags", &["key", "resource-id", "resource-type", "value"]),
    (
        "DescribeInstances",
        &[
            "affinity", "architecture", "availability-zone", "availability-zone-id",
            "block-device-mapping.attach-time", "block-device-mapping.delete-on-termination",
            "block-device-mapping.device-name", "block-device-mapping.status",
            "block-device-mapping.volume-id", "boot-mode", "capacity-reservation-id",
            "capacity-reservation-specification.capacity-reservation-preference",
            "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id",
            "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn",
            "client-token", "current-instance-boot-mode", "dns-name", "ebs-optimized",
            "ena-support", "enclave-options.enabled", "hibernation-options.configured", "host-id",
            "hypervisor", "iam-instance-profile.arn", "iam-instance-profile.id", "image-id",
            "instance-id", "instance-lifecycle", "instance-state-code", "instance-state-name",
            "instance-type", "instance.group-id", "instance.group-name", "ip-address",
            "ipv6-address", "kernel-id", "key-name", "launch-index", "launch-time",
            "maintenance-options.auto-recovery", "metadata-options.http-endpoint",
            "metadata-options.http-protocol-ipv4", "metadata-options.http-protocol-ipv6",
            "metadata-options.http-put-response-hop-limit", "metadata-options.http-tokens",
            "metadata-options.instance-metadata-tags", "metadata-options.state",
            "monitoring-state", "network-interface.addresses.association.allocation-id",
            "network-interface.addresses.association.association-id",
            "network-interface.addresses.association.carrier-ip",
            "network-interface.addresses.association.customer-owned-ip",
            "network-interface.addresses.association.ip-owner-id",
            "network-interface.addresses.association.public-dns-name",
            "network-interface.addresses.association.public-ip",
            "network-interface.addresses.primary", "network-interface.addresses.private-dns-name",
            "network-interface.addresses.private-ip-address",
            "network-interface.association.allocation-id",
            "network-interface.association.association-id",
            "network-interface.association.carrier-ip",
            "network-interface.association.customer-owned-ip",
            "network-interface.association.ip-owner-id",
            "network-interface.association.public-dns-name",
            "network-interface.association.public-ip", "network-interface.attachment.attach-time",
            "network-interface.attachment.attachment-id",
            "network-interface.attachment.delete-on-termination",
            "network-interface.attachment.device-index",
            "network-interface.attachment.instance-id",
            "network-interface.attachment.instance-owner-id",
            "network-interface.attachment.network-card-index",
            "network-interface.attachment.status", "network-interface.availability-zone",
            "network-interface.deny-all-igw-traffic", "network-interface.description",
            "network-interface.group-id", "network-interface.group-name",
            "network-interface.ipv4-prefixes.ipv4-prefix", "network-interface.ipv6-address",
            "network-interface.ipv6-addresses.ipv6-address",
            "network-interface.ipv6-addresses.is-primary-ipv6", "network-interface.ipv6-native",
            "network-interface.ipv6-prefixes.ipv6-prefix", "network-interface.mac-address",
            "network-interface.network-interface-id", "network-interface.operator.managed",
            "network-interface.operator.principal", "network-interface.outpost-arn",
            "network-interface.owner-id", "network-interface.private-dns-name",
            "network-interface.private-ip-address", "network-interface.public-dns-name",
            "network-interface.requester-id", "network-interface.requester-managed",
            "network-interface.status", "network-interface.source-dest-check",
            "network-interface.subnet-id", "network-interface.tag-key",
            "network-interface.tag-value", "network-interface.vpc-id",
            "network-performance-options.bandwidth-weighting", "operator.managed",
            "operator.principal", "outpost-arn", "owner-id", "placement-group-name",
            "placement-partition-number", "platform", "platform-details", "private-dns-name",
            "private-dns-name-options.enable-resource-name-dns-a-record",
            "private-dns-name-options.enable-resource-name-dns-aaaa-record",
            "private-dns-name-options.hostname-type", "private-ip-address", "product-code",
            "product-code.type", "ramdisk-id", "requester-id", "reservation-id",
            "root-device-name", "root-device-type", "source-dest-check",
            "spot-instance-request-id", "state-reason-code", "state-reason-message", "subnet-id",
            "tag-key", "tenancy", "tpm-support", "usage-operation", "usage-operation-update-time",
            "virtualization-type", "vpc-id",
        ],
    ),
    (
        "DescribeInstanceStatus",
        &[
            "availability-zone", "availability-zone-id", "event.code", "event.description",
            "event.instance-event-id", "event.not-after", "event.not-before",
            "event.not-before-deadline", "instance-state-code", "instance-state-name",
            "instance-status.reachability", "instance-status.status", "operator.managed",
            "operator.principal", "system-status.reachability", "system-status.status",
            "attached-ebs-status.status", "application-status.status",
        ],
    ),
    (
        "DescribeImages",
        &[
            "architecture", "block-device-mapping.delete-on-termination",
            "block-device-mapping.device-name", "block-device-mapping.snapshot-id",
            "block-device-mapping.volume-size", "block-device-mapping.volume-type",
            "block-device-mapping.encrypted", "boot-mode", "creation-date", "description",
            "ena-support", "free-tier-eligible", "hypervisor", "image-allowed", "image-id",
            "image-watermark.source-image-creation-time", "image-watermark.source-image-id",
            "image-watermark.source-image-region", "image-watermark.watermark-creation-time",
            "image-watermark.watermark-key", "image-type",
            "instance-type-specification.supported-instance-type",
            "instance-type-specification.unsupported-instance-type", "is-public", "kernel-id",
            "manifest-location", "name", "owner-alias", "owner-id", "platform", "product-code",
            "product-code.type", "public-ssm-parameter-name", "ramdisk-id", "root-device-name",
            "root-device-type", "scan-result.critical-fix-available-since",
            "scan-result.finding-scan-date", "scan-result.high-fix-available-since",
            "scan-result.highest-finding-severity-label",
            "scan-result.informational-fix-available-since",
            "scan-result.low-fix-available-since", "scan-result.medium-fix-available-since",
            "source-image-id", "source-image-region", "source-instance-id", "state",
            "state-reason-code", "state-reason-message", "sriov-net-support", "tag-key",
            "virtualization-type",
        ],
    ),
    (
        "DescribeVpcs",
        &[
            "cidr", "cidr-block", "cidr-block-association.cidr-block",
            "cidr-block-association.association-id", "cidr-block-association.state",
            "dhcp-options-id", "ipv6-cidr-block-association.ipv6-cidr-block",
            "ipv6-cidr-block-association.ipv6-pool", "ipv6-cidr-block-association.association-id",
            "ipv6-cidr-block-association.state", "is-default", "owner-id", "state", "tag-key",
            "vpc-id",
        ],
    ),
    (
        "DescribeSubnets",
        &[
            "availability-zone", "availabilityZone", "availability-zone-id",
            "availabilityZoneId", "available-ip-address-count", "cidr-block", "cidr",
            "cidrBlock", "customer-owned-ipv4-pool", "default-for-az", "defaultForAz",
            "enable-dns64", "enable-lni-at-device-index",
            "ipv6-cidr-block-association.ipv6-cidr-block",
            "ipv6-cidr-block-association.association-id", "ipv6-cidr-block-association.state",
            "ipv6-native", "map-customer-owned-ip-on-launch", "map-public-ip-on-launch",
            "outpost-arn", "owner-id", "private-dns-name-options-on-launch.hostname-type",
            "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
            "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record", "state",
            "subnet-arn", "subnet-id", "tag-key", "vpc-id",
        ],
    ),
    (
        "DescribeInternetGateways",
        &["attachment.state", "attachment.vpc-id", "internet-gateway-id", "owner-id", "tag-key"],
    ),
    (
        "DescribeRouteTables",
        &[
            "association.gateway-id", "association.route-table-association-id",
            "association.route-table-id", "association.subnet-id", "association.main",
            "owner-id", "route-table-id", "route.destination-cidr-block",
            "route.destination-ipv6-cidr-block", "route.destination-prefix-list-id",
            "route.egress-only-internet-gateway-id", "route.gateway-id", "route.instance-id",
            "route.nat-gateway-id", "route.transit-gateway-id", "route.origin", "route.state",
            "route.vpc-peering-connection-id", "tag-key", "vpc-id",
        ],
    ),
    (
        "DescribeAddresses",
        &[
            "allocation-id", "association-id", "instance-id", "network-border-group",
            "network-interface-id", "network-interface-owner-id", "private-ip-address",
            "public-ip", "tag-key",
        ],
    ),
    (
        "DescribeNetworkInterfaces",
        &[
            "association.allocation-id", "association.association-id",
            "addresses.association.owner-id", "addresses.association.public-ip",
            "addresses.primary", "addresses.private-ip-address", "association.ip-owner-id",
            "association.public-ip", "association.public-dns-name", "attachment.attach-time",
            "attachment.attachment-id", "attachment.delete-on-termination",
            "attachment.device-index", "attachment.instance-id", "attachment.instance-owner-id",
            "attachment.status", "availability-zone", "availability-zone-id", "description",
            "group-id", "ipv6-addresses.ipv6-address", "interface-type", "mac-address",
            "network-interface-id", "operator.managed", "operator.principal", "owner-id",
            "private-dns-name", "private-ip-address", "requester-id", "requester-managed",
            "source-dest-check", "status", "subnet-id", "tag-key", "vpc-id",
        ],
    ),
    (
        "DescribeVolumes",
        &[
            "attachment.attach-time", "attachment.delete-on-termination", "attachment.device",
            "attachment.instance-id", "attachment.status", "availability-zone",
            "availability-zone-id", "create-time", "encrypted", "fast-restored",
            "multi-attach-enabled", "operator.managed", "operator.principal", "size",
            "snapshot-id", "status", "tag-key", "volume-id", "volume-type",
        ],
    ),
    (
        "DescribeSnapshots",
        &[
            "description", "encrypted", "owner-alias", "owner-id", "progress", "snapshot-id",
            "start-time", "status", "storage-tier", "transfer-type", "tag-key", "volume-id",
            "volume-size",
        ],
    ),
];

async fn describe(server: &Server, action: &str, filter: &str, value: &str) -> (u16, String) {
    let body = format!(
        "Action={action}&Version=2016-11-15&Filter.1.Name={}&Filter.1.Value.1={value}",
        urlencoding(filter)
    );
    ec2_post(
        server,
        Some(&server.admin_keys()),
        &body,
        time::OffsetDateTime::now_utc(),
    )
    .await
}

fn urlencoding(text: &str) -> String {
    text.replace(':', "%3A")
}

#[tokio::test]
async fn every_documented_filter_is_taken_and_others_refused() {
    on_both_databases(|server| async move {
        for (action, names) in DOCUMENTED {
            for name in names.iter().chain(&["tag:Name"]) {
                let (status, body) = describe(&server, action, name, "x").await;
                assert_eq!(status, 200, "{action} refused filter {name}: {body}");
            }
            let (status, body) = describe(&server, action, "no-such-filter", "x").await;
            assert_eq!(status, 400, "{action}: {body}");
            assert_eq!(code_of(&body), "InvalidParameterValue", "{action}");
            assert!(
                body.contains("The filter &apos;no-such-filter&apos; is invalid"),
                "{body}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn aliases_read_the_same_values() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.77.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap();
        // Ansible's ec2_vpc_net looks its VPC up by `cidr-block`.
        for name in ["cidr", "cidr-block", "cidr-block-association.cidr-block"] {
            let found = ec2
                .describe_vpcs()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name(name)
                        .values("10.77.0.0/16")
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .vpcs
                .unwrap_or_default();
            assert_eq!(found.len(), 1, "{name}");
            assert_eq!(found[0].vpc_id(), vpc.vpc_id());
        }
        // A documented filter for a feature this site lacks matches nothing.
        let none = ec2
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("ipv6-cidr-block-association.state")
                    .values("*")
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .vpcs
            .unwrap_or_default();
        assert!(none.is_empty());
    })
    .await;
}
