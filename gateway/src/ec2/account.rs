//! DescribeRegions, DescribeAvailabilityZones, DescribeAccountAttributes.

use super::filter::{self, absent, field, one, FilterField, Filterable};
use super::xml::XmlWriter;
use super::Ec2Call;
use crate::error::Ec2Error;

struct Zone {
    name: String,
    region: String,
}

impl Filterable for Zone {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["zone-name", "zone-id"], |z| one(&z.name)),
        field(&["region-name"], |z| one(&z.region)),
        field(&["state"], |_| one("available")),
        field(&["zone-type"], |_| one("availability-zone")),
        field(&["opt-in-status"], |_| one("opt-in-not-required")),
        field(&["group-name", "group-long-name"], |z| one(&z.region)),
        absent(&["message", "parent-zone-id", "parent-zone-name"]),
    ];

    fn tags(&self) -> &[cloud::types::Tag] {
        &[]
    }
}

struct Region(String, String);

impl Filterable for Region {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["region-name"], |r| one(&r.0)),
        field(&["endpoint"], |r| one(&r.1)),
        field(&["opt-in-status"], |_| one("opt-in-not-required")),
    ];

    fn tags(&self) -> &[cloud::types::Tag] {
        &[]
    }
}

/// This site is one region.
pub async fn describe_regions(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["RegionName", "Filter", "AllRegions"])?;
    call.dry_run()?;
    let region = call.accounts.region();
    let names = call.params.list("RegionName");
    if let Some(unknown) = names.iter().find(|n| n.as_str() != region) {
        return Err(Ec2Error::bad_request(
            "InvalidParameterValue",
            format!("Invalid region: {unknown}"),
        ));
    }
    let regions = filter::apply(
        vec![Region(region.to_string(), call.host.to_string())],
        &filter::parse_filters::<Region>(&call.params)?,
    );
    let mut x = XmlWriter::response("DescribeRegions", call.request_id);
    x.start("regionInfo");
    for r in regions {
        x.start("item")
            .leaf("regionName", &r.0)
            .leaf("regionEndpoint", &r.1)
            .leaf("optInStatus", "opt-in-not-required")
            .end();
    }
    Ok(x.finish("DescribeRegions"))
}

/// The site's availability zones (from the configuration).
pub async fn describe_availability_zones(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["ZoneName", "ZoneId", "Filter", "AllAvailabilityZones"])?;
    call.dry_run()?;
    let region = call.accounts.region();
    let mut wanted = call.params.list("ZoneName");
    wanted.extend(call.params.list("ZoneId"));
    if let Some(unknown) = wanted.iter().find(|w| !call.availability_zones.contains(w)) {
        return Err(Ec2Error::bad_request(
            "InvalidParameterValue",
            format!("The zone '{unknown}' does not exist."),
        ));
    }
    let zones: Vec<Zone> = call
        .availability_zones
        .iter()
        .filter(|z| wanted.is_empty() || wanted.contains(z))
        .map(|z| Zone {
            name: z.clone(),
            region: region.to_string(),
        })
        .collect();
    let zones = filter::apply(zones, &filter::parse_filters::<Zone>(&call.params)?);
    let mut x = XmlWriter::response("DescribeAvailabilityZones", call.request_id);
    x.start("availabilityZoneInfo");
    for z in zones {
        x.start("item")
            .leaf("zoneName", &z.name)
            .leaf("zoneId", &z.name)
            .leaf("zoneState", "available")
            .leaf("regionName", &z.region)
            .leaf("zoneType", "availability-zone")
            .leaf("groupName", &z.region)
            .leaf("optInStatus", "opt-in-not-required")
            .start("messageSet")
            .end()
            .end();
    }
    Ok(x.finish("DescribeAvailabilityZones"))
}

/// Account attributes as a VPC-only account reports them.
pub async fn describe_account_attributes(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["AttributeName"])?;
    call.dry_run()?;
    let quotas = &call.principal.tenant.quotas;
    let instances = quotas
        .instances
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unlimited".into());
    let all = [
        ("supported-platforms", "VPC".to_string()),
        ("default-vpc", "none".to_string()),
        ("max-instances", instances),
        ("max-elastic-ips", "5".to_string()),
        ("vpc-max-elastic-ips", "5".to_string()),
        ("vpc-max-security-groups-per-interface", "5".to_string()),
    ];
    let wanted = call.params.list("AttributeName");
    if let Some(unknown) = wanted
        .iter()
        .find(|w| !all.iter().any(|(name, _)| name == w))
    {
        return Err(Ec2Error::invalid_value(format!(
            "Invalid attribute name: {unknown}"
        )));
    }
    let mut x = XmlWriter::response("DescribeAccountAttributes", call.request_id);
    x.start("accountAttributeSet");
    for (name, value) in all
        .iter()
        .filter(|(name, _)| wanted.is_empty() || wanted.iter().any(|w| w == name))
    {
        x.start("item")
            .leaf("attributeName", name)
            .start("attributeValueSet")
            .start("item")
            .leaf("attributeValue", value)
            .end()
            .end()
            .end();
    }
    Ok(x.finish("DescribeAccountAttributes"))
}
