-- Bucket versioning. `objects` keeps each key's current version; earlier
-- versions and delete markers live in `object_versions`. `seq` orders the
-- versions of a key (newest highest); a NULL version_id is S3's "null" version.
ALTER TABLE buckets ADD COLUMN versioning TEXT;
ALTER TABLE objects ADD COLUMN version_id TEXT;
ALTER TABLE objects ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE object_versions (
    bucket           TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    object_key       TEXT NOT NULL,
    version_key      TEXT NOT NULL,
    version_id       TEXT,
    seq              BIGINT NOT NULL,
    is_delete_marker BIGINT NOT NULL,
    blobs            TEXT NOT NULL,
    size             BIGINT NOT NULL,
    etag             TEXT NOT NULL,
    content_type     TEXT,
    headers          TEXT NOT NULL,
    user_metadata    TEXT NOT NULL,
    checksum         TEXT,
    parts_count      BIGINT,
    last_modified    BIGINT NOT NULL,
    acl              TEXT NOT NULL,
    PRIMARY KEY (bucket, object_key, version_key)
);
CREATE INDEX object_versions_order ON object_versions (bucket, object_key, seq);
