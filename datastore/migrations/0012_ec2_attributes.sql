-- Skyport's placement tag is a system tag, as AWS shows its own: `aws:`
-- keys, which users can neither write nor delete and which tools comparing
-- tags skip. Buckets no longer carry it (`skyport admin placement show`
-- tells where a bucket lives), so GetBucketTagging shows the user's tags only.
UPDATE tags SET tag_key = 'aws:skyport:placement'
    WHERE tag_key = 'skyport:placement' AND resource_type <> 'bucket';
DELETE FROM tags WHERE tag_key = 'skyport:placement' AND resource_type = 'bucket';

-- A VPC's DNS attributes (DescribeVpcAttribute / ModifyVpcAttribute), with
-- AWS's defaults: DNS served everywhere, hostnames in default VPCs only.
ALTER TABLE vpcs ADD COLUMN enable_dns_support INTEGER NOT NULL DEFAULT 1;
ALTER TABLE vpcs ADD COLUMN enable_dns_hostnames INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vpcs ADD COLUMN enable_network_address_usage_metrics INTEGER NOT NULL DEFAULT 0;
UPDATE vpcs SET enable_dns_hostnames = 1 WHERE default_for IS NOT NULL;

-- Termination protection (RunInstances / ModifyInstanceAttribute
-- DisableApiTermination): TerminateInstances refuses a protected instance.
ALTER TABLE instances ADD COLUMN disable_api_termination INTEGER NOT NULL DEFAULT 0;

-- Who may launch an image besides its owner (ModifyImageAttribute
-- launchPermission by account ID; the group `all` is images.public).
CREATE TABLE image_launch_permissions (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    PRIMARY KEY (image_id, account_id)
);
CREATE INDEX image_launch_permissions_account ON image_launch_permissions (account_id);
