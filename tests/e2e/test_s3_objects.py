"""S3 object basics through boto3 (default configuration): the data path for odd
keys, metadata and standard headers, ETags, errors for missing buckets and keys,
Content-MD5, ranges, conditional reads and writes, response overrides."""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import threading

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, http_status, make_client, remove_bucket, unique_bucket
from helpers import sha256_hex
from s3_objects_common import MiB, client_error, assert_error, assert_missing, get_bytes, md5_etag


ODD_KEYS = [
    "plain.txt",
    "unicode/日本語/ñandú-ü.bin",
    "with space/and more spaces .txt",
    "plus+sign+key",
    "percent%20literal%2Fnot-a-slash%",
    "deep/a/b/c/d/e/f.txt",
    "/leading-slash//double-slash",
    "sym!-_.*'()&$@=;:,?#[]~",
    "emoji-😀-and-\u00a0nbsp",
    "trailing-slash-dir/",
]


@pytest.mark.parametrize("key", ODD_KEYS, ids=range(len(ODD_KEYS)))
def test_put_get_head_delete_round_trip(s3, bucket, key):
    data = os.urandom(37 * 1024 + 11)
    put = s3.put_object(Bucket=bucket, Key=key, Body=data)
    assert put["ETag"] == md5_etag(data)

    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == md5_etag(data)
    assert abs((head["LastModified"] - datetime.datetime.now(datetime.timezone.utc))
               .total_seconds()) < 120

    got = s3.get_object(Bucket=bucket, Key=key)
    body = got["Body"].read()
    assert sha256_hex(body) == sha256_hex(data)
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == put["ETag"]

    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [(key, len(data), put["ETag"])]

    resp = s3.delete_object(Bucket=bucket, Key=key)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_missing(s3, bucket, key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_zero_byte_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    head = s3.head_object(Bucket=bucket, Key="empty")
    assert head["ContentLength"] == 0
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    [entry] = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert (entry["Key"], entry["Size"]) == ("empty", 0)


def test_overwrite_replaces_body_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, long", Metadata={"a": "1"},
                  ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", Metadata={"b": "2"})
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentLength"] == 6
    assert head.get("ContentType") != "text/plain"
    assert get_bytes(s3, bucket, "k") == b"second"
    assert [(o["Key"], o["Size"]) for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [("k", 6)]


@pytest.mark.parametrize("size", [1, 1000, 64 * 1024 + 1, 3 * MiB + 7])
def test_etag_is_md5(s3, bucket, size):
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key=f"etag-{size}", Body=data)
    assert put["ETag"] == md5_etag(data)
    assert s3.head_object(Bucket=bucket, Key=f"etag-{size}")["ETag"] == md5_etag(data)
    assert sha256_hex(get_bytes(s3, bucket, f"etag-{size}")) == sha256_hex(data)


def test_metadata_and_standard_headers_round_trip(s3, bucket):
    expires = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="meta", Body=b"<html></html>",
        Metadata={"Color": "Blue", "multi-word-key": "value with  spaces", "n": "42"},
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=3600, public",
        ContentDisposition='attachment; filename="report.html"',
        ContentEncoding="identity",
        ContentLanguage="de-CH",
        Expires=expires,
    )
    for resp in (s3.head_object(Bucket=bucket, Key="meta"),
                 s3.get_object(Bucket=bucket, Key="meta")):
        # User metadata names are case-insensitive and come back lower-cased.
        assert resp["Metadata"] == {"color": "Blue", "multi-word-key": "value with  spaces",
                                    "n": "42"}
        assert resp["ContentType"] == "text/html; charset=utf-8"
        assert resp["CacheControl"] == "max-age=3600, public"
        assert resp["ContentDisposition"] == 'attachment; filename="report.html"'
        assert resp["ContentEncoding"] == "identity"
        assert resp["ContentLanguage"] == "de-CH"
        assert resp["ExpiresString"] == "Tue, 06 May 2031 07:08:09 GMT"
        assert resp["ContentLength"] == 13


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="noct", Body=b"x")
    # boto3 sends no Content-Type for a bytes body: S3 stores binary/octet-stream.
    assert s3.head_object(Bucket=bucket, Key="noct")["ContentType"] in (
        "binary/octet-stream", "application/octet-stream")


