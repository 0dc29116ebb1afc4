"""Copies between buckets on different clouds, with boto3: this site, "aws-tokyo"
and "aws-virginia" (moto_server). Skyport reads one cloud and writes the other;
metadata, tags and conditions behave as in a copy within one cloud."""

from __future__ import annotations

import hashlib
import os
import time

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, unique_bucket
from moto_clouds import clouds  # noqa: F401 (clouds: fixture)

# This site as a third target, chosen for buckets tagged where=here.
LOCAL = """
[[target]]
name = "local"
kind = "local"
jurisdiction = { country = "JP" }

[[rule]]
name = "keep-here"
match = { tags = { where = "here" } }
require = { kind = ["local"] }
"""


def create(s3, name: str, tags: dict):
    config = {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]} if tags else {}
    s3.create_bucket(Bucket=name, **({"CreateBucketConfiguration": config} if config else {}))


def test_objects_copy_between_clouds_and_this_site(clouds):
    s3, tokyo, virginia = clouds["s3"], clouds["tokyo"], clouds["virginia"]
    (clouds["policy_dir"] / "30-local.toml").write_text(LOCAL)
    here = unique_bucket("here")
    deadline = time.monotonic() + 10
    while True:  # the policy directory is re-read while running
        create(s3, here, {"where": "here"})
        if here not in tokyo.bucket_names() + virginia.bucket_names():
            break
        s3.delete_bucket(Bucket=here)
        assert time.monotonic() < deadline, "the local target never took effect"
        time.sleep(0.3)
    jp, us = unique_bucket("jp"), unique_bucket("us")
    create(s3, jp, {"data-class": "personal"})
    create(s3, us, {})
    assert tokyo.bucket_names() == [jp] and virginia.bucket_names() == [us]

    s3.put_object(Bucket=jp, Key="a b.txt", Body=b"hello", ContentType="text/plain",
                  Metadata={"m": "1"}, Tagging="k=v&x=y%20z")
    # Tokyo → Virginia: metadata and tags come along.
    s3.copy_object(Bucket=us, Key="b.txt", CopySource={"Bucket": jp, "Key": "a b.txt"})
    there = virginia.client("s3").get_object(Bucket=us, Key="b.txt")
    assert there["Body"].read() == b"hello"
    assert there["ContentType"] == "text/plain" and there["Metadata"] == {"m": "1"}
    tags = virginia.client("s3").get_object_tagging(Bucket=us, Key="b.txt")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("k", "v"), ("x", "y z")]

    # Virginia → this site, replacing the metadata.
    s3.copy_object(Bucket=here, Key="c.txt", CopySource={"Bucket": us, "Key": "b.txt"},
                   MetadataDirective="REPLACE", Metadata={"n": "2"}, ContentType="text/markdown")
    local = s3.get_object(Bucket=here, Key="c.txt")
    assert local["Body"].read() == b"hello"
    assert local["Metadata"] == {"n": "2"} and local["ContentType"] == "text/markdown"

    # Conditions are checked on the source; a failed one copies nothing.
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=jp, Key="d.txt", CopySource={"Bucket": here, "Key": "c.txt"},
                       CopySourceIfMatch='"0123456789abcdef0123456789abcdef"')
    assert error_code(e.value) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=jp, Key="d.txt", CopySource={"Bucket": here, "Key": "missing"})
    assert error_code(e.value) == "NoSuchKey"
    assert [o["Key"] for o in tokyo.client("s3").list_objects_v2(Bucket=jp).get("Contents", [])] == ["a b.txt"]

    # A large object goes through boto3's managed copy (UploadPartCopy, streamed).
    big = os.urandom(12 << 20)
    s3.put_object(Bucket=here, Key="big", Body=big)
    s3.copy({"Bucket": here, "Key": "big"}, us, "big")
    copied = virginia.client("s3").get_object(Bucket=us, Key="big")["Body"].read()
    assert hashlib.sha256(copied).hexdigest() == hashlib.sha256(big).hexdigest()
