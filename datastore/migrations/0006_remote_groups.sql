-- Security groups copied to remote targets (at the first launch that needs
-- them there), so later rule changes can be pushed to each copy.
CREATE TABLE remote_security_groups (
    group_id        TEXT NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
    target          TEXT NOT NULL,
    remote_group_id TEXT NOT NULL,
    PRIMARY KEY (group_id, target)
);
