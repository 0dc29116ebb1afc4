-- Block volumes and their snapshots, on the target each was placed on.
--
-- Like instances, each row maps Skyport's ID to (target, the target's ID) and
-- keeps the last state the target reported, shown when the target cannot
-- answer. A volume's attachment names Skyport's instance ID.

CREATE TABLE volumes (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    target            TEXT NOT NULL,
    remote_id         TEXT NOT NULL,
    size_gib          BIGINT NOT NULL,
    availability_zone TEXT NOT NULL,
    volume_type       TEXT NOT NULL,
    iops              BIGINT,
    encrypted         INTEGER NOT NULL DEFAULT 0,
    snapshot_id       TEXT,
    state             TEXT NOT NULL,
    client_token      TEXT,
    created_at        BIGINT NOT NULL,
    instance_id       TEXT,
    device            TEXT,
    attachment_state  TEXT,
    attached_at       BIGINT
);
CREATE UNIQUE INDEX volumes_remote ON volumes (target, remote_id);
CREATE INDEX volumes_tenant ON volumes (tenant_id, id);

CREATE TABLE snapshots (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    target      TEXT NOT NULL,
    remote_id   TEXT NOT NULL,
    volume_id   TEXT NOT NULL,
    size_gib    BIGINT NOT NULL,
    description TEXT,
    encrypted   INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL,
    progress    TEXT NOT NULL,
    started_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX snapshots_remote ON snapshots (target, remote_id);
CREATE INDEX snapshots_tenant ON snapshots (tenant_id, id);
