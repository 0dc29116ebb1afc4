"""S3 object API behaviour through boto3 (default configuration), raw signed requests
and presigned URLs: data path, metadata, checksums, conditionals, copy, listing,
multipart, managed transfers, presigning, durability and tenant isolation."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import hashlib
import os
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote_plus

import boto3.s3.transfer
import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (
    REGION,
    Creds,
    error_code,
    http_status,
    make_client,
    read_profile_credentials,
    remove_bucket,
    unique_bucket,
    xml_error_code,
)
from helpers import (
    file_sha256,
    md5_b64,
    multipart_etag,
    s3_checksum,
    sha256_hex,
    write_random_file,
)

MiB = 1024 * 1024
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def client_error(fn, *args, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as ei:
        fn(*args, **kwargs)
    return ei.value


def assert_error(exc: ClientError, code: str, status: int):
    assert (error_code(exc), http_status(exc)) == (code, status), exc.response


def assert_missing(s3, bucket, key):
    exc = client_error(s3.head_object, Bucket=bucket, Key=key)
    assert http_status(exc) == 404, exc.response
    assert_error(client_error(s3.get_object, Bucket=bucket, Key=key), "NoSuchKey", 404)


def get_bytes(s3, bucket, key, **kw) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def object_path(bucket: str, key: str) -> str:
    return f"/{bucket}/" + quote(key, safe="/~")


def raw_s3(server, creds: Creds, method: str, path: str, *, body: bytes = b"",
           headers: dict | None = None, params: dict | None = None,
           streaming_trailer: bool = False) -> requests.Response:
    """Send a SigV4-signed S3 request built by hand (path must already be URL-encoded).

    With ``streaming_trailer`` the payload hash is STREAMING-UNSIGNED-PAYLOAD-TRAILER
    (the body must then be aws-chunked encoded by the caller).
    """
    req = AWSRequest(method=method, url=server.url + path, params=params or {}, data=body,
                     headers=dict(headers or {}))
    if streaming_trailer:
        req.context["checksum"] = {"request_algorithm": {"in": "trailer"}}
    botocore.auth.S3SigV4Auth(Credentials(creds.access_key, creds.secret_key), "s3",
                              REGION).add_auth(req)
    prepared = req.prepare()
    return requests.request(method, prepared.url, data=body, headers=dict(prepared.headers),
                            timeout=60, allow_redirects=False)


def aws_chunked(data: bytes, trailer_name: str, trailer_value: str, chunk: int = 8192) -> bytes:
    """aws-chunked body with unsigned chunks and one trailing checksum header."""
    out = bytearray()
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    out += b"0\r\n" + f"{trailer_name}:{trailer_value}\r\n".encode() + b"\r\n"
    return bytes(out)


def list_all_v2(s3, bucket, **kw):
    keys, prefixes, pages = [], [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw):
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return keys, prefixes, pages


def byte_sorted(keys):
    return sorted(keys, key=lambda k: k.encode("utf-8"))


# --------------------------------------------------------------------------
# basic data path
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Content-MD5 and flexible checksums
# --------------------------------------------------------------------------


def test_content_md5_good_and_bad(s3, bucket):
    s3.put_object(Bucket=bucket, Key="md5", Body=b"correct", ContentMD5=md5_b64(b"correct"))
    assert get_bytes(s3, bucket, "md5") == b"correct"

    # Mismatch on a new key: BadDigest and nothing is created.
    exc = client_error(s3.put_object, Bucket=bucket, Key="md5-new", Body=b"payload",
                       ContentMD5=md5_b64(b"other"))
    assert_error(exc, "BadDigest", 400)
    assert_missing(s3, bucket, "md5-new")

    # Mismatch on an existing key: the old object survives untouched.
    exc = client_error(s3.put_object, Bucket=bucket, Key="md5", Body=b"replacement",
                       ContentMD5=md5_b64(b"something else"))
    assert_error(exc, "BadDigest", 400)
    assert get_bytes(s3, bucket, "md5") == b"correct"
    assert s3.head_object(Bucket=bucket, Key="md5")["ETag"] == md5_etag(b"correct")


def test_content_md5_malformed(s3, bucket):
    exc = client_error(s3.put_object, Bucket=bucket, Key="md5-bad", Body=b"payload",
                       ContentMD5="not-base64!!")
    assert_error(exc, "InvalidDigest", 400)
    assert_missing(s3, bucket, "md5-bad")


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32", "SHA1"])
def test_flexible_checksum_computed_by_boto3(s3, bucket, algorithm):
    data = os.urandom(100_000)
    key = f"ck-{algorithm}"
    put = s3.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm=algorithm)
    expected = s3_checksum(algorithm, data)
    assert put.get(f"Checksum{algorithm}") == expected, put
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert got.get(f"Checksum{algorithm}") == expected
    assert got["Body"].read() == data  # botocore also validates the checksum while reading
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head.get(f"Checksum{algorithm}") == expected


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME"])
def test_flexible_checksum_supplied_by_client(s3, bucket, algorithm):
    # Without awscrt botocore cannot compute these; send the value ourselves.
    data = os.urandom(50_000)
    expected = s3_checksum(algorithm, data)
    put = s3.put_object(Bucket=bucket, Key="ck", Body=data, ChecksumAlgorithm=algorithm,
                        **{f"Checksum{algorithm}": expected})
    assert put.get(f"Checksum{algorithm}") == expected, put
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["ResponseMetadata"]["HTTPHeaders"].get(
        f"x-amz-checksum-{algorithm.lower()}") == expected
    assert got["Body"].read() == data


def test_default_checksum_is_crc32(s3, bucket):
    """boto3 >= 1.36 sends x-amz-checksum-crc32 on every PutObject by default."""
    data = b"default checksum " * 999
    put = s3.put_object(Bucket=bucket, Key="dflt", Body=data)
    assert put.get("ChecksumCRC32") == s3_checksum("crc32", data), put
    got = s3.get_object(Bucket=bucket, Key="dflt", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC32") == s3_checksum("crc32", data)


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256", "CRC32C"])
def test_wrong_checksum_header_is_bad_digest(s3, bucket, algorithm):
    data = b"the real payload"
    wrong = s3_checksum(algorithm, b"some other payload")
    s3.put_object(Bucket=bucket, Key="victim", Body=b"original")
    for key in ("fresh", "victim"):
        exc = client_error(s3.put_object, Bucket=bucket, Key=key, Body=data,
                           **{f"Checksum{algorithm}": wrong})
        assert_error(exc, "BadDigest", 400)
    assert_missing(s3, bucket, "fresh")
    assert get_bytes(s3, bucket, "victim") == b"original"


def test_wrong_checksum_raw_signed_request(server, admin_creds, s3, bucket):
    data = b"raw body"
    r = raw_s3(server, admin_creds, "PUT", object_path(bucket, "raw-bad"), body=data,
               headers={"x-amz-checksum-crc32": s3_checksum("crc32", b"not it")})
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) == "BadDigest", r.text
    assert_missing(s3, bucket, "raw-bad")

    r = raw_s3(server, admin_creds, "PUT", object_path(bucket, "raw-good"), body=data,
               headers={"x-amz-checksum-crc32": s3_checksum("crc32", data)})
    assert r.status_code == 200, r.text
    assert r.headers.get("x-amz-checksum-crc32") == s3_checksum("crc32", data)
    assert get_bytes(s3, bucket, "raw-good") == data


@pytest.mark.parametrize("algorithm", [None, "SHA256", "SHA1", "CRC32"])
def test_trailing_checksum_aws_chunked(s3, s3_trailer, bucket, algorithm):
    """boto3's default upload shape over TLS: aws-chunked body, checksum in a trailer."""
    data = os.urandom(200_000)
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    algorithm = algorithm or "CRC32"
    sent = {}
    s3_trailer.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **kw: sent.update(dict(request.headers)))
    put = s3_trailer.put_object(Bucket=bucket, Key="trailer", Body=data, **extra)
    assert sent.get("X-Amz-Content-SHA256") == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER", sent
    assert put["ETag"] == md5_etag(data)
    assert put.get(f"Checksum{algorithm}") == s3_checksum(algorithm, data), put
    got = s3.get_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got.get(f"Checksum{algorithm}") == s3_checksum(algorithm, data)
    # The transfer encoding is not a property of the stored object.
    assert "aws-chunked" not in (got.get("ContentEncoding") or "")


