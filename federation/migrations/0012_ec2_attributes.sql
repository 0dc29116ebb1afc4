-- Skyport's placement tag is a system tag, as AWS shows its own: `aws:`
-- keys, which users can neither write nor delete and which tools comparing
-- tags skip. Buckets no longer carry it (`skyport admin placement show`
-- tells where a bucket lives), so GetBucketTagging shows the user's tags only.
UPDATE tags SET tag_key = 'aws:skyport:placement'
    WHERE tag_key = 'skyport:placement' AND resource_type <> 'bucket';
DELETE FROM tags WHERE tag_key = 'skyport:placement' AND resource_type = 'bucket';
