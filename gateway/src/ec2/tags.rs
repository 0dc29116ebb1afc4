//! CreateTags, DeleteTags, DescribeTags, and TagSpecification on create calls.

use accounts::TagRemoval;
use cloud::types::{ResourceTag, Tag};

use super::filter::{self, field, one, FilterField, Filterable};
use super::page::paginate;
use super::params::Params;
use super::xml::XmlWriter;
use super::Ec2Call;
use crate::error::Ec2Error;

fn read_tags(params: &Params, list: &str) -> Result<Vec<Tag>, Ec2Error> {
    params
        .structs(list)
        .into_iter()
        .map(|t| {
            let key = t
                .get("Key")
                .ok_or_else(|| Ec2Error::missing(&format!("{list}.N.Key")))?;
            Ok(Tag {
                key: key.to_string(),
                value: t.get("Value").unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Tags from `TagSpecification.N` for `resource_type`; other types are refused, as on AWS.
pub fn tag_specifications(params: &Params, resource_type: &str) -> Result<Vec<Tag>, Ec2Error> {
    let mut tags = Vec::new();
    for spec in params.structs("TagSpecification") {
        match spec.get("ResourceType") {
            Some(t) if t == resource_type => tags.extend(read_tags(&spec, "Tag")?),
            Some(t) => {
                return Err(Ec2Error::invalid_value(format!(
                    "'{t}' is not a valid taggable resource type for this operation."
                )))
            }
            None => return Err(Ec2Error::missing("TagSpecification.N.ResourceType")),
        }
    }
    Ok(tags)
}

/// Applies tags from a TagSpecification to a resource just created.
pub async fn apply_tag_specifications(
    call: &Ec2Call<'_>,
    resource_id: &str,
    tags: &[Tag],
) -> Result<(), Ec2Error> {
    if !tags.is_empty() {
        call.accounts
            .create_tags(&call.principal.tenant, &[resource_id.to_string()], tags)
            .await?;
    }
    Ok(())
}

pub async fn create_tags(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["ResourceId", "Tag"])?;
    let resources = call.params.list("ResourceId");
    if resources.is_empty() {
        return Err(Ec2Error::missing("ResourceId"));
    }
    let tags = read_tags(&call.params, "Tag")?;
    if tags.is_empty() {
        return Err(Ec2Error::missing("Tag"));
    }
    call.dry_run()?;
    call.accounts
        .create_tags(&call.principal.tenant, &resources, &tags)
        .await?;
    let mut x = XmlWriter::response("CreateTags", call.request_id);
    x.leaf("return", "true");
    Ok(x.finish("CreateTags"))
}

pub async fn delete_tags(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["ResourceId", "Tag"])?;
    let resources = call.params.list("ResourceId");
    if resources.is_empty() {
        return Err(Ec2Error::missing("ResourceId"));
    }
    let removals = call
        .params
        .structs("Tag")
        .into_iter()
        .map(|t| {
            let key = t.get("Key").ok_or_else(|| Ec2Error::missing("Tag.N.Key"))?;
            Ok(TagRemoval {
                key: key.to_string(),
                value: t.get("Value").map(str::to_string),
            })
        })
        .collect::<Result<Vec<_>, Ec2Error>>()?;
    call.dry_run()?;
    call.accounts
        .delete_tags(&call.principal.tenant, &resources, &removals)
        .await?;
    let mut x = XmlWriter::response("DeleteTags", call.request_id);
    x.leaf("return", "true");
    Ok(x.finish("DeleteTags"))
}

/// One row of DescribeTags, with its key and value as a tag (so `tag:KEY`
/// filters pick rows of that key and value).
struct TagRow(ResourceTag, Tag);

impl Filterable for TagRow {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["key"], |r| one(&r.0.key)),
        field(&["value"], |r| one(&r.0.value)),
        field(&["resource-id"], |r| one(&r.0.resource_id)),
        field(&["resource-type"], |r| one(r.0.resource_type)),
    ];

    fn tags(&self) -> &[Tag] {
        std::slice::from_ref(&self.1)
    }
}

pub async fn describe_tags(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["Filter", "MaxResults", "NextToken"])?;
    call.dry_run()?;
    let filters = filter::parse_filters::<TagRow>(&call.params)?;
    let rows = call
        .accounts
        .list_tags(&call.principal.tenant)
        .await?
        .into_iter()
        .map(|row| {
            let tag = Tag {
                key: row.key.clone(),
                value: row.value.clone(),
            };
            TagRow(row, tag)
        })
        .collect();
    let rows = filter::apply(rows, &filters);
    let page = paginate(rows, &call.params, |r| {
        format!("{}\u{1}{}", r.0.resource_id, r.0.key)
    })?;
    let mut x = XmlWriter::response("DescribeTags", call.request_id);
    x.start("tagSet");
    for TagRow(tag, _) in &page.items {
        x.start("item")
            .leaf("resourceId", &tag.resource_id)
            .leaf("resourceType", tag.resource_type)
            .leaf("key", &tag.key)
            .leaf("value", &tag.value)
            .end();
    }
    x.end().leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeTags"))
}
