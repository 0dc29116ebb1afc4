//! DescribeImageAttribute and ModifyImageAttribute: launch permissions (by
//! account ID, or the group `all`) and the description of the caller's images.

use accounts::LaunchPermissionChange;

use super::params::Params;
use super::xml::{returned_true, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// Attributes AWS defines that this site's images have no value for: answered empty.
const EMPTY: &[&str] = &[
    "kernel",
    "ramdisk",
    "productCodes",
    "blockDeviceMapping",
    "sriovNetSupport",
    "tpmSupport",
    "uefiData",
    "lastLaunchedTime",
    "imdsSupport",
];

pub async fn describe_image_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["ImageId", "Attribute"])?;
    let id = call.params.required("ImageId")?;
    let attribute = call.params.required("Attribute")?;
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    let mut x = XmlWriter::response("DescribeImageAttribute", call.request_id);
    x.leaf("imageId", id);
    match attribute {
        "launchPermission" => {
            let permissions = call.accounts.image_launch_permissions(tenant, id).await?;
            x.start("launchPermission");
            if permissions.public {
                x.start("item").leaf("group", "all").end();
            }
            for account in &permissions.accounts {
                x.start("item").leaf("userId", account).end();
            }
            x.end();
        }
        "description" => {
            let description = call.accounts.image_description(tenant, id).await?;
            x.start("description").leaf_opt("value", description).end();
        }
        "bootMode" => {
            call.accounts.image_description(tenant, id).await?;
            x.start("bootMode").leaf("value", "legacy-bios").end();
        }
        "deregistrationProtection" => {
            call.accounts.image_description(tenant, id).await?;
            x.start("deregistrationProtection")
                .leaf("value", "disabled")
                .end();
        }
        other => {
            let Some(element) = EMPTY.iter().find(|name| **name == other) else {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({other}) for parameter attribute is invalid. Unknown attribute."
                )));
            };
            call.accounts.image_description(tenant, id).await?;
            x.start(element).end();
        }
    }
    Ok(x.finish("DescribeImageAttribute"))
}

/// `group` must be `all`, as on AWS.
fn check_group(group: &str) -> Result<(), Ec2Error> {
    if group == "all" {
        Ok(())
    } else {
        Err(Ec2Error::bad_request(
            "InvalidAMIAttributeItemValue",
            format!("Invalid attribute item value \"{group}\" for group item type."),
        ))
    }
}

/// Reads `LaunchPermission.Add/Remove.N.{UserId,Group}` and the older
/// `OperationType` + `UserId.N` / `UserGroup.N` form.
fn launch_permission_change(params: &Params) -> Result<Option<LaunchPermissionChange>, Ec2Error> {
    let mut change = LaunchPermissionChange::default();
    let mut any = false;
    for (list, adding) in [
        ("LaunchPermission.Add", true),
        ("LaunchPermission.Remove", false),
    ] {
        for item in params.structs(list) {
            any = true;
            if let Some(account) = item.get("UserId") {
                let accounts = if adding {
                    &mut change.add_accounts
                } else {
                    &mut change.remove_accounts
                };
                accounts.push(account.to_string());
            }
            if let Some(group) = item.get("Group") {
                check_group(group)?;
                change.public = Some(adding);
            }
            if item.get("OrganizationArn").is_some() || item.get("OrganizationalUnitArn").is_some()
            {
                return Err(Ec2Error::invalid_value(
                    "Organizations are not offered on this site: share with account IDs",
                ));
            }
        }
    }
    let users = params.list("UserId");
    let groups = params.list("UserGroup");
    if !users.is_empty() || !groups.is_empty() {
        any = true;
        let adding = match params.get("OperationType") {
            Some("add") => true,
            Some("remove") => false,
            Some(other) => {
                return Err(Ec2Error::invalid_value(format!(
                    "Value ({other}) for parameter operationType is invalid"
                )))
            }
            None => return Err(Ec2Error::missing("OperationType")),
        };
        for group in &groups {
            check_group(group)?;
            change.public = Some(adding);
        }
        if adding {
            change.add_accounts.extend(users);
        } else {
            change.remove_accounts.extend(users);
        }
    }
    Ok(any.then_some(change))
}

pub async fn modify_image_attribute(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "ImageId",
        "Attribute",
        "OperationType",
        "UserId",
        "UserGroup",
        "LaunchPermission",
        "Description",
        "Value",
        "OrganizationArn",
        "OrganizationalUnitArn",
        "ProductCode",
    ])?;
    let id = call.params.required("ImageId")?;
    let permissions = launch_permission_change(&call.params)?;
    let description =
        call.params
            .get("Description.Value")
            .or_else(|| match call.params.get("Attribute") {
                Some("description") => call.params.get("Value"),
                _ => None,
            });
    if let Some(attribute) = call.params.get("Attribute") {
        if attribute != "launchPermission" && attribute != "description" {
            return Err(Ec2Error::invalid_value(format!(
                "Value ({attribute}) for parameter attribute is not supported here: use launchPermission or description"
            )));
        }
    }
    if call.params.list("ProductCode").len()
        + call.params.list("OrganizationArn").len()
        + call.params.list("OrganizationalUnitArn").len()
        > 0
    {
        return Err(Ec2Error::invalid_value(
            "Product codes and organizations are not offered on this site",
        ));
    }
    if permissions.is_none() && description.is_none() {
        return Err(Ec2Error::missing("LaunchPermission"));
    }
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    if let Some(change) = &permissions {
        call.accounts
            .modify_image_launch_permissions(tenant, id, change)
            .await?;
    }
    if let Some(description) = description {
        call.accounts
            .set_image_description(tenant, id, description)
            .await?;
    }
    Ok(returned_true("ModifyImageAttribute", call.request_id))
}
