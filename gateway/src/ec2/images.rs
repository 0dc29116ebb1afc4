//! DescribeImages and DeregisterImage over the site's image catalogue.
//! Images enter the catalogue through `skyport admin image import`.

use cloud::types::Tag;
use federation::images::Image;

use super::filter::{self, Filterable};
use super::page::paginate;
use super::xml::{timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// DescribeImages' view of an image (images carry no tags yet).
struct Listed(Image);

impl Filterable for Listed {
    const FILTERS: &'static [&'static str] = &[
        "image-id",
        "name",
        "state",
        "architecture",
        "owner-id",
        "is-public",
        "image-type",
        "root-device-type",
        "virtualization-type",
        "description",
    ];

    fn tags(&self) -> &[Tag] {
        &[]
    }

    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let image = &self.0;
        let value = match name {
            "image-id" => image.id.clone(),
            "name" => image.name.clone(),
            "state" => image.state.clone(),
            "architecture" => image.architecture.clone(),
            "owner-id" => image.owner_id.clone(),
            "is-public" => image.public.to_string(),
            "image-type" => "machine".into(),
            "root-device-type" => root_device_type(image).into(),
            "virtualization-type" => "hvm".into(),
            "description" => image.description.clone().unwrap_or_default(),
            _ => return None,
        };
        Some(vec![value])
    }
}

fn root_device_type(image: &Image) -> &'static str {
    if image.boot_mode == "disk" {
        "ebs"
    } else {
        "instance-store"
    }
}

pub async fn describe_images(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "ImageId",
        "Owner",
        "ExecutableBy",
        "Filter",
        "MaxResults",
        "NextToken",
        "IncludeDeprecated",
        "IncludeDisabled",
    ])?;
    call.dry_run()?;
    let ids = call.params.list("ImageId");
    let owners = call.params.list("Owner");
    let filters = filter::parse_filters::<Listed>(&call.params)?;
    let images = call
        .federation
        .describe_images(&call.principal.tenant, &ids, &owners)
        .await?;
    let listed = filter::apply(images.into_iter().map(Listed).collect(), &filters)?;
    let page = paginate(listed, &call.params, |l| l.0.id.clone())?;
    let mut x = XmlWriter::response("DescribeImages", call.request_id);
    x.start("imagesSet");
    for Listed(image) in &page.items {
        x.start("item")
            .leaf("imageId", &image.id)
            .leaf(
                "imageLocation",
                format!("{}/{}", image.owner_id, image.name),
            )
            .leaf("imageState", &image.state)
            .leaf("imageOwnerId", &image.owner_id)
            .leaf("creationDate", timestamp(image.created_at))
            .leaf("isPublic", image.public.to_string())
            .leaf("architecture", &image.architecture)
            .leaf("imageType", "machine")
            .leaf("name", &image.name)
            .leaf_opt("description", image.description.clone())
            .leaf("rootDeviceType", root_device_type(image))
            .leaf("virtualizationType", "hvm")
            .leaf("hypervisor", "xen")
            .leaf("bootMode", "legacy-bios")
            .end();
    }
    x.end();
    x.leaf_opt("nextToken", page.next_token);
    Ok(x.finish("DescribeImages"))
}

pub async fn deregister_image(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["ImageId", "DeleteAssociatedSnapshots"])?;
    let id = call.params.required("ImageId")?.to_string();
    call.dry_run()?;
    let unused = call
        .federation
        .deregister_image(&call.principal.tenant, &id)
        .await?;
    if unused {
        if let Some(images) = call.images {
            if let Err(error) = images.remove(&id) {
                tracing::warn!(%error, image = %id, "removing the image's files failed");
            }
        }
    }
    let mut x = XmlWriter::response("DeregisterImage", call.request_id);
    x.leaf("return", "true");
    Ok(x.finish("DeregisterImage"))
}
