"""Objects and uploads survive a restart; another tenant and anonymous callers
can neither read nor write them; plain GETs take the short path and answer as
s3s does."""

from __future__ import annotations

import os

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import (
    Creds,
    error_code,
    http_status,
    make_client,
    read_profile_credentials,
    unique_bucket,
)
from helpers import sha256_hex
from s3_objects_common import MiB, client_error, assert_error, assert_missing, get_bytes, md5_etag


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