def test_key_length_limit(s3, bucket):
    ok = "k" * 1024
    s3.put_object(Bucket=bucket, Key=ok, Body=b"1")
    assert get_bytes(s3, bucket, ok) == b"1"
    exc = client_error(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"1")
    assert_error(exc, "KeyTooLongError", 400)


def test_missing_bucket_and_key(s3, bucket):
    missing = unique_bucket("nob")
    assert_error(client_error(s3.put_object, Bucket=missing, Key="k", Body=b"x"), "NoSuchBucket", 404)
    assert_error(client_error(s3.get_object, Bucket=missing, Key="k"), "NoSuchBucket", 404)
    assert_error(client_error(s3.list_objects_v2, Bucket=missing), "NoSuchBucket", 404)
    assert_error(client_error(s3.get_object, Bucket=bucket, Key="nope"), "NoSuchKey", 404)
    # DeleteObject of a missing key is idempotent.
    assert s3.delete_object(Bucket=bucket, Key="nope")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_bucket_not_empty(s3):
    name = unique_bucket("ne")
    s3.create_bucket(Bucket=name)
    try:
        s3.put_object(Bucket=name, Key="x/y", Body=b"1")
        assert_error(client_error(s3.delete_bucket, Bucket=name), "BucketNotEmpty", 409)
        assert get_bytes(s3, name, "x/y") == b"1"
        s3.delete_object(Bucket=name, Key="x/y")
        s3.delete_bucket(Bucket=name)
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        remove_bucket(s3, name)





@pytest.fixture
def hundred(s3, bucket):
    data = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    return data


@pytest.mark.parametrize("rng,start,end", [
    ("bytes=0-9", 0, 9),
    ("bytes=-5", 95, 99),
    ("bytes=10-", 10, 99),
    ("bytes=95-1000", 95, 99),
    ("bytes=42-42", 42, 42),
])
def test_get_range(s3, bucket, hundred, rng, start, end):
    got = s3.get_object(Bucket=bucket, Key="r", Range=rng)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/100"
    assert got["ContentLength"] == end - start + 1
    assert got["Body"].read() == hundred[start:end + 1]
    assert got["ETag"] == md5_etag(hundred)


@pytest.mark.parametrize("rng", ["bytes=100-", "bytes=200-300"])
def test_get_range_not_satisfiable(s3, bucket, hundred, rng):
    assert_error(client_error(s3.get_object, Bucket=bucket, Key="r", Range=rng), "InvalidRange", 416)


def test_head_range(s3, bucket, hundred):
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentLength"] == 10
    assert head["ContentRange"] == "bytes 10-19/100"


def test_conditional_get_and_head(s3, bucket, hundred):
    etag = s3.head_object(Bucket=bucket, Key="r")["ETag"]
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)

    ok = [dict(IfMatch=etag), dict(IfMatch="*"), dict(IfNoneMatch='"0123"'),
          dict(IfModifiedSince=past), dict(IfUnmodifiedSince=future),
          # If-Match true wins over If-Unmodified-Since false.
          dict(IfMatch=etag, IfUnmodifiedSince=past)]
    for kw in ok:
        assert get_bytes(s3, bucket, "r", **kw) == hundred, kw
        assert s3.head_object(Bucket=bucket, Key="r", **kw)["ETag"] == etag

    not_modified = [dict(IfNoneMatch=etag), dict(IfNoneMatch="*"), dict(IfModifiedSince=future),
                    # If-None-Match false wins over If-Modified-Since true.
                    dict(IfNoneMatch=etag, IfModifiedSince=past)]
    for kw in not_modified:
        exc = client_error(s3.get_object, Bucket=bucket, Key="r", **kw)
        assert http_status(exc) == 304, (kw, exc.response)
        exc = client_error(s3.head_object, Bucket=bucket, Key="r", **kw)
        assert http_status(exc) == 304, (kw, exc.response)

    failed = [dict(IfMatch='"0123"'), dict(IfUnmodifiedSince=past)]
    for kw in failed:
        exc = client_error(s3.get_object, Bucket=bucket, Key="r", **kw)
        assert_error(exc, "PreconditionFailed", 412)
        exc = client_error(s3.head_object, Bucket=bucket, Key="r", **kw)
        assert http_status(exc) == 412, (kw, exc.response)