def test_trailing_checksum_mismatch(server, admin_creds, s3, bucket):
    data = os.urandom(20_000)
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
    }
    path = object_path(bucket, "chunked")
    bad = aws_chunked(data, "x-amz-checksum-crc32", s3_checksum("crc32", data + b"!"))
    r = raw_s3(server, admin_creds, "PUT", path, body=bad, headers=headers, streaming_trailer=True)
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) == "BadDigest", r.text
    assert_missing(s3, bucket, "chunked")

    good = aws_chunked(data, "x-amz-checksum-crc32", s3_checksum("crc32", data))
    r = raw_s3(server, admin_creds, "PUT", path, body=good, headers=headers, streaming_trailer=True)
    assert r.status_code == 200, r.text
    assert r.headers.get("ETag") == md5_etag(data)
    assert get_bytes(s3, bucket, "chunked") == data


# --------------------------------------------------------------------------
# ranges and conditionals
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# copy
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# delete_objects
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# listing
# --------------------------------------------------------------------------


def put_many(client, bucket, keys, threads=8):
    """Create keys concurrently. Transient 5xx are retried here (and counted) so that
    the listing tests test listing; concurrency itself is tested separately."""
    retried = []

    def put(key):
        for attempt in range(30):
            try:
                client.put_object(Bucket=bucket, Key=key, Body=key.encode())
                return
            except ClientError as e:
                if http_status(e) < 500:
                    raise
                retried.append((key, error_code(e)))
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError(f"PutObject {key!r} kept failing: {retried[-3:]}")

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, keys))
    return retried


LISTING_KEYS = (
    [f"data/{i % 7}/obj-{i:05d}" for i in range(2480)]
    + ["top-a", "top-b", "data/readme", "zz/ü", "zz/z", "zz/\ufb01", "zz/😀", "zz/a b",
       "zz/a+b", "zz/a%b", "zz/A", "zz/_", "zz/-", "zz/.", "zz/~", "zz/é", "zz/e",
       "zz/e/", "zz/e/f", "zz/ctl\x01key"]
)


@pytest.fixture(scope="module")
def listing_bucket(server, admin_creds, s3):
    assert len(LISTING_KEYS) == 2500 and len(set(LISTING_KEYS)) == 2500
    name = unique_bucket("list")
    s3.create_bucket(Bucket=name)
    client = make_client(server, "s3", admin_creds, max_pool_connections=16)
    t0 = time.monotonic()
    put_many(client, name, LISTING_KEYS)
    assert time.monotonic() - t0 < 120
    # No teardown: emptying 2500 keys costs more than the whole listing suite, and the
    # session server (with its data dir and database) is discarded at the end anyway.
    return name


