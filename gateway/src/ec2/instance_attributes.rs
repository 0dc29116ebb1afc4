//! DescribeInstanceAttribute and ModifyInstanceAttribute: instance type and
//! user data (changed only while the instance is stopped) and termination
//! protection (`disableApiTermination`, in any state).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::instances::check_user_data;
use super::xml::XmlWriter;
use super::Ec2Call;
use crate::error::Ec2Error;

pub async fn describe_instance_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["InstanceId", "Attribute"])?;
    let id = call.params.required("InstanceId")?.to_string();
    let attribute = call.params.required("Attribute")?.to_string();
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    let mut x = XmlWriter::response("DescribeInstanceAttribute", call.request_id);
    x.leaf("instanceId", &id);
    match attribute.as_str() {
        "instanceType" => {
            let instance = call
                .accounts
                .describe_instances(tenant, std::slice::from_ref(&id))
                .await?
                .pop()
                .ok_or_else(|| cloud::Error::not_found(cloud::ResourceKind::Instance, id.clone()))?;
            x.start("instanceType")
                .leaf("value", &instance.instance_type)
                .end();
        }
        "userData" => {
            let user_data = call.accounts.instance_user_data(tenant, &id).await?;
            x.start("userData");
            if let Some(value) = user_data {
                x.leaf("value", value);
            }
            x.end();
        }
        "disableApiTermination" => {
            let protected = call.accounts.termination_protected(tenant, &id).await?;
            x.start("disableApiTermination")
                .leaf("value", protected)
                .end();
        }
        // Fixed on this site: stop is always allowed, and a shutdown from
        // inside the guest stops it.
        fixed @ ("disableApiStop" | "instanceInitiatedShutdownBehavior") => {
            call.accounts.instance_user_data(tenant, &id).await?;
            let (element, value) = if fixed == "disableApiStop" {
                ("disableApiStop", "false")
            } else {
                ("instanceInitiatedShutdownBehavior", "stop")
            };
            x.start(element).leaf("value", value).end();
        }
        other => {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({other}) for parameter attribute is invalid. Supported here: instanceType, userData, \
                 disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior"
            )))
        }
    }
    Ok(x.finish("DescribeInstanceAttribute"))
}

pub async fn modify_instance_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "InstanceId",
        "InstanceType",
        "UserData",
        "DisableApiTermination",
        "Attribute",
        "Value",
    ])?;
    let id = call.params.required("InstanceId")?.to_string();
    let attribute_value = |name: &str| match call.params.get("Attribute") {
        Some(attribute) if attribute == name => call.params.get("Value"),
        _ => None,
    };
    let instance_type = call
        .params
        .get("InstanceType.Value")
        .or_else(|| attribute_value("instanceType"))
        .map(str::to_string);
    let protection = match call
        .params
        .get("DisableApiTermination.Value")
        .or_else(|| attribute_value("disableApiTermination"))
    {
        Some(value) if value.eq_ignore_ascii_case("true") => Some(true),
        Some(value) if value.eq_ignore_ascii_case("false") => Some(false),
        Some(value) => {
            return Err(Ec2Error::invalid_value(format!(
                "Invalid value '{value}' for disableApiTermination: expected true or false"
            )))
        }
        None => None,
    };
    // The blob on the wire is base64 of the user data's base64 text, as EC2
    // expects for this action (SDKs encode blobs once; clients encode first).
    let user_data = match call.params.get("UserData.Value") {
        Some(wire) => {
            let text = STANDARD
                .decode(wire.trim())
                .ok()
                .and_then(|inner| String::from_utf8(inner).ok())
                .ok_or_else(|| Ec2Error::invalid_value("Invalid BASE64 encoding of user data."))?;
            Some(text)
        }
        None => None,
    };
    if let Some(attribute) = call.params.get("Attribute") {
        if attribute != "instanceType" && attribute != "disableApiTermination" {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is not supported here: use InstanceType, UserData or DisableApiTermination"
            )));
        }
    }
    if let Some(encoded) = &user_data {
        check_user_data(encoded)?;
    }
    if instance_type.is_none() && user_data.is_none() && protection.is_none() {
        return Err(Ec2Error::missing("InstanceType"));
    }
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    if let Some(instance_type) = &instance_type {
        call.accounts
            .modify_instance_type(tenant, &id, instance_type)
            .await?;
    }
    if let Some(user_data) = &user_data {
        let value = (!user_data.is_empty()).then_some(user_data.as_str());
        call.accounts.modify_user_data(tenant, &id, value).await?;
    }
    if let Some(protected) = protection {
        call.accounts
            .set_termination_protection(tenant, &id, protected)
            .await?;
    }
    let mut x = XmlWriter::response("ModifyInstanceAttribute", call.request_id);
    x.leaf("return", "true");
    Ok(x.finish("ModifyInstanceAttribute"))
}
