//! The rules every tag obeys, wherever it is stored: EC2 resource tags and
//! S3 bucket tags alike.

use crate::types::Tag;
use crate::{Error, Result};

/// AWS's limit of tags per resource.
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

pub fn validate_tag(tag: &Tag) -> Result<()> {
    if tag.key.is_empty() || tag.key.chars().count() > 128 {
        return Err(Error::invalid("Tag.Key", "tag keys are 1-128 characters"));
    }
    if tag.value.chars().count() > 256 {
        return Err(Error::invalid(
            "Tag.Value",
            "tag values are at most 256 characters",
        ));
    }
    if is_system_key(&tag.key) {
        return Err(reserved_key(&tag.key));
    }
    Ok(())
}

/// Keys users can neither write nor delete: AWS's own `aws:` (Skyport's
/// placement tag is one) and the older `skyport:`.
pub fn is_system_key(key: &str) -> bool {
    key.to_ascii_lowercase().starts_with("aws:") || key.starts_with("skyport:")
}

/// AWS's refusal of a reserved key.
pub fn reserved_key(key: &str) -> Error {
    Error::invalid(
        "Tag.Key",
        format!(
            "Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use"
        ),
    )
}