def test_list_v2_paginates_everything_once_in_byte_order(s3, listing_bucket):
    for page_size in (1000, 317):
        keys, prefixes, pages = list_all_v2(s3, listing_bucket,
                                            PaginationConfig={"PageSize": page_size})
        assert not prefixes
        assert len(keys) == 2500 and set(keys) == set(LISTING_KEYS)
        assert keys == byte_sorted(LISTING_KEYS)
        assert pages == -(-2500 // page_size)


def test_list_v2_default_page_is_1000(s3, listing_bucket):
    page = s3.list_objects_v2(Bucket=listing_bucket)
    assert page["KeyCount"] == 1000 and len(page["Contents"]) == 1000
    assert page["MaxKeys"] == 1000
    assert page["IsTruncated"] is True and page["NextContinuationToken"]
    nxt = s3.list_objects_v2(Bucket=listing_bucket, ContinuationToken=page["NextContinuationToken"])
    assert nxt["Contents"][0]["Key"].encode() > page["Contents"][-1]["Key"].encode()


def test_list_v1_marker_pagination(s3, listing_bucket):
    keys = []
    markers = 0
    marker = ""
    while True:
        page = s3.list_objects(Bucket=listing_bucket, Marker=marker, MaxKeys=700)
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = page.get("NextMarker") or page["Contents"][-1]["Key"]
        markers += 1
    assert keys == byte_sorted(LISTING_KEYS)
    assert markers == 3


def test_list_v1_delimiter_next_marker(s3, listing_bucket):
    page = s3.list_objects(Bucket=listing_bucket, Delimiter="/", MaxKeys=2)
    assert [p["Prefix"] for p in page.get("CommonPrefixes", [])] + \
        [o["Key"] for o in page.get("Contents", [])] == ["data/", "top-a"]
    assert page["IsTruncated"] is True
    assert page["NextMarker"] == "top-a"
    page = s3.list_objects(Bucket=listing_bucket, Delimiter="/", Marker=page["NextMarker"])
    assert [o["Key"] for o in page["Contents"]] == ["top-b"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["zz/"]
    assert page["IsTruncated"] is False


def test_list_prefix_and_delimiter_on_big_bucket(s3, listing_bucket):
    keys, prefixes, _ = list_all_v2(s3, listing_bucket, Prefix="data/", Delimiter="/")
    assert keys == ["data/readme"]
    assert prefixes == [f"data/{i}/" for i in range(7)]
    keys, prefixes, pages = list_all_v2(s3, listing_bucket, Prefix="data/3/",
                                        PaginationConfig={"PageSize": 100})
    want = byte_sorted(k for k in LISTING_KEYS if k.startswith("data/3/"))
    assert len(want) == 354
    assert keys == want and pages == 4


def test_list_start_after(s3, listing_bucket):
    everything = byte_sorted(LISTING_KEYS)
    start = everything[1234]
    keys, _, _ = list_all_v2(s3, listing_bucket, StartAfter=start)
    assert keys == everything[1235:]
    # StartAfter need not be an existing key.
    keys, _, _ = list_all_v2(s3, listing_bucket, StartAfter="zz/e/")
    assert keys == [k for k in everything if k.encode() > b"zz/e/"]


def test_list_encoding_type_url_raw(s3, listing_bucket):
    url = s3.generate_presigned_url("list_objects_v2", Params={
        "Bucket": listing_bucket, "Prefix": "zz/", "EncodingType": "url", "StartAfter": "zz/-"},
        ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.findtext(f"{S3_NS}EncodingType") == "url"
    raw_keys = [c.findtext(f"{S3_NS}Key") for c in root.findall(f"{S3_NS}Contents")]
    decoded = [unquote_plus(k) for k in raw_keys]
    assert decoded == [k for k in byte_sorted(LISTING_KEYS) if k.startswith("zz/") and k > "zz/-"]
    for raw in raw_keys:
        assert all(0x21 <= ord(ch) < 0x7f for ch in raw), f"not URL-encoded: {raw!r}"
        assert "+" not in unquote_plus(raw) or "%2B" in raw, raw
    assert unquote_plus(root.findtext(f"{S3_NS}StartAfter")) == "zz/-"


def test_list_encoding_type_url_boto3(s3, listing_bucket):
    """boto3 asks for EncodingType=url by default and decodes keys and prefixes."""
    keys, prefixes, _ = list_all_v2(s3, listing_bucket, Prefix="zz/", Delimiter="/")
    assert keys == [k for k in byte_sorted(LISTING_KEYS)
                    if k.startswith("zz/") and not k.startswith("zz/e/")]
    assert prefixes == ["zz/e/"]
    v1 = s3.list_objects(Bucket=listing_bucket, Prefix="zz/a")
    assert [o["Key"] for o in v1["Contents"]] == ["zz/a b", "zz/a%b", "zz/a+b"]


def test_list_delimiter_semantics(s3, bucket):
    for k in ["a", "b/1", "b/2", "c/d/e", "c/x", "dd", "e|f|g", "e|h"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    keys, prefixes, _ = list_all_v2(s3, bucket, Delimiter="/")
    assert keys == ["a", "dd", "e|f|g", "e|h"] and prefixes == ["b/", "c/"]
    keys, prefixes, _ = list_all_v2(s3, bucket, Prefix="c/", Delimiter="/")
    assert keys == ["c/x"] and prefixes == ["c/d/"]
    keys, prefixes, _ = list_all_v2(s3, bucket, Delimiter="|")
    assert prefixes == ["e|"] and "e|h" not in keys
    keys, prefixes, _ = list_all_v2(s3, bucket, Prefix="b", Delimiter="/")
    assert keys == [] and prefixes == ["b/"]
    keys, prefixes, _ = list_all_v2(s3, bucket, Prefix="nothing/")
    assert keys == [] and prefixes == []

    # MaxKeys counts keys and common prefixes together; walk it one entry at a time.
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=1, **kw)
        pages += 1
        entries = [o["Key"] for o in page.get("Contents", [])] + \
            [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert len(entries) == 1 and page["KeyCount"] == 1, page
        seen += entries
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
        assert pages < 20
    assert seen == ["a", "b/", "c/", "dd", "e|f|g", "e|h"]

    # FetchOwner
    page = s3.list_objects_v2(Bucket=bucket, FetchOwner=True, MaxKeys=1)
    assert page["Contents"][0]["Owner"]["ID"]
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    assert "Owner" not in page["Contents"][0]
    v1 = s3.list_objects(Bucket=bucket, MaxKeys=1)
    assert v1["Contents"][0]["Owner"]["ID"], "ListObjects v1 always includes the owner"


def test_list_max_keys_zero_and_invalid_token(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"")
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert page["KeyCount"] == 0 and not page.get("Contents")
    exc = client_error(s3.list_objects_v2, Bucket=bucket, ContinuationToken="not-a-token!!")
    assert_error(exc, "InvalidArgument", 400)


def test_concurrent_puts_do_not_fail(server, admin_creds, bucket):
    """Parallel writers (what every SDK transfer manager does) get no 5xx."""
    client = make_client(server, "s3", admin_creds, max_pool_connections=16)
    failures = []

    def put(i):
        try:
            client.put_object(Bucket=bucket, Key=f"c/{i:04d}", Body=os.urandom(1024))
        except ClientError as e:
            failures.append((i, http_status(e), error_code(e)))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(300)))
    assert not failures, f"{len(failures)} of 300 concurrent PutObject failed, e.g. {failures[:5]}"
    keys, _, _ = list_all_v2(client, bucket)
    assert len(keys) == 300


def test_concurrent_overwrites_are_atomic(server, admin_creds, bucket):
    client = make_client(server, "s3", admin_creds, max_pool_connections=16)
    bodies = [bytes([i]) * (256 * 1024 + i) for i in range(8)]

    def put(i):
        for _ in range(20):
            try:
                return client.put_object(Bucket=bucket, Key="hot", Body=bodies[i])
            except ClientError as e:
                if http_status(e) < 500:
                    raise
                time.sleep(0.05)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(8)))
    got = client.get_object(Bucket=bucket, Key="hot")
    body = got["Body"].read()
    assert body in bodies, "body is not one of the written versions (torn write)"
    assert got["ETag"] == md5_etag(body)
    assert got["ContentLength"] == len(body)


