//! RunInstances, DescribeInstances, DescribeInstanceStatus, Start/Stop/Reboot/
//! TerminateInstances, GetConsoleOutput: instances wherever the policies placed them.

use std::collections::HashMap;

use accounts::{Instance, InstanceStateChange, LaunchRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::filter;
use super::instance_filters::{Status, OWNER_FILTERS};
use super::page::paginate;
use super::tags::tag_specifications;
use super::xml::{timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// AWS's limit on UserData, before base64.
const MAX_USER_DATA: usize = 16 * 1024;

/// Refuses user data that is not base64 or over AWS's 16 KiB.
pub(super) fn check_user_data(encoded: &str) -> Result<(), Ec2Error> {
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| Ec2Error::invalid_value("Invalid BASE64 encoding of user data."))?;
    if decoded.len() > MAX_USER_DATA {
        return Err(Ec2Error::invalid_value(format!(
            "User data is limited to {MAX_USER_DATA} bytes"
        )));
    }
    Ok(())
}

fn count(call: &Ec2Call<'_>, name: &str) -> Result<u32, Ec2Error> {
    let value = call
        .params
        .int(name)?
        .ok_or_else(|| Ec2Error::missing(name))?;
    u32::try_from(value)
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| Ec2Error::invalid_value(format!("Invalid value '{value}' for {name}")))
}

fn instance_ids(call: &Ec2Call<'_>) -> Result<Vec<String>, Ec2Error> {
    let ids = call.params.list("InstanceId");
    if ids.is_empty() {
        return Err(Ec2Error::missing("InstanceId"));
    }
    Ok(ids)
}

/// `<groupSet>` of (ID, name) pairs.
pub(crate) fn write_groups(x: &mut XmlWriter, groups: &[(String, String)]) {
    x.start("groupSet");
    for (id, name) in groups {
        x.start("item")
            .leaf("groupId", id)
            .leaf("groupName", name)
            .end();
    }
    x.end();
}

/// One `instancesSet` item, as RunInstances and DescribeInstances return it
/// (written once per record, then copied).
fn write_instance(x: &mut XmlWriter, instance: &Instance) {
    x.raw(instance.rendered.get_or_render(|| {
        let mut item = XmlWriter::fragment();
        render_instance(&mut item, instance);
        item.into_fragment()
    }));
}

fn render_instance(x: &mut XmlWriter, instance: &Instance) {
    x.start("item")
        .leaf("instanceId", &instance.id)
        .leaf("imageId", &instance.image_id)
        .start("instanceState")
        .leaf("code", instance.state.code())
        .leaf("name", instance.state.name())
        .end()
        .leaf(
            "privateDnsName",
            instance.private_dns.as_deref().unwrap_or(""),
        )
        .leaf("dnsName", "")
        .leaf("reason", "")
        .leaf_opt("keyName", instance.key_name.as_ref())
        .leaf("amiLaunchIndex", instance.launch_index)
        .start("productCodes")
        .end()
        .leaf("instanceType", &instance.instance_type)
        .leaf("launchTime", timestamp(instance.launched_at))
        .start("placement")
        .leaf_opt("availabilityZone", instance.availability_zone.as_ref())
        .leaf("groupName", "")
        .leaf("tenancy", "default")
        .end()
        .start("monitoring")
        .leaf("state", "disabled")
        .end()
        .leaf_opt("privateIpAddress", instance.private_ip.as_ref())
        .leaf_opt("ipAddress", instance.public_ip.as_ref())
        .leaf_opt("subnetId", instance.subnet_id.as_ref())
        .leaf_opt("vpcId", instance.vpc_id.as_ref());
    write_groups(x, &instance.groups);
    x.leaf(
        "architecture",
        instance.architecture.as_deref().unwrap_or("x86_64"),
    )
    .leaf("rootDeviceType", "ebs")
    .start("blockDeviceMapping")
    .end()
    .leaf("virtualizationType", "hvm")
    .leaf(
        "clientToken",
        instance.client_token.as_deref().unwrap_or(""),
    )
    .tag_set(&instance.tags);
    if let Some(code) = &instance.state_reason {
        let message = match code.as_str() {
            "Client.UserInitiatedShutdown" => {
                "Client.UserInitiatedShutdown: User initiated shutdown"
            }
            "Server.InternalError" => {
                "Server.InternalError: the instance disappeared from its host"
            }
            "Client.InstanceInitiatedShutdown" => {
                "Client.InstanceInitiatedShutdown: Instance initiated shutdown"
            }
            _ => code.as_str(),
        };
        x.start("stateReason")
            .leaf("code", code)
            .leaf("message", message)
            .end();
    }
    x.leaf("hypervisor", "xen").end();
}

