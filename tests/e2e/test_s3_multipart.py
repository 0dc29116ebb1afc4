"""Multipart uploads through the client API (full cycle, part subsets and
overwrites, abort, size and order errors, UploadPartCopy, listing uploads),
and boto3's managed transfers with the default TransferConfig."""

from __future__ import annotations

import os

import boto3.s3.transfer

from conftest import http_status
from helpers import file_sha256, multipart_etag, sha256_hex, write_random_file
from s3_objects_common import MiB, client_error, assert_error, assert_missing, get_bytes, md5_etag


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
