"""CopyObject (copy and replace, across buckets, onto itself, copy-source
conditions) and DeleteObjects (quiet and verbose, the 1000-key limit)."""

from __future__ import annotations

import datetime
import os

from conftest import remove_bucket, unique_bucket
from helpers import sha256_hex
from s3_objects_common import (
    client_error,
    assert_error,
    assert_missing,
    get_bytes,
    md5_etag,
    list_all_v2,
)


def test_copy_object_copy_and_replace(s3, bucket):
    src_key = "src dir/ü+ber%.txt"
    data = os.urandom(70_000)
    s3.put_object(Bucket=bucket, Key=src_key, Body=data, Metadata={"origin": "src"},
                  ContentType="text/x-src", CacheControl="no-cache")

    cp = s3.copy_object(Bucket=bucket, Key="copy-default",
                        CopySource={"Bucket": bucket, "Key": src_key})
    assert cp["CopyObjectResult"]["ETag"] == md5_etag(data)
    head = s3.head_object(Bucket=bucket, Key="copy-default")
    assert head["Metadata"] == {"origin": "src"}
    assert head["ContentType"] == "text/x-src"
    assert head["CacheControl"] == "no-cache"
    assert head["ETag"] == md5_etag(data)
    assert sha256_hex(get_bytes(s3, bucket, "copy-default")) == sha256_hex(data)

    s3.copy_object(Bucket=bucket, Key="copy-explicit", MetadataDirective="COPY",
                   Metadata={"ignored": "yes"}, CopySource={"Bucket": bucket, "Key": src_key})
    assert s3.head_object(Bucket=bucket, Key="copy-explicit")["Metadata"] == {"origin": "src"}

    s3.copy_object(Bucket=bucket, Key="copy-replace", MetadataDirective="REPLACE",
                   Metadata={"new": "meta"}, ContentType="application/x-new",
                   CopySource={"Bucket": bucket, "Key": src_key})
    head = s3.head_object(Bucket=bucket, Key="copy-replace")
    assert head["Metadata"] == {"new": "meta"}
    assert head["ContentType"] == "application/x-new"
    assert "CacheControl" not in head
    assert sha256_hex(get_bytes(s3, bucket, "copy-replace")) == sha256_hex(data)

    # The source is untouched.
    assert s3.head_object(Bucket=bucket, Key=src_key)["Metadata"] == {"origin": "src"}


def test_copy_object_across_buckets(s3, bucket):
    other = unique_bucket("dst")
    s3.create_bucket(Bucket=other)
    try:
        s3.put_object(Bucket=bucket, Key="a/b", Body=b"cross bucket")
        s3.copy_object(Bucket=other, Key="c/d", CopySource=f"{bucket}/a/b")
        assert get_bytes(s3, other, "c/d") == b"cross bucket"
        exc = client_error(s3.copy_object, Bucket=other, Key="x", CopySource=f"{bucket}/missing")
        assert_error(exc, "NoSuchKey", 404)
        exc = client_error(s3.copy_object, Bucket=unique_bucket("nob"), Key="x",
                           CopySource=f"{bucket}/a/b")
        assert_error(exc, "NoSuchBucket", 404)
    finally:
        remove_bucket(s3, other)


def test_copy_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"me", Metadata={"v": "1"})
    exc = client_error(s3.copy_object, Bucket=bucket, Key="self",
                       CopySource={"Bucket": bucket, "Key": "self"})
    assert_error(exc, "InvalidRequest", 400)
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"})
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["Metadata"] == {"v": "2"}
    assert get_bytes(s3, bucket, "self") == b"me"


def test_copy_source_conditions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="cs", Body=b"conditional source")
    etag = md5_etag(b"conditional source")
    src = {"Bucket": bucket, "Key": "cs"}
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    for kw in (dict(CopySourceIfMatch='"0000"'), dict(CopySourceIfNoneMatch=etag),
               dict(CopySourceIfModifiedSince=future), dict(CopySourceIfUnmodifiedSince=past)):
        exc = client_error(s3.copy_object, Bucket=bucket, Key="cs-copy", CopySource=src, **kw)
        assert_error(exc, "PreconditionFailed", 412)
        assert_missing(s3, bucket, "cs-copy")
    for kw in (dict(CopySourceIfMatch=etag), dict(CopySourceIfNoneMatch='"0000"'),
               dict(CopySourceIfModifiedSince=past), dict(CopySourceIfUnmodifiedSince=future)):
        s3.copy_object(Bucket=bucket, Key="cs-copy", CopySource=src, **kw)
        assert get_bytes(s3, bucket, "cs-copy") == b"conditional source"




def test_delete_objects_quiet_and_verbose(s3, bucket):
    keys = [f"del/{i}" for i in range(6)] + ["keep/1", "ü space+"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())

    verbose = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "del/0"}, {"Key": "del/1"}, {"Key": "ü space+"}, {"Key": "never-existed"}]})
    assert sorted(d["Key"] for d in verbose["Deleted"]) == sorted(
        ["del/0", "del/1", "ü space+", "never-existed"])
    assert not verbose.get("Errors")

    quiet = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": "del/2"}, {"Key": "del/3"}], "Quiet": True})
    assert not quiet.get("Deleted"), quiet
    assert not quiet.get("Errors")

    remaining, _, _ = list_all_v2(s3, bucket)
    assert remaining == ["del/4", "del/5", "keep/1"]
    for gone in ("del/0", "del/3", "ü space+"):
        assert_missing(s3, bucket, gone)
    assert get_bytes(s3, bucket, "keep/1") == b"keep/1"


def test_delete_objects_limit(s3, bucket):
    exc = client_error(s3.delete_objects, Bucket=bucket,
                       Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert_error(exc, "MalformedXML", 400)
