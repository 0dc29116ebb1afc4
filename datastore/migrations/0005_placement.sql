-- Placement: where each created resource lives, and why.
--
-- `placements` records the policy decision for every placed resource (its
-- explanation text is what `skyport admin placement show` prints). Buckets
-- placed on a remote target carry the target and the bucket's name there;
-- NULL target = this site's own object store. Instances always live on a
-- target (remote now; local once local compute exists) under the target's ID.

CREATE TABLE placements (
    resource_id   TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_kind TEXT NOT NULL,
    target        TEXT NOT NULL,
    decision      TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

ALTER TABLE buckets ADD COLUMN target TEXT;
ALTER TABLE buckets ADD COLUMN remote_name TEXT;

CREATE TABLE instances (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    reservation_id    TEXT NOT NULL,
    target            TEXT NOT NULL,
    remote_id         TEXT NOT NULL,
    launch_index      BIGINT NOT NULL,
    image_id          TEXT NOT NULL,
    instance_type     TEXT NOT NULL,
    key_name          TEXT,
    availability_zone TEXT,
    client_token      TEXT,
    state             TEXT NOT NULL,
    private_ip        TEXT,
    public_ip         TEXT,
    private_dns       TEXT,
    architecture      TEXT,
    launched_at       BIGINT NOT NULL,
    -- When it was last seen terminated; terminated instances are forgotten an hour later.
    terminated_at     BIGINT
);
CREATE UNIQUE INDEX instances_remote ON instances (target, remote_id);
CREATE INDEX instances_tenant ON instances (tenant_id, id);
CREATE INDEX instances_token ON instances (tenant_id, client_token);
