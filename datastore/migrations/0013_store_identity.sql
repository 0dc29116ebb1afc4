-- Which blob store this database's objects live in. Written once, by the
-- first gateway that opens the database, and also kept in the store's own
-- directory (objects/store-id): a gateway whose blob directory is another
-- store refuses to start rather than answer reads it cannot serve.
CREATE TABLE store_identity (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    store_id   TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