pub async fn run_instances(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "ImageId",
        "InstanceType",
        "MinCount",
        "MaxCount",
        "KeyName",
        "SecurityGroupId",
        "SecurityGroup",
        "UserData",
        "Placement",
        "ClientToken",
        "TagSpecification",
        "Monitoring",
        "EbsOptimized",
        "InstanceInitiatedShutdownBehavior",
        "DisableApiTermination",
        "SubnetId",
    ])?;
    let image_id = call.params.required("ImageId")?.to_string();
    let instance_type = call
        .params
        .get("InstanceType")
        .unwrap_or("m1.small")
        .to_string();
    let (min_count, max_count) = (count(&call, "MinCount")?, count(&call, "MaxCount")?);
    if max_count < min_count {
        return Err(Ec2Error::invalid_value(
            "MaxCount must be greater than or equal to MinCount",
        ));
    }
    let user_data = call.params.get("UserData").map(str::to_string);
    if let Some(data) = &user_data {
        check_user_data(data)?;
    }
    let mut security_group_ids = call.params.list("SecurityGroupId");
    security_group_ids.extend(call.params.list("SecurityGroup"));
    let launch = LaunchRequest {
        image_id,
        instance_type,
        min_count,
        max_count,
        key_name: call.params.get("KeyName").map(str::to_string),
        security_group_ids,
        user_data,
        availability_zone: call
            .params
            .get("Placement.AvailabilityZone")
            .map(str::to_string),
        client_token: call
            .params
            .get("ClientToken")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        tags: tag_specifications(&call.params, "instance")?,
        subnet_id: call
            .params
            .get("SubnetId")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        disable_api_termination: call.params.bool("DisableApiTermination")?,
    };
    call.dry_run()?;
    let instances = call
        .accounts
        .run_instances(&call.principal.tenant, &launch)
        .await?;
    let mut x = XmlWriter::response("RunInstances", call.request_id);
    x.leaf(
        "reservationId",
        instances
            .first()
            .map(|i| i.reservation_id.as_str())
            .unwrap_or(""),
    )
    .leaf("ownerId", &call.principal.tenant.account_id)
    .start("groupSet")
    .end()
    .start("instancesSet");
    for instance in &instances {
        write_instance(&mut x, instance);
    }
    x.end();
    Ok(x.finish("RunInstances"))
}