# --------------------------------------------------------------------------
# multipart (client API)
# --------------------------------------------------------------------------


def test_multipart_upload_full_cycle(s3, bucket):
    key = "mp/ü big file"
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    mpu = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/x-test",
                                     Metadata={"purpose": "e2e"})
    uid = mpu["UploadId"]
    assert uid and mpu["Key"] == key and mpu["Bucket"] == bucket

    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in ups] == [(key, uid)]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0, "in-progress uploads are not objects"

    etags = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=body)
        assert r["ETag"] == md5_etag(body)
        etags.append(r["ETag"])

    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed["Parts"]] == [
        (n, len(b), e) for n, (b, e) in enumerate(zip(parts, etags), 1)]
    page = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2] and page["IsTruncated"]
    page = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid,
                         PartNumberMarker=page["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in page["Parts"]] == [3, 4] and not page["IsTruncated"]

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    assert done["ETag"] == multipart_etag(parts)
    assert done["Key"] == key

    whole = b"".join(parts)
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(whole)
    assert head["ETag"] == multipart_etag(parts)
    assert head["ContentType"] == "video/x-test"
    assert head["Metadata"] == {"purpose": "e2e"}
    assert sha256_hex(get_bytes(s3, bucket, key)) == sha256_hex(whole)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert_error(client_error(s3.list_parts, Bucket=bucket, Key=key, UploadId=uid),
                 "NoSuchUpload", 404)

    # PartNumber reads return exactly one part.
    p2 = s3.get_object(Bucket=bucket, Key=key, PartNumber=2)
    assert p2["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert p2["PartsCount"] == 4
    assert p2["ContentRange"] == f"bytes {5 * MiB}-{10 * MiB - 1}/{len(whole)}"
    assert sha256_hex(p2["Body"].read()) == sha256_hex(parts[1])
    h4 = s3.head_object(Bucket=bucket, Key=key, PartNumber=4)
    assert h4["ContentLength"] == 1234 and h4["PartsCount"] == 4
    # Ranges across part boundaries.
    got = get_bytes(s3, bucket, key, Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert got == whole[5 * MiB - 10:5 * MiB + 10]


def test_multipart_subset_and_part_overwrite(s3, bucket):
    key = "mp-subset"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    p1_old, p1, p2, p3 = os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB), b"tail"
    s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1_old)
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)
    e3 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=p3)["ETag"]
    assert [p["ETag"] for p in s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]] == [
        md5_etag(p1), md5_etag(p2), md5_etag(p3)]
    # Completing with parts 1 and 3 only is allowed: part 2 is discarded.
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}]})
    assert done["ETag"] == multipart_etag([p1, p3])
    assert sha256_hex(get_bytes(s3, bucket, key)) == sha256_hex(p1 + p3)


