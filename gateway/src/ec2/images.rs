//! DescribeImages, RegisterImage and DeregisterImage over the site's image
//! catalogue. Images enter it through `skyport admin image import` (kernel,
//! initrd and/or disk files) or RegisterImage (a disk stored in S3 here,
//! copied by `Accounts::register_image_from_object`).

use accounts::{Image, NewImage};
use cloud::types::Tag;

use super::filter::{self, absent, field, one, opt, FilterField, Filterable};
use super::page::paginate;
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

/// DescribeImages' view of an image: the owner's tags (for the owner only)
/// and the system tag `aws:skyport:placement`, the targets that hold it
/// (this site for its own catalogue).
struct Listed(Image, Vec<Tag>);

impl Listed {
    fn new(image: Image, mut tags: Vec<Tag>, local_target: &str) -> Listed {
        let targets = if image.targets.is_empty() {
            local_target.to_string()
        } else {
            image.targets.join(",")
        };
        tags.push(Tag {
            key: accounts::PLACEMENT_TAG.into(),
            value: targets,
        });
        Listed(image, tags)
    }
}

impl Filterable for Listed {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["image-id"], |l| one(&l.0.id)),
        field(&["name"], |l| one(&l.0.name)),
        field(&["state"], |l| one(&l.0.state)),
        field(&["architecture"], |l| one(&l.0.architecture)),
        field(&["owner-id"], |l| one(&l.0.owner_id)),
        field(&["is-public"], |l| one(l.0.public.to_string())),
        field(&["image-type"], |_| one("machine")),
        field(&["root-device-type"], |l| one(root_device_type(&l.0))),
        field(&["virtualization-type"], |_| one("hvm")),
        field(&["hypervisor"], |_| one("xen")),
        field(&["boot-mode"], |_| one("legacy-bios")),
        field(&["description"], |l| opt(&l.0.description)),
        field(&["creation-date"], |l| one(timestamp(l.0.created_at))),
        field(&["manifest-location"], |l| one(image_location(&l.0))),
        absent(&[
            "block-device-mapping.delete-on-termination",
            "block-device-mapping.device-name",
            "block-device-mapping.snapshot-id",
            "block-device-mapping.volume-size",
            "block-device-mapping.volume-type",
            "block-device-mapping.encrypted",
            "ena-support",
            "free-tier-eligible",
            "image-allowed",
            "image-watermark.source-image-creation-time",
            "image-watermark.source-image-id",
            "image-watermark.source-image-region",
            "image-watermark.watermark-creation-time",
            "image-watermark.watermark-key",
            "instance-type-specification.supported-instance-type",
            "instance-type-specification.unsupported-instance-type",
            "kernel-id",
            "owner-alias",
            "platform",
            "product-code",
            "product-code.type",
            "public-ssm-parameter-name",
            "ramdisk-id",
            "root-device-name",
            "scan-result.critical-fix-available-since",
            "scan-result.finding-scan-date",
            "scan-result.high-fix-available-since",
            "scan-result.highest-finding-severity-label",
            "scan-result.informational-fix-available-since",
            "scan-result.low-fix-available-since",
            "scan-result.medium-fix-available-since",
            "source-image-id",
            "source-image-region",
            "source-instance-id",
            "state-reason-code",
            "state-reason-message",
            "sriov-net-support",
        ]),
    ];

    fn tags(&self) -> &[Tag] {
        &self.1
    }
}

/// Where DescribeImages says an image came from.
fn image_location(image: &Image) -> String {
    format!("{}/{}", image.owner_id, image.name)
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
        .accounts
        .describe_images(&call.principal.tenant, &ids, &owners)
        .await?;
    let local_target = call.accounts.placement().local_target();
    let mut tags = call.accounts.image_tags(&call.principal.tenant).await?;
    let listed = images
        .into_iter()
        .map(|image| {
            let own = tags.remove(&image.id).unwrap_or_default();
            Listed::new(image, own, local_target)
        })
        .collect();
    let listed = filter::apply(listed, &filters);
    let page = paginate(listed, &call.params, |l| l.0.id.clone())?;
    let mut x = XmlWriter::response("DescribeImages", call.request_id);
    x.start("imagesSet");
    for Listed(image, tags) in &page.items {
        x.start("item")
            .leaf("imageId", &image.id)
            .leaf("imageLocation", image_location(image))
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
            .tag_set(tags)
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
    call.accounts
        .deregister_image(&call.principal.tenant, &id)
        .await?;
    let mut x = XmlWriter::response("DeregisterImage", call.request_id);
    x.leaf("return", "true");
    Ok(x.finish("DeregisterImage"))
}

/// RegisterImage from a disk image (qcow2 or raw) stored in one of the
/// caller's buckets on this site: `ImageLocation` is `bucket/key`. The bytes
/// are copied into the image store, so the object may change or go later.
pub async fn register_image(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&[
        "Name",
        "ImageLocation",
        "Description",
        "Architecture",
        "RootDeviceName",
        "VirtualizationType",
        "BootMode",
        "TagSpecification",
    ])?;
    let name = call.params.required("Name")?.to_string();
    let tags = tag_specifications(&call.params, "image")?;
    let location = call.params.get("ImageLocation").ok_or_else(|| {
        Ec2Error::bad_request(
            "Unsupported",
            "Register images from a disk (qcow2 or raw) in one of your buckets: ImageLocation=bucket/key",
        )
    })?;
    let architecture = call
        .params
        .get("Architecture")
        .unwrap_or("x86_64")
        .to_string();
    if architecture != "x86_64" {
        return Err(Ec2Error::invalid_value(format!(
            "Architecture {architecture} is not offered on this site (x86_64)"
        )));
    }
    let (bucket, key) = location
        .trim_start_matches("s3://")
        .split_once('/')
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| {
            Ec2Error::invalid_value(format!("ImageLocation '{location}' is not bucket/key"))
        })?;
    if !call.accounts.keeps_image_files() {
        return Err(Ec2Error::bad_request(
            "Unsupported",
            "this site has no local compute to register images for",
        ));
    }
    call.dry_run()?;
    let image = NewImage {
        id: cloud::ResourceKind::Image.new_id(),
        name,
        description: call.params.get("Description").map(str::to_string),
        architecture,
        boot_mode: String::new(),
        public: false,
    };
    let image_id = call
        .accounts
        .register_image_from_object(&call.principal.tenant, bucket, key, image)
        .await?
        .id;
    apply_tag_specifications(&call, &image_id, &tags).await?;
    let mut x = XmlWriter::response("RegisterImage", call.request_id);
    x.leaf("imageId", &image_id);
    Ok(x.finish("RegisterImage"))
}
