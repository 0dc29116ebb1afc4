-- Portable SQL: this file runs unchanged on SQLite and PostgreSQL.
-- Timestamps are Unix seconds (BIGINT); IDs are text.

CREATE TABLE tenants (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    account_id         TEXT NOT NULL UNIQUE,
    created_at         BIGINT NOT NULL,
    quota_instances    BIGINT,
    quota_vcpus        BIGINT,
    quota_volume_gib   BIGINT,
    quota_buckets      BIGINT,
    quota_stored_bytes BIGINT
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE key_pairs (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE security_groups (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- rule_key is the canonical text of (direction, protocol, ports, peer): the
-- unique constraint on it is what makes a duplicate Authorize fail atomically.
CREATE TABLE security_group_rules (
    id          TEXT PRIMARY KEY,
    group_id    TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
    rule_key    TEXT NOT NULL,
    direction   TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    from_port   BIGINT,
    to_port     BIGINT,
    peer_kind   TEXT NOT NULL,
    peer        TEXT NOT NULL,
    description TEXT,
    UNIQUE (group_id, rule_key)
);
CREATE INDEX security_group_rules_peer ON security_group_rules (peer_kind, peer);

CREATE TABLE tags (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    tag_key       TEXT NOT NULL,
    tag_value     TEXT NOT NULL,
    PRIMARY KEY (resource_id, tag_key)
);
CREATE INDEX tags_tenant ON tags (tenant_id, resource_type);

CREATE TABLE buckets (
    name       TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    region     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX buckets_tenant ON buckets (tenant_id);