def test_multipart_abort(s3, bucket):
    key = "mp-abort"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    assert s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=uid)[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_error(client_error(s3.list_parts, Bucket=bucket, Key=key, UploadId=uid), "NoSuchUpload", 404)
    assert_error(client_error(s3.upload_part, Bucket=bucket, Key=key, UploadId=uid, PartNumber=2,
                              Body=b"y"), "NoSuchUpload", 404)
    assert_error(client_error(s3.complete_multipart_upload, Bucket=bucket, Key=key, UploadId=uid,
                              MultipartUpload={"Parts": [{"PartNumber": 1,
                                                          "ETag": md5_etag(b"x" * 1000)}]}),
                 "NoSuchUpload", 404)
    assert_error(client_error(s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=uid),
                 "NoSuchUpload", 404)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert_missing(s3, bucket, key)
    # An upload id is bound to its key.
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    assert_error(client_error(s3.list_parts, Bucket=bucket, Key="other-key", UploadId=uid),
                 "NoSuchUpload", 404)
    assert_error(client_error(s3.list_parts, Bucket=bucket, Key=key, UploadId="bogus-upload-id"),
                 "NoSuchUpload", 404)


def test_multipart_entity_too_small(s3, bucket):
    key = "mp-small"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"a" * MiB)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"b" * 1024)["ETag"]
    exc = client_error(s3.complete_multipart_upload, Bucket=bucket, Key=key, UploadId=uid,
                       MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                  {"PartNumber": 2, "ETag": e2}]})
    assert_error(exc, "EntityTooSmall", 400)
    assert_missing(s3, bucket, key)
    # The upload is still there and a single small part is fine (it is the last one).
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}]})
    assert done["ETag"] == multipart_etag([b"b" * 1024])
    assert get_bytes(s3, bucket, key) == b"b" * 1024


def test_multipart_invalid_part_and_order(s3, bucket):
    key = "mp-order"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    p1, p2 = os.urandom(5 * MiB), b"last"
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=p2)["ETag"]

    def complete(parts):
        return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                            MultipartUpload={"Parts": parts})

    exc = client_error(complete, [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}])
    assert_error(exc, "InvalidPartOrder", 400)
    exc = client_error(complete, [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e1}])
    assert_error(exc, "InvalidPart", 400)
    exc = client_error(complete, [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}])
    assert_error(exc, "InvalidPart", 400)
    assert_missing(s3, bucket, key)
    done = complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}])
    assert done["ETag"] == multipart_etag([p1, p2])
    assert sha256_hex(get_bytes(s3, bucket, key)) == sha256_hex(p1 + p2)


def test_multipart_invalid_part_number(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="pn")["UploadId"]
    for n in (0, 10001):
        exc = client_error(s3.upload_part, Bucket=bucket, Key="pn", UploadId=uid, PartNumber=n,
                           Body=b"x")
        assert_error(exc, "InvalidArgument", 400)


def test_upload_part_copy_with_range(s3, bucket):
    src = os.urandom(10 * MiB + 500)
    s3.put_object(Bucket=bucket, Key="copy-src", Body=src)
    key = "mp-copy"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    r2 = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes={5 * MiB}-{len(src) - 1}")
    tail = b"tail bytes"
    r3 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=tail)
    assert r1["CopyPartResult"]["ETag"] == md5_etag(src[:5 * MiB])
    assert r2["CopyPartResult"]["ETag"] == md5_etag(src[5 * MiB:])
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]
    assert [p["Size"] for p in parts] == [5 * MiB, len(src) - 5 * MiB, len(tail)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
                  {"PartNumber": 3, "ETag": r3["ETag"]}]})
    assert done["ETag"] == multipart_etag([src[:5 * MiB], src[5 * MiB:], tail])
    assert sha256_hex(get_bytes(s3, bucket, key)) == sha256_hex(src + tail)


def test_upload_part_copy_bad_range(s3, bucket):
    s3.put_object(Bucket=bucket, Key="small-src", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="bad-range")["UploadId"]
    exc = client_error(s3.upload_part_copy, Bucket=bucket, Key="bad-range", UploadId=uid,
                       PartNumber=1, CopySource={"Bucket": bucket, "Key": "small-src"},
                       CopySourceRange="bytes=5-100")
    assert 400 <= http_status(exc) < 500, exc.response
    assert not s3.list_parts(Bucket=bucket, Key="bad-range", UploadId=uid).get("Parts")


def test_list_multipart_uploads_prefix_and_keys(s3, bucket):
    ids = {}
    for k in ("a/1", "a/2", "b/1", "a/1"):
        ids.setdefault(k, []).append(s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"])
    ups = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in ups) == sorted(
        (k, u) for k, us in ids.items() for u in us)
    assert [u["Key"] for u in ups] == sorted(u["Key"] for u in ups)
    ups = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")["Uploads"]
    assert sorted(u["Key"] for u in ups) == ["a/1", "a/1", "a/2"]
    res = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in res.get("CommonPrefixes", [])] == ["a/", "b/"]


# --------------------------------------------------------------------------
# managed transfer (s3transfer) with the default TransferConfig
# --------------------------------------------------------------------------


def test_managed_transfer_upload_download_file(s3, bucket, tmp_path):
    src = tmp_path / "upload.bin"
    size = 30 * MiB + 123
    digest = write_random_file(src, size)
    dst = tmp_path / "download.bin"
    try:
        config = boto3.s3.transfer.TransferConfig()  # defaults: 8 MiB threshold and parts
        s3.upload_file(str(src), bucket, "managed/30mib.bin", Config=config,
                       ExtraArgs={"Metadata": {"via": "upload_file"}})
        head = s3.head_object(Bucket=bucket, Key="managed/30mib.bin")
        assert head["ContentLength"] == size
        assert head["ETag"].endswith('-4"'), head["ETag"]
        assert head["Metadata"] == {"via": "upload_file"}
        s3.download_file(bucket, "managed/30mib.bin", str(dst), Config=config)
        assert dst.stat().st_size == size
        assert file_sha256(dst) == digest
    finally:
        for p in (src, dst):
            p.unlink(missing_ok=True)


