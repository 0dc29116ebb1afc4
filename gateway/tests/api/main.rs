//! Integration tests: the real `skyport` binary on a loopback port, driven by
//! aws-sdk-ec2 / aws-sdk-s3 and raw signed requests, on SQLite and PostgreSQL.

mod account;
mod admin;
mod auth;
mod bucket_adoption;
mod bucket_settings;
mod buckets;
mod common;
mod defaults;
mod durability;
mod filters;
mod fuzz;
mod hostile;
mod isolation;
mod key_pairs;
mod malformed_ids;
mod missing_blobs;
mod moto;
mod objects;
mod ops;
mod outage;
mod placement;
mod plain_read;
mod public_read;
mod raw;
mod remote_image_shares;
mod route_replacements;
mod security_group_rules;
mod security_groups;
mod tags;
mod termination_protection;
mod versioning;
mod volumes;
mod vpc_attributes;
mod vpcs;
