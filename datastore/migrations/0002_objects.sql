-- The object index of locally stored buckets. Bytes live in the object store
-- as blobs; `blobs` lists an object's blobs in order as "id:size" words.
-- Timestamps here are Unix milliseconds.

ALTER TABLE buckets ADD COLUMN bytes_used BIGINT NOT NULL DEFAULT 0;

CREATE TABLE objects (
    bucket        TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    object_key    TEXT NOT NULL,
    blobs         TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    content_type  TEXT,
    headers       TEXT NOT NULL,
    user_metadata TEXT NOT NULL,
    checksum      TEXT,
    parts_count   BIGINT,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (bucket, object_key)
);

CREATE TABLE multipart_uploads (
    upload_id     TEXT PRIMARY KEY,
    bucket        TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
    object_key    TEXT NOT NULL,
    content_type  TEXT,
    headers       TEXT NOT NULL,
    user_metadata TEXT NOT NULL,
    checksum_algorithm TEXT,
    initiated     BIGINT NOT NULL
);
CREATE INDEX multipart_uploads_bucket ON multipart_uploads (bucket, object_key, upload_id);

CREATE TABLE multipart_parts (
    upload_id     TEXT NOT NULL REFERENCES multipart_uploads(upload_id) ON DELETE CASCADE,
    part_number   BIGINT NOT NULL,
    blob_id       TEXT NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    checksum      TEXT,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