def test_conditional_put(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="cp", Body=b"one", IfNoneMatch="*")
    exc = client_error(s3.put_object, Bucket=bucket, Key="cp", Body=b"two", IfNoneMatch="*")
    assert_error(exc, "PreconditionFailed", 412)
    assert get_bytes(s3, bucket, "cp") == b"one"

    exc = client_error(s3.put_object, Bucket=bucket, Key="cp", Body=b"two",
                       IfMatch=md5_etag(b"not the current body"))
    assert_error(exc, "PreconditionFailed", 412)
    assert get_bytes(s3, bucket, "cp") == b"one"

    second = s3.put_object(Bucket=bucket, Key="cp", Body=b"two", IfMatch=first["ETag"])
    assert second["ETag"] == md5_etag(b"two")
    assert get_bytes(s3, bucket, "cp") == b"two"
    # The old ETag no longer matches.
    exc = client_error(s3.put_object, Bucket=bucket, Key="cp", Body=b"three", IfMatch=first["ETag"])
    assert_error(exc, "PreconditionFailed", 412)

    # If-Match against a missing key never creates it.
    exc = client_error(s3.put_object, Bucket=bucket, Key="cp-missing", Body=b"x",
                       IfMatch=first["ETag"])
    assert http_status(exc) in (404, 412), exc.response
    assert_missing(s3, bucket, "cp-missing")


def test_conditional_put_race(server, admin_creds, bucket):
    """Of many concurrent If-None-Match: * writers of one key exactly one wins."""
    writers, rounds = 8, 6
    client = make_client(server, "s3", admin_creds, max_pool_connections=writers)

    for rnd in range(rounds):
        key = f"race-{rnd}"
        results = []
        lock = threading.Lock()
        barrier = threading.Barrier(writers)

        def attempt(i):
            body = f"writer {i}".encode()
            barrier.wait()
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
                r = ("ok", i)
            except ClientError as e:
                r = (error_code(e), i)
            with lock:
                results.append(r)

        with concurrent.futures.ThreadPoolExecutor(writers) as pool:
            list(pool.map(attempt, range(writers)))
        winners = [i for code, i in results if code == "ok"]
        assert len(winners) == 1, f"round {rnd}: {sorted(results)}"
        assert {code for code, _ in results if code != "ok"} == {"PreconditionFailed"}, results
        assert get_bytes(client, bucket, key) == f"writer {winners[0]}".encode()


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="ov", Body=b"data", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket, Key="ov",
        ResponseContentType="application/json",
        ResponseContentDisposition='inline; filename="x.json"',
        ResponseCacheControl="no-store",
        ResponseContentLanguage="fr",
        ResponseContentEncoding="identity",
        ResponseExpires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == 'inline; filename="x.json"'
    assert got["CacheControl"] == "no-store"
    assert got["ContentLanguage"] == "fr"
    assert got["ContentEncoding"] == "identity"
    assert got["ExpiresString"] == "Wed, 02 Jan 2030 03:04:05 GMT"
    assert got["Body"].read() == b"data"
    # Stored metadata is unchanged.
    assert s3.head_object(Bucket=bucket, Key="ov")["ContentType"] == "text/plain"


def test_get_with_bogus_version_id_is_refused(s3, bucket):
    """Versioning is not implemented: a VersionId must not silently return the current object."""
    s3.put_object(Bucket=bucket, Key="v", Body=b"current")
    exc = client_error(s3.get_object, Bucket=bucket, Key="v", VersionId="3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY")
    assert 400 <= http_status(exc) < 600 and http_status(exc) != 500, exc.response
