-- Canned ACLs, CORS and lifecycle rules (JSON), and the index lifecycle sweeps use.
ALTER TABLE buckets ADD COLUMN acl TEXT NOT NULL DEFAULT 'private';
ALTER TABLE buckets ADD COLUMN cors TEXT;
ALTER TABLE buckets ADD COLUMN lifecycle TEXT;
ALTER TABLE objects ADD COLUMN acl TEXT NOT NULL DEFAULT 'private';
CREATE INDEX objects_modified ON objects (bucket, last_modified);
