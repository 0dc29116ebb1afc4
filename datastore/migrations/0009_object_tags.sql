-- Object tags (S3 object tagging): a JSON array of [key, value] pairs per
-- object version, and the tags a multipart upload gives its object.
ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE object_versions ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE multipart_uploads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
