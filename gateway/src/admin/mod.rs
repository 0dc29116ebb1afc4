//! The admin API (JSON over HTTP under `/_skyport/admin/`, SigV4-signed by an
//! admin key) and the CLI client that speaks it.

pub mod api;
pub mod client;
pub mod upload;

/// Path prefix of the admin API. Bucket names cannot start with `_`, so this never shadows S3.
pub const PREFIX: &str = "/_skyport/admin";
