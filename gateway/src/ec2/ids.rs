//! Resource IDs in EC2 parameters, checked in one place before any action
//! runs: a parameter that carries an ID of a kind (`InstanceId`,
//! `InstanceId.N`, `VpcId`…) must have that kind's form, or the request is
//! answered `Invalid<Kind>ID.Malformed` — never the NotFound a well-formed ID
//! that names nothing gets. Every action that takes the parameter is covered
//! by naming it here once.

use cloud::ResourceKind;

use super::params::Params;
use crate::error::Ec2Error;

/// Parameters (as sent, or as `Name.N` list members) that carry one kind's IDs.
pub const ID_PARAMS: &[(&str, ResourceKind)] = &[
    ("InstanceId", ResourceKind::Instance),
    ("ImageId", ResourceKind::Image),
    ("VpcId", ResourceKind::Vpc),
    ("SubnetId", ResourceKind::Subnet),
    ("GroupId", ResourceKind::SecurityGroup),
    ("SecurityGroupId", ResourceKind::SecurityGroup),
    ("SecurityGroupRuleId", ResourceKind::SecurityGroupRule),
    ("VolumeId", ResourceKind::Volume),
    ("SnapshotId", ResourceKind::Snapshot),
    ("AllocationId", ResourceKind::ElasticIp),
    ("AssociationId", ResourceKind::RouteTableAssociation),
    ("InternetGatewayId", ResourceKind::InternetGateway),
    ("RouteTableId", ResourceKind::RouteTable),
    ("NetworkInterfaceId", ResourceKind::NetworkInterface),
    ("KeyPairId", ResourceKind::KeyPair),
];

/// The kind of ID `name` carries in `action`, if any.
fn kind_of(action: &str, name: &str) -> Option<ResourceKind> {
    let base = match name.split_once('.') {
        Some((base, index)) if index.bytes().all(|b| b.is_ascii_digit()) => base,
        Some(_) => return None,
        None => name,
    };
    let (_, kind) = ID_PARAMS.iter().find(|(param, _)| *param == base)?;
    // An association ID is an address's in the address actions, a route table's elsewhere.
    Some(match (kind, action) {
        (ResourceKind::RouteTableAssociation, "DisassociateAddress") => {
            ResourceKind::AddressAssociation
        }
        _ => *kind,
    })
}

/// Refuses the request if any ID it carries is malformed.
pub fn check(action: &str, params: &Params) -> Result<(), Ec2Error> {
    for (name, value) in params.iter() {
        if let Some(kind) = kind_of(action, name) {
            kind.parse_id(value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::from_pairs(&pairs)
    }

    #[test]
    fn every_id_parameter_refuses_a_malformed_id_in_every_action() {
        for &action in super::super::Action::ALL {
            for (param, kind) in ID_PARAMS {
                for name in [
                    param.to_string(),
                    format!("{param}.1"),
                    format!("{param}.12"),
                ] {
                    let error = check(action.name(), &params(&[(&name, "bogus")])).unwrap_err();
                    assert!(
                        error.code.ends_with(".Malformed"),
                        "{action:?} {name}: {}",
                        error.code
                    );
                    assert_eq!(error.status, 400);
                    let good = if *kind == ResourceKind::RouteTableAssociation
                        && action.name() == "DisassociateAddress"
                    {
                        ResourceKind::AddressAssociation.new_id()
                    } else {
                        kind.new_id()
                    };
                    assert!(check(action.name(), &params(&[(&name, &good)])).is_ok());
                }
            }
        }
        // Nested members and filters are not IDs of the parameter's kind.
        assert!(check("DescribeInstances", &params(&[("Filter.1.Value.1", "x")])).is_ok());
        assert!(check("CreateRoute", &params(&[("GatewayId", "local")])).is_ok());
        assert!(check("DescribeInstances", &params(&[("InstanceId.x", "x")])).is_ok());
    }
}
