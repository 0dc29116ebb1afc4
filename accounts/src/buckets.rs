//! Creating and deleting buckets: where a new bucket goes (this site's blob
//! store or a remote cloud, by the policies) and its record in the
//! [`ObjectIndex`](object_index::ObjectIndex)'s bucket registry.

use cloud::types::{Bucket, RemoteBucket, Tag};
use cloud::{Error, ResourceKind, Result};
use datastore::{db_err, now};

use crate::placement::Chosen;
use crate::tenants::Tenant;
use crate::Accounts;

/// What a CreateBucket tells the placement policies.
#[derive(Debug, Clone, Default)]
pub struct BucketPlacing {
    /// The `LocationConstraint` the client asked for.
    pub location_constraint: Option<String>,
    /// Tags sent with the request (`CreateBucketConfiguration.Tags`).
    pub tags: Vec<Tag>,
}

impl Accounts {
    /// Places, creates and registers a bucket for the tenant: on this site's
    /// object store or on the remote target the policies choose.
    pub async fn create_bucket(
        &self,
        tenant: &Tenant,
        name: &str,
        placing: &BucketPlacing,
    ) -> Result<Bucket> {
        object_index::validate_bucket_name(name)?;
        for tag in &placing.tags {
            cloud::tags::validate_tag(tag)?;
        }
        if let Some(owner) = self.index.bucket_owner(name).await? {
            return Err(if owner == tenant.id {
                Error::duplicate(ResourceKind::Bucket, name)
            } else {
                Error::BucketTakenByOther(name.to_string())
            });
        }
        if let Some(limit) = tenant.quotas.buckets {
            if self.index.list_buckets(tenant).await?.len() as i64 >= limit {
                return Err(Error::QuotaExceeded {
                    resource: "buckets",
                    limit,
                });
            }
        }
        let mut request =
            policies::Request::new(&tenant.name, "CreateBucket", policies::ResourceKind::Bucket)
                .with_region(&self.region);
        if let Some(constraint) = &placing.location_constraint {
            request = request.with_location_constraint(constraint);
        }
        for tag in &placing.tags {
            request = request.with_tag(&tag.key, &tag.value);
        }
        // Storage first, record second: a crash in between leaves an empty
        // directory that the next create of this name reuses, or a remote bucket
        // that stays the target's (never adopted: that create is refused).
        let (remote, target, explanation) = self
            .place(&request, |chosen| async move {
                match chosen {
                    Chosen::Local => {
                        // Leftovers of an earlier bucket of this name are cleared first.
                        self.index.prepare_local_bucket(name).await?;
                        Ok(None)
                    }
                    Chosen::Remote(target) => {
                        let remote_name = target.remote_bucket_name(name);
                        // The client's LocationConstraint chose the target through the
                        // policies; on the target the bucket goes in the target's region.
                        // A bucket already there is never adopted (the target says
                        // BucketTakenByOther); the client hears its own name only.
                        target.create_bucket(&remote_name, None).await.map_err(
                            |error| match error {
                                Error::BucketTakenByOther(_) => {
                                    Error::BucketTakenByOther(name.to_string())
                                }
                                other => other,
                            },
                        )?;
                        Ok(Some(RemoteBucket {
                            target: target.name().to_string(),
                            name: remote_name,
                        }))
                    }
                }
            })
            .await?;
        let bucket = Bucket {
            name: name.to_string(),
            region: self.region.clone(),
            created_at: now(),
            remote,
        };
        let mut tx = self.db.begin_write().await?;
        let inserted = self
            .index
            .insert_bucket(&mut tx, tenant, &bucket, &placing.tags)
            .await?;
        if !inserted {
            // Lost a race with another creator of the same name.
            drop(tx);
            return Err(match self.index.bucket_owner(name).await? {
                Some(owner) if owner == tenant.id => Error::duplicate(ResourceKind::Bucket, name),
                _ => Error::BucketTakenByOther(name.to_string()),
            });
        }
        Self::record_placement(&mut tx, tenant, name, "bucket", &target, &explanation).await?;
        tx.commit().await.map_err(db_err)?;
        self.index.bucket_changed(name);
        tracing::info!(tenant = %tenant.name, bucket = name, %target, "bucket created");
        Ok(bucket)
    }

    /// Deletes a bucket that holds no object; unfinished multipart uploads go with it.
    pub async fn delete_bucket(&self, tenant: &Tenant, name: &str) -> Result<()> {
        let bucket = self.index.bucket(tenant, name).await?;
        if let Some(remote) = &bucket.remote {
            // The target decides emptiness; the record goes once the bucket is gone there.
            self.placement
                .remote(&remote.target)?
                .delete_bucket(&remote.name)
                .await?;
        }
        let mut tx = self.db.begin_write().await?;
        self.index
            .forget_bucket(&mut tx, name, bucket.remote.is_some())
            .await?;
        Self::forget_placement(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        self.index.bucket_changed(name);
        if bucket.remote.is_none() {
            // Record first, storage second: a crash in between leaves files no
            // bucket owns, which the next CreateBucket of this name starts over from.
            self.index.remove_local_bucket(name).await?;
        }
        tracing::info!(tenant = %tenant.name, bucket = name, "bucket deleted");
        Ok(())
    }
}
