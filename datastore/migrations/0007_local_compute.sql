-- Local compute: what the metadata service and DescribeInstanceAttribute
-- need to know of an instance, and the image catalogue of this site.
ALTER TABLE instances ADD COLUMN user_data TEXT;
-- EC2's stateReason code: who or what last stopped or ended the instance.
ALTER TABLE instances ADD COLUMN state_reason TEXT;

-- Images of the local image store (bytes live with the compute backend).
-- `tenant_id` is the owner; public images are launchable by every tenant.
CREATE TABLE images (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    description   TEXT,
    architecture  TEXT NOT NULL,
    boot_mode     TEXT NOT NULL,
    public        INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX images_name ON images (tenant_id, name);