def test_managed_transfer_small_and_fileobj(s3, bucket):
    import io

    data = os.urandom(12 * MiB)
    s3.upload_fileobj(io.BytesIO(data), bucket, "fileobj")
    out = io.BytesIO()
    s3.download_fileobj(bucket, "fileobj", out)
    assert sha256_hex(out.getvalue()) == sha256_hex(data)
    s3.upload_fileobj(io.BytesIO(b"tiny"), bucket, "tiny")
    assert s3.head_object(Bucket=bucket, Key="tiny")["ETag"] == md5_etag(b"tiny")


# --------------------------------------------------------------------------
# presigned URLs
# --------------------------------------------------------------------------


def test_presigned_get_and_put(s3, bucket):
    key = "presigned/ü file+x.bin"
    data = os.urandom(300_000)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key},
                                        ExpiresIn=300)
    r = requests.put(put_url, data=data, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers.get("ETag") == md5_etag(data)
    assert sha256_hex(get_bytes(s3, bucket, key)) == sha256_hex(data)

    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                        ExpiresIn=300)
    r = requests.get(get_url, timeout=60)
    assert r.status_code == 200, r.text
    assert sha256_hex(r.content) == sha256_hex(data)
    r = requests.get(get_url, headers={"Range": "bytes=0-99"}, timeout=60)
    assert r.status_code == 206 and r.content == data[:100]

    url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": key, "ResponseContentDisposition": "attachment; filename=x.bin",
        "ResponseContentType": "application/x-forced"})
    r = requests.get(url, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Disposition"] == "attachment; filename=x.bin"
    assert r.headers["Content-Type"] == "application/x-forced"

    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": key},
                                         ExpiresIn=300)
    r = requests.head(head_url, timeout=60)
    assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)


def test_presigned_put_with_signed_content_type(s3, bucket):
    url = s3.generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "typed", "ContentType": "image/png"})
    r = requests.put(url, data=b"png?", headers={"Content-Type": "image/png"}, timeout=60)
    assert r.status_code == 200, r.text
    assert s3.head_object(Bucket=bucket, Key="typed")["ContentType"] == "image/png"
    r = requests.put(url, data=b"other", headers={"Content-Type": "text/plain"}, timeout=60)
    assert r.status_code == 403, r.text
    assert get_bytes(s3, bucket, "typed") == b"png?"


def test_presigned_url_is_bound_to_key_and_method(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"1")
    s3.put_object(Bucket=bucket, Key="two", Body=b"2")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "one"},
                                    ExpiresIn=300)
    r = requests.get(url.replace("/one?", "/two?"), timeout=30)
    assert r.status_code == 403, r.text
    assert xml_error_code(r.content) == "SignatureDoesNotMatch"
    r = requests.put(url, data=b"overwrite", timeout=30)
    assert r.status_code == 403, r.text
    r = requests.delete(url, timeout=30)
    assert r.status_code == 403, r.text
    assert get_bytes(s3, bucket, "one") == b"1"


def test_presigned_expired(s3, bucket):
    s3.put_object(Bucket=bucket, Key="exp", Body=b"old")
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "exp"},
                                        ExpiresIn=1)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "exp"},
                                        ExpiresIn=1)
    time.sleep(2.2)
    r = requests.get(get_url, timeout=30)
    assert r.status_code == 403, r.text
    assert xml_error_code(r.content) == "AccessDenied", r.text
    r = requests.put(put_url, data=b"new", timeout=30)
    assert r.status_code == 403, r.text
    assert get_bytes(s3, bucket, "exp") == b"old"


def test_presigned_more_than_seven_days_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="week", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "week"},
                                    ExpiresIn=7 * 24 * 3600 + 1)
    r = requests.get(url, timeout=30)
    assert r.status_code in (400, 403), r.text
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "week"},
                                    ExpiresIn=7 * 24 * 3600)
    assert requests.get(url, timeout=30).status_code == 200


# --------------------------------------------------------------------------
# object tagging
# --------------------------------------------------------------------------


def tag_dict(s3, bucket, key, **kw) -> dict:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}


def test_object_tags_round_trip(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="team=e2e&env=test%20env&empty=")
    assert tag_dict(s3, bucket, "tagged") == {"team": "e2e", "env": "test env", "empty": ""}
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 3
    # Replaced whole, not merged; the body and its ETag stay.
    etag = s3.head_object(Bucket=bucket, Key="tagged")["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key="tagged",
                          Tagging={"TagSet": [{"Key": "owner", "Value": "ops"}]})
    assert tag_dict(s3, bucket, "tagged") == {"owner": "ops"}
    assert s3.head_object(Bucket=bucket, Key="tagged")["ETag"] == etag
    s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert tag_dict(s3, bucket, "tagged") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="tagged")
    # A new PUT without tags leaves none behind.
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"y", Tagging="a=1")
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"z")
    assert tag_dict(s3, bucket, "tagged") == {}
    assert_error(client_error(s3.get_object_tagging, Bucket=bucket, Key="missing"), "NoSuchKey", 404)
    assert_error(client_error(s3.put_object_tagging, Bucket=bucket, Key="missing",
                              Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}), "NoSuchKey", 404)


