-- Images in a remote target's account that an admin lets one tenant see and
-- launch (`skyport admin image share`). Without a row, a tenant sees only the
-- images the target publishes publicly: the account's private images are the
-- operator's, not every tenant's.
CREATE TABLE remote_image_shares (
    target     TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (target, image_id, tenant_id)
);
CREATE INDEX remote_image_shares_tenant ON remote_image_shares (tenant_id);
