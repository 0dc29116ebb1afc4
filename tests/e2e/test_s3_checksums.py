"""S3 flexible checksums: computed by boto3, supplied by the client, the default
CRC32, wrong values (BadDigest), and trailing checksums in aws-chunked bodies."""

from __future__ import annotations

import os

import pytest

from conftest import xml_error_code
from helpers import md5_b64, s3_checksum
from s3_objects_common import (
    client_error,
    assert_error,
    assert_missing,
    get_bytes,
    md5_etag,
    object_path,
    raw_s3,
    aws_chunked,
)


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