@pytest.mark.parametrize("tag_set", [
    [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
    [{"Key": "k" * 129, "Value": "v"}],
    [{"Key": "k", "Value": "v" * 257}],
    [{"Key": f"k{i}", "Value": "v"} for i in range(11)],
])
def test_invalid_object_tags_are_refused_and_change_nothing(s3, bucket, tag_set):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="keep=me")
    exc = client_error(s3.put_object_tagging, Bucket=bucket, Key="t", Tagging={"TagSet": tag_set})
    assert http_status(exc) == 400 and error_code(exc) in {"InvalidTag", "BadRequest"}, exc.response
    assert tag_dict(s3, bucket, "t") == {"keep": "me"}
    header = "&".join(f"{t['Key']}={t['Value']}" for t in tag_set)
    exc = client_error(s3.put_object, Bucket=bucket, Key="t2", Body=b"x", Tagging=header)
    assert http_status(exc) == 400, exc.response
    assert_missing(s3, bucket, "t2")


def test_copies_keep_or_replace_tags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="from=source")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert tag_dict(s3, bucket, "kept") == {"from": "source"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="from=copy")
    assert tag_dict(s3, bucket, "replaced") == {"from": "copy"}


def test_multipart_upload_tags_its_object(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="kind=multipart")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert tag_dict(s3, bucket, "mp") == {"kind": "multipart"}


def test_each_version_has_its_own_tags(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"1", Tagging="gen=1")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="v", Body=b"2", Tagging="gen=2")["VersionId"]
    assert tag_dict(s3, bucket, "v") == {"gen": "2"}
    assert tag_dict(s3, bucket, "v", VersionId=v1) == {"gen": "1"}
    out = s3.put_object_tagging(Bucket=bucket, Key="v", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "gen", "Value": "one"}]})
    assert out["VersionId"] == v1
    assert tag_dict(s3, bucket, "v", VersionId=v1) == {"gen": "one"}
    assert tag_dict(s3, bucket, "v", VersionId=v2) == {"gen": "2"}
    marker = s3.delete_object(Bucket=bucket, Key="v")["VersionId"]
    assert_error(client_error(s3.get_object_tagging, Bucket=bucket, Key="v", VersionId=marker),
                 "MethodNotAllowed", 405)
    assert_error(client_error(s3.get_object_tagging, Bucket=bucket, Key="v", VersionId="nope"),
                 "NoSuchVersion", 404)
    # Restoring v2 by deleting the marker brings its tags back with it.
    s3.delete_object(Bucket=bucket, Key="v", VersionId=marker)
    assert tag_dict(s3, bucket, "v") == {"gen": "2"}


# --------------------------------------------------------------------------
# durability across restarts
# --------------------------------------------------------------------------


def test_objects_and_uploads_survive_restart(server_factory, tmp_path):
    data_dir = tmp_path / "durable"
    first = server_factory(data_dir=data_dir)
    creds = Creds(*read_profile_credentials(data_dir))
    c = make_client(first, "s3", creds)
    name = unique_bucket("dur")
    c.create_bucket(Bucket=name)
    body = os.urandom(2 * MiB + 3)
    c.put_object(Bucket=name, Key="kept ü", Body=body, Metadata={"m": "v"})
    uid = c.create_multipart_upload(Bucket=name, Key="pending")["UploadId"]
    p1 = os.urandom(5 * MiB)
    e1 = c.upload_part(Bucket=name, Key="pending", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
    assert first.stop() == 0

    second = server_factory(data_dir=data_dir, database_url=first.database_url)
    c = make_client(second, "s3", creds)
    got = c.get_object(Bucket=name, Key="kept ü")
    assert sha256_hex(got["Body"].read()) == sha256_hex(body)
    assert got["Metadata"] == {"m": "v"} and got["ETag"] == md5_etag(body)
    assert [p["ETag"] for p in c.list_parts(Bucket=name, Key="pending", UploadId=uid)["Parts"]] == [e1]
    e2 = c.upload_part(Bucket=name, Key="pending", UploadId=uid, PartNumber=2, Body=b"end")["ETag"]
    c.complete_multipart_upload(Bucket=name, Key="pending", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert sha256_hex(get_bytes(c, name, "pending")) == sha256_hex(p1 + b"end")


# --------------------------------------------------------------------------
# tenant isolation
# --------------------------------------------------------------------------


def assert_denied(fn, **kw):
    exc = client_error(fn, **kw)
    assert http_status(exc) == 403, (fn.__name__, exc.response)
    # HEAD responses carry no body, hence no code.
    if fn.__name__ != "head_object":
        assert error_code(exc) == "AccessDenied", (fn.__name__, exc.response)


def test_tenant_b_cannot_touch_a_objects(s3, s3_b, bucket, bucket_b):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"tenant A data", Metadata={"o": "a"})
    s3_b.put_object(Bucket=bucket_b, Key="mine", Body=b"tenant B data")

    assert_denied(s3_b.get_object, Bucket=bucket, Key="secret")
    assert_denied(s3_b.head_object, Bucket=bucket, Key="secret")
    assert_denied(s3_b.get_object, Bucket=bucket, Key="secret", Range="bytes=0-3")
    assert_denied(s3_b.list_objects_v2, Bucket=bucket)
    assert_denied(s3_b.list_objects, Bucket=bucket)
    assert_denied(s3_b.put_object, Bucket=bucket, Key="secret", Body=b"overwritten by B")
    assert_denied(s3_b.put_object, Bucket=bucket, Key="planted", Body=b"planted by B")
    assert_denied(s3_b.delete_object, Bucket=bucket, Key="secret")
    try:
        res = s3_b.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "secret"}]})
        assert not res.get("Deleted") and res.get("Errors"), res
        assert {e["Code"] for e in res["Errors"]} == {"AccessDenied"}, res
    except ClientError as e:
        assert (error_code(e), http_status(e)) == ("AccessDenied", 403), e.response
    # Copy out of A's bucket into B's, and from B's into A's.
    assert_denied(s3_b.copy_object, Bucket=bucket_b, Key="stolen",
                  CopySource={"Bucket": bucket, "Key": "secret"})
    assert_denied(s3_b.copy_object, Bucket=bucket, Key="pushed",
                  CopySource={"Bucket": bucket_b, "Key": "mine"})
    # Presigned URLs made by B for A's object.
    url = s3_b.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret"},
                                      ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403 and b"tenant A data" not in r.content, r.text

    # A's data is intact and B gained nothing.
    assert get_bytes(s3, bucket, "secret") == b"tenant A data"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["secret"]
    assert [o["Key"] for o in s3_b.list_objects_v2(Bucket=bucket_b)["Contents"]] == ["mine"]


