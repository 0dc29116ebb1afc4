//! CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cloud::types::{KeyPair, KeyType, Tag};

use super::filter::{self, field, one, FilterField, Filterable};
use super::tags::{apply_tag_specifications, tag_specifications};
use super::xml::{timestamp, XmlWriter};
use super::Ec2Call;
use crate::error::Ec2Error;

impl Filterable for KeyPair {
    const FILTERS: &'static [FilterField<Self>] = &[
        field(&["key-pair-id"], |k| one(&k.id)),
        field(&["key-name"], |k| one(&k.name)),
        field(&["fingerprint"], |k| one(&k.fingerprint)),
        field(&["key-type"], |k| one(k.key_type.as_str())),
    ];

    fn tags(&self) -> &[Tag] {
        &self.tags
    }
}

pub async fn create_key_pair(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["KeyName", "KeyType", "KeyFormat", "TagSpecification"])?;
    let name = call.params.required("KeyName")?;
    let key_type = match call.params.get("KeyType") {
        None => KeyType::Rsa,
        Some(t) => KeyType::parse(t)
            .ok_or_else(|| Ec2Error::invalid_value(format!("Invalid value '{t}' for KeyType")))?,
    };
    match call.params.get("KeyFormat") {
        None | Some("pem") => {}
        Some(other) => {
            return Err(Ec2Error::invalid_value(format!(
                "Unsupported KeyFormat '{other}': only pem is supported"
            )))
        }
    }
    let tags = tag_specifications(&call.params, "key-pair")?;
    call.dry_run()?;
    let tenant = &call.principal.tenant;
    let (pair, private_pem) = call
        .accounts
        .create_key_pair(tenant, name, key_type)
        .await?;
    apply_tag_specifications(&call, &pair.id, &tags).await?;
    let mut x = XmlWriter::response("CreateKeyPair", call.request_id);
    x.leaf("keyName", &pair.name)
        .leaf("keyFingerprint", &pair.fingerprint)
        .leaf("keyMaterial", private_pem.trim_end())
        .leaf("keyPairId", &pair.id)
        .tag_set(&tags);
    Ok(x.finish("CreateKeyPair"))
}

pub async fn import_key_pair(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["KeyName", "PublicKeyMaterial", "TagSpecification"])?;
    let name = call.params.required("KeyName")?;
    let encoded = call.params.required("PublicKeyMaterial")?;
    let material = STANDARD.decode(encoded.trim()).map_err(|_| {
        Ec2Error::bad_request(
            "InvalidKey.Format",
            "PublicKeyMaterial must be base64-encoded",
        )
    })?;
    let tags = tag_specifications(&call.params, "key-pair")?;
    call.dry_run()?;
    let pair = call
        .accounts
        .import_key_pair(&call.principal.tenant, name, &material)
        .await?;
    apply_tag_specifications(&call, &pair.id, &tags).await?;
    let mut x = XmlWriter::response("ImportKeyPair", call.request_id);
    x.leaf("keyName", &pair.name)
        .leaf("keyFingerprint", &pair.fingerprint)
        .leaf("keyPairId", &pair.id)
        .tag_set(&tags);
    Ok(x.finish("ImportKeyPair"))
}

pub async fn describe_key_pairs(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params
        .expect_only(&["KeyName", "KeyPairId", "Filter", "IncludePublicKey"])?;
    call.dry_run()?;
    let names = call.params.list("KeyName");
    let ids = call.params.list("KeyPairId");
    let include_public = call.params.bool("IncludePublicKey")?;
    let filters = filter::parse_filters::<KeyPair>(&call.params)?;
    let all = call.accounts.list_key_pairs(&call.principal.tenant).await?;
    for wanted in names.iter().chain(&ids) {
        if !all.iter().any(|p| &p.name == wanted || &p.id == wanted) {
            return Err(
                cloud::Error::not_found(cloud::ResourceKind::KeyPair, wanted.clone()).into(),
            );
        }
    }
    let selected: Vec<KeyPair> = all
        .into_iter()
        .filter(|p| {
            (names.is_empty() && ids.is_empty()) || names.contains(&p.name) || ids.contains(&p.id)
        })
        .collect();
    let pairs = filter::apply(selected, &filters);
    let mut x = XmlWriter::response("DescribeKeyPairs", call.request_id);
    x.start("keySet");
    for pair in &pairs {
        x.start("item")
            .leaf("keyPairId", &pair.id)
            .leaf("keyName", &pair.name)
            .leaf("keyFingerprint", &pair.fingerprint)
            .leaf("keyType", pair.key_type.as_str())
            .tag_set(&pair.tags)
            .leaf("createTime", timestamp(pair.created_at));
        if include_public {
            x.leaf("publicKey", &pair.public_key);
        }
        x.end();
    }
    Ok(x.finish("DescribeKeyPairs"))
}

pub async fn delete_key_pair(call: Ec2Call<'_>) -> Result<String, Ec2Error> {
    call.params.expect_only(&["KeyName", "KeyPairId"])?;
    let target = call
        .params
        .get("KeyPairId")
        .or(call.params.get("KeyName"))
        .ok_or_else(|| Ec2Error::missing("KeyName"))?;
    call.dry_run()?;
    let deleted = call
        .accounts
        .delete_key_pair(&call.principal.tenant, target)
        .await?;
    let mut x = XmlWriter::response("DeleteKeyPair", call.request_id);
    x.leaf("return", "true").leaf_opt("keyPairId", deleted);
    Ok(x.finish("DeleteKeyPair"))
}
