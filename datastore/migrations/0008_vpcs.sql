-- Tenant networks (EC2-VPC): VPCs, subnets, internet gateways, route tables,
-- elastic addresses, and which VPC, subnet and groups each instance has.

-- `default_for` holds the tenant's ID on its default VPC (NULL elsewhere): the
-- unique constraint makes two concurrent first uses create only one.
CREATE TABLE vpcs (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    cidr        TEXT NOT NULL,
    default_for TEXT UNIQUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX vpcs_tenant ON vpcs (tenant_id);

-- `segment` is the subnet's VLAN id or VNI: unique while the subnet exists,
-- so two L2 domains never share one.
CREATE TABLE subnets (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    vpc_id            TEXT NOT NULL REFERENCES vpcs(id),
    cidr              TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    is_default        INTEGER NOT NULL DEFAULT 0,
    map_public_ip     INTEGER NOT NULL DEFAULT 0,
    segment           BIGINT NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL
);
CREATE INDEX subnets_vpc ON subnets (vpc_id);

CREATE TABLE internet_gateways (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- One gateway per VPC at most: the unique index makes a racing second attach fail.
    vpc_id      TEXT UNIQUE REFERENCES vpcs(id),
    created_at  BIGINT NOT NULL
);

CREATE TABLE route_tables (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    vpc_id      TEXT NOT NULL REFERENCES vpcs(id),
    main        INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);
CREATE INDEX route_tables_vpc ON route_tables (vpc_id);

CREATE TABLE routes (
    route_table_id TEXT NOT NULL REFERENCES route_tables(id) ON DELETE CASCADE,
    destination    TEXT NOT NULL,
    gateway_id     TEXT NOT NULL,
    PRIMARY KEY (route_table_id, destination)
);

CREATE TABLE route_table_associations (
    id             TEXT PRIMARY KEY,
    route_table_id TEXT NOT NULL REFERENCES route_tables(id),
    subnet_id      TEXT NOT NULL UNIQUE REFERENCES subnets(id)
);

-- Public addresses of the site's pool: `public_ip` is unique so two
-- allocations can never hand out one address. `kind` is `elastic` (a tenant's
-- EIP; an association names the instance and its private address) or
-- `router` (a VPC router's own address while an internet gateway is
-- attached; `allocation_id` is then the gateway's ID).
CREATE TABLE addresses (
    allocation_id  TEXT PRIMARY KEY,
    kind           TEXT NOT NULL DEFAULT 'elastic',
    tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    public_ip      TEXT NOT NULL UNIQUE,
    association_id TEXT UNIQUE,
    instance_id    TEXT UNIQUE,
    private_ip     TEXT,
    created_at     BIGINT NOT NULL
);

ALTER TABLE instances ADD COLUMN vpc_id TEXT;
ALTER TABLE instances ADD COLUMN subnet_id TEXT;
CREATE INDEX instances_subnet ON instances (subnet_id);

-- Addresses of tenant subnets held by instances. A launch reserves its
-- addresses here first (instance_id NULL), so concurrent launches never
-- share one; the instance record claims them.
CREATE TABLE subnet_addresses (
    subnet_id   TEXT NOT NULL REFERENCES subnets(id),
    ip          TEXT NOT NULL,
    instance_id TEXT,
    reserved_at BIGINT NOT NULL,
    PRIMARY KEY (subnet_id, ip)
);

CREATE TABLE instance_groups (
    instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
    group_id    TEXT NOT NULL,
    PRIMARY KEY (instance_id, group_id)
);

-- Security groups belong to a VPC now, and names are unique per VPC (every
-- VPC has its own `default`). Groups made before VPCs existed have no VPC
-- until the tenant's default VPC is created and adopts them. Changing a
-- unique constraint means rebuilding the table (and its dependants) on SQLite.
CREATE TABLE security_groups_v2 (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    vpc_id      TEXT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, vpc_id, name)
);
INSERT INTO security_groups_v2 (id, tenant_id, vpc_id, name, description, created_at)
    SELECT id, tenant_id, NULL, name, description, created_at FROM security_groups;

CREATE TABLE security_group_rules_v2 (
    id          TEXT PRIMARY KEY,
    group_id    TEXT NOT NULL REFERENCES security_groups_v2(id) ON DELETE CASCADE,
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
INSERT INTO security_group_rules_v2
    SELECT id, group_id, rule_key, direction, protocol, from_port, to_port, peer_kind, peer, description
    FROM security_group_rules;

CREATE TABLE remote_security_groups_v2 (
    group_id        TEXT NOT NULL REFERENCES security_groups_v2(id) ON DELETE CASCADE,
    target          TEXT NOT NULL,
    remote_group_id TEXT NOT NULL,
    PRIMARY KEY (group_id, target)
);
INSERT INTO remote_security_groups_v2 SELECT group_id, target, remote_group_id FROM remote_security_groups;

DROP TABLE remote_security_groups;
DROP TABLE security_group_rules;
DROP TABLE security_groups;
ALTER TABLE security_groups_v2 RENAME TO security_groups;
ALTER TABLE security_group_rules_v2 RENAME TO security_group_rules;
ALTER TABLE remote_security_groups_v2 RENAME TO remote_security_groups;
CREATE INDEX security_group_rules_peer ON security_group_rules (peer_kind, peer);