def test_tenant_b_cannot_read_a_multipart_uploads(s3, s3_b, bucket, bucket_b):
    key = "a-upload"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    p1 = os.urandom(5 * MiB)
    e1 = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1, Body=p1)["ETag"]

    assert_denied(s3_b.list_multipart_uploads, Bucket=bucket)
    assert_denied(s3_b.list_parts, Bucket=bucket, Key=key, UploadId=uid)
    assert_denied(s3_b.upload_part, Bucket=bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"b")
    assert_denied(s3_b.create_multipart_upload, Bucket=bucket, Key="b-upload")
    assert_denied(s3_b.complete_multipart_upload, Bucket=bucket, Key=key, UploadId=uid,
                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert_denied(s3_b.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=uid)
    # A's upload id means nothing in B's own bucket.
    for fn, kw in ((s3_b.list_parts, {}),
                   (s3_b.upload_part, {"PartNumber": 2, "Body": b"b"}),
                   (s3_b.complete_multipart_upload, {"MultipartUpload": {
                       "Parts": [{"PartNumber": 1, "ETag": e1}]}}),
                   (s3_b.abort_multipart_upload, {})):
        exc = client_error(fn, Bucket=bucket_b, Key=key, UploadId=uid, **kw)
        assert_error(exc, "NoSuchUpload", 404)
    assert not s3_b.list_multipart_uploads(Bucket=bucket_b).get("Uploads")
    # B cannot copy A's object into a part of its own upload.
    s3.put_object(Bucket=bucket, Key="src", Body=b"a" * 100)
    b_uid = s3_b.create_multipart_upload(Bucket=bucket_b, Key="b")["UploadId"]
    assert_denied(s3_b.upload_part_copy, Bucket=bucket_b, Key="b", UploadId=b_uid, PartNumber=1,
                  CopySource={"Bucket": bucket, "Key": "src"})

    # A's upload is unaffected and completes.
    parts = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in parts] == [(1, e1)]
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    assert sha256_hex(get_bytes(s3, bucket, key)) == sha256_hex(p1)


def test_anonymous_cannot_read_or_write(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="priv", Body=b"private")
    anon = make_client(server, "s3", None)
    assert_denied(anon.get_object, Bucket=bucket, Key="priv")
    assert_denied(anon.put_object, Bucket=bucket, Key="anon", Body=b"x")
    assert_denied(anon.list_objects_v2, Bucket=bucket)
    assert_missing(s3, bucket, "anon")


def _plain_reads(server) -> int:
    text = requests.get(server.url + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("skyport_s3_plain_reads_total "):
            return int(float(line.split()[1]))
    return 0


def test_plain_gets_take_the_short_path_and_answer_as_s3s(server, s3, bucket):
    """boto3's default GetObject/HeadObject (checksum mode on) and a presigned GET
    are answered by the short read path; the same reads with a matching IfMatch
    go through s3s; both answers carry the same fields and bytes."""
    body = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="short/ä b+c", Body=body, ContentType="text/x-test",
                  CacheControl="no-cache", Metadata={"origin": "e2e"}, Tagging="t=1")
    fields = ["ContentLength", "ContentType", "CacheControl", "ETag", "LastModified",
              "Metadata", "ChecksumCRC32", "TagCount", "AcceptRanges"]

    before = _plain_reads(server)
    short = s3.get_object(Bucket=bucket, Key="short/ä b+c")
    short_body = short["Body"].read()
    short_head = s3.head_object(Bucket=bucket, Key="short/ä b+c")
    assert _plain_reads(server) == before + 2
    full = s3.get_object(Bucket=bucket, Key="short/ä b+c", IfMatch=short["ETag"])
    full_head = s3.head_object(Bucket=bucket, Key="short/ä b+c", IfMatch=short["ETag"])
    assert _plain_reads(server) == before + 2, "IfMatch reads go through s3s"
    assert short_body == full["Body"].read() == body
    assert {f: short.get(f) for f in fields} == {f: full.get(f) for f in fields}
    assert short["ChecksumCRC32"] and short["TagCount"] == 1 and short["Metadata"] == {"origin": "e2e"}
    head_fields = [f for f in fields if f != "TagCount"]
    assert {f: short_head.get(f) for f in head_fields} == {f: full_head.get(f) for f in head_fields}

    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "short/ä b+c"},
                                    ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200 and r.content == body
    assert r.headers["ETag"] == short["ETag"] and r.headers["x-amz-meta-origin"] == "e2e"
    assert _plain_reads(server) == before + 3

    # Errors stay s3s's: a missing key is NoSuchKey, and nothing is counted.
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="short/none")
    assert error_code(missing.value) == "NoSuchKey"
    assert _plain_reads(server) == before + 3
