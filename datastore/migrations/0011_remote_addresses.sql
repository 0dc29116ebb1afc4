-- Elastic IPs allocated on a remote target: the target and its IDs for the
-- allocation and the current association. NULL target = this site's pool.
ALTER TABLE addresses ADD COLUMN target TEXT;
ALTER TABLE addresses ADD COLUMN remote_id TEXT;
ALTER TABLE addresses ADD COLUMN remote_association_id TEXT;