pub async fn describe_instances(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["InstanceId", "Filter", "MaxResults", "NextToken"])?;
    let mut filters = filter::parse_filters::<Instance>(&call.params)?;
    if call.params.get("MaxResults").is_some() && call.params.get("InstanceId").is_some() {
        return Err(Ec2Error::bad_request(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    call.dry_run()?;
    let ids = call.params.list("InstanceId");
    // An instance-id filter without wildcards reads just those instances.
    let exact_ids = filters
        .iter()
        .find(|f| f.name == "instance-id")
        .filter(|f| f.values.iter().all(|v| !v.contains(['*', '?', '\\'])))
        .map(|f| f.values.clone());
    let tenant = &call.principal.tenant;
    let owned = filter::settle_constant(&mut filters, OWNER_FILTERS, &tenant.account_id);
    let mut instances = match exact_ids {
        Some(wanted) if ids.is_empty() => {
            call.accounts
                .describe_instances_among(tenant, &wanted)
                .await?
        }
        _ => call.accounts.describe_instances(tenant, &ids).await?,
    };
    if !owned {
        instances.clear();
    }
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    let instances = filter::apply(instances, &filters);
    let page = paginate(instances, &call.params, |i| i.id.clone())?;
    // Group the page into reservations, in order of first appearance.
    let mut reservations: Vec<(&str, Vec<&Instance>)> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for instance in &page.items {
        let at = *position
            .entry(instance.reservation_id.as_str())
            .or_insert_with(|| {
                reservations.push((&instance.reservation_id, Vec::new()));
                reservations.len() - 1
            });
        reservations[at].1.push(instance);
    }
    let mut x = XmlWriter::response("DescribeInstances", call.request_id);
    // About what one instance takes, so a large listing grows its buffer once.
    x.reserve(page.items.len() * 1600);
    x.start("reservationSet");
    for (reservation_id, members) in reservations {
        x.start("item")
            .leaf("reservationId", reservation_id)
            .leaf("ownerId", &call.principal.tenant.account_id)
            .start("groupSet")
            .end()
            .start("instancesSet");
        for instance in members {
            write_instance(&mut x, instance);
        }
        x.end().end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeInstances"))
}

pub async fn describe_instance_status(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "InstanceId",
        "Filter",
        "MaxResults",
        "NextToken",
        "IncludeAllInstances",
    ])?;
    let all = call.params.bool("IncludeAllInstances")?;
    let filters = filter::parse_filters::<Status>(&call.params)?;
    call.dry_run()?;
    let ids = call.params.list("InstanceId");
    let mut instances = call
        .accounts
        .describe_instances(&call.principal.tenant, &ids)
        .await?;
    instances.retain(|i| all || i.state == cloud::InstanceState::Running);
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    let statuses = instances.into_iter().map(Status).collect();
    let statuses = filter::apply(statuses, &filters);
    let page = paginate(statuses, &call.params, |s| s.0.id.clone())?;
    let mut x = XmlWriter::response("DescribeInstanceStatus", call.request_id);
    x.start("instanceStatusSet");
    for status in &page.items {
        let (instance, health) = (&status.0, status.health());
        x.start("item")
            .leaf("instanceId", &instance.id)
            .leaf_opt("availabilityZone", instance.availability_zone.as_ref())
            .start("instanceState")
            .leaf("code", instance.state.code())
            .leaf("name", instance.state.name())
            .end()
            .start("systemStatus")
            .leaf("status", health)
            .end()
            .start("instanceStatus")
            .leaf("status", health)
            .end()
            .end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeInstanceStatus"))
}

fn state_changes(action: &str, request_id: &str, changes: &[InstanceStateChange]) -> String {
    let mut x = XmlWriter::response(action, request_id);
    x.start("instancesSet");
    for change in changes {
        x.start("item")
            .leaf("instanceId", &change.id)
            .start("currentState")
            .leaf("code", change.current.code())
            .leaf("name", change.current.name())
            .end()
            .start("previousState")
            .leaf("code", change.previous.code())
            .leaf("name", change.previous.name())
            .end()
            .end();
    }
    x.end();
    x.finish(action)
}

pub async fn start_instances(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InstanceId", "AdditionalInfo"])?;
    let ids = instance_ids(&call)?;
    call.dry_run()?;
    let changes = call
        .accounts
        .start_instances(&call.principal.tenant, &ids)
        .await?;
    Ok(state_changes("StartInstances", call.request_id, &changes))
}

pub async fn stop_instances(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["InstanceId", "Force", "Hibernate"])?;
    let ids = instance_ids(&call)?;
    let force = call.params.bool("Force")?;
    call.dry_run()?;
    let changes = call
        .accounts
        .stop_instances(&call.principal.tenant, &ids, force)
        .await?;
    Ok(state_changes("StopInstances", call.request_id, &changes))
}

pub async fn terminate_instances(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InstanceId"])?;
    let ids = instance_ids(&call)?;
    call.dry_run()?;
    let changes = call
        .accounts
        .terminate_instances(&call.principal.tenant, &ids)
        .await?;
    Ok(state_changes(
        "TerminateInstances",
        call.request_id,
        &changes,
    ))
}

pub async fn reboot_instances(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InstanceId"])?;
    let ids = instance_ids(&call)?;
    call.dry_run()?;
    call.accounts
        .reboot_instances(&call.principal.tenant, &ids)
        .await?;
    let mut x = XmlWriter::response("RebootInstances", call.request_id);
    x.leaf("return", "true");
    Ok(x.finish("RebootInstances"))
}

pub async fn get_console_output(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InstanceId", "Latest"])?;
    let id = call.params.required("InstanceId")?.to_string();
    call.dry_run()?;
    let (output, captured) = call
        .accounts
        .console_output(&call.principal.tenant, &id)
        .await?;
    let mut x = XmlWriter::response("GetConsoleOutput", call.request_id);
    x.leaf("instanceId", &id)
        .leaf(
            "timestamp",
            captured.unwrap_or_else(|| timestamp(datastore::now())),
        )
        .leaf("output", STANDARD.encode(output));
    Ok(x.finish("GetConsoleOutput"))
}
