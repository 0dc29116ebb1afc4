"""S3 bucket API behaviour through boto3."""

from __future__ import annotations

import datetime
import time

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_code, http_status, make_client, unique_bucket, xml_error_code


def bucket_names(client):
    return [b["Name"] for b in client.list_buckets()["Buckets"]]


def test_bucket_lifecycle(s3):
    name = unique_bucket("life")
    before = datetime.datetime.now(datetime.timezone.utc)
    resp = s3.create_bucket(Bucket=name)
    assert http_status_ok(resp)
    assert resp.get("Location") in (f"/{name}", None, ""), resp.get("Location")

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200

    listing = s3.list_buckets()
    entries = [b for b in listing["Buckets"] if b["Name"] == name]
    assert len(entries) == 1
    created = entries[0]["CreationDate"]
    assert abs((created - before).total_seconds()) < 120, created
    assert listing["Owner"].get("ID")

    loc = s3.get_bucket_location(Bucket=name)
    assert loc.get("LocationConstraint") is None, "us-east-1 buckets report an empty LocationConstraint"

    resp = s3.delete_bucket(Bucket=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name not in bucket_names(s3)
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert http_status(ei.value) == 404


def http_status_ok(resp):
    return resp["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_create_bucket_twice_is_already_owned(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=bucket)
    assert error_code(ei.value) == "BucketAlreadyOwnedByYou"
    assert http_status(ei.value) == 409
    assert bucket_names(s3).count(bucket) == 1


def test_create_bucket_unknown_location_constraint(s3):
    """A region the gateway does not serve is rejected with a 4xx, never a 500."""
    name = unique_bucket("loc")
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name,
                         CreateBucketConfiguration={"LocationConstraint": "ap-south-99"})
    assert 400 <= http_status(ei.value) < 500
    assert name not in bucket_names(s3)


def test_delete_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=unique_bucket("missing"))
    assert error_code(ei.value) == "NoSuchBucket"
    assert http_status(ei.value) == 404


def test_head_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=unique_bucket("missing"))
    assert http_status(ei.value) == 404


def test_get_location_missing_bucket(s3):
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_location(Bucket=unique_bucket("missing"))
    assert error_code(ei.value) == "NoSuchBucket"


@pytest.mark.parametrize("name", [
    "UpperCaseBucket",
    "ab",
    "a" * 64,
    "-leading-dash",
    "bad..dots",
    "192.168.5.4",
    "under_score",
])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert error_code(ei.value) == "InvalidBucketName", ei.value.response
    assert http_status(ei.value) == 400


def test_list_buckets_sorted_and_complete(s3):
    names = sorted(unique_bucket("sort") for _ in range(3))
    try:
        for n in reversed(names):
            s3.create_bucket(Bucket=n)
        listed = bucket_names(s3)
        assert [n for n in listed if n in names] == names
        assert listed == sorted(listed), "ListBuckets returns buckets in name order"
    finally:
        for n in names:
            try:
                s3.delete_bucket(Bucket=n)
            except ClientError:
                pass


def test_bucket_name_reusable_after_delete(s3):
    name = unique_bucket("reuse")
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert name in bucket_names(s3)
    s3.delete_bucket(Bucket=name)


def test_sigv2_s3_client(server, admin_creds):
    s3v2 = make_client(server, "s3", admin_creds, signature_version="s3")
    name = unique_bucket("v2")
    s3v2.create_bucket(Bucket=name)
    try:
        assert name in bucket_names(s3v2)
        assert s3v2.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert s3v2.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    finally:
        s3v2.delete_bucket(Bucket=name)
    assert name not in bucket_names(s3v2)


def test_presigned_sigv4_urls(s3, bucket):
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=300)
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert f"<Name>{bucket}</Name>".encode() in r.content

    url = s3.generate_presigned_url("head_bucket", Params={"Bucket": bucket}, ExpiresIn=300)
    assert requests.head(url, timeout=30).status_code == 200

    url = s3.generate_presigned_url("get_bucket_location", Params={"Bucket": bucket}, ExpiresIn=300)
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert b"LocationConstraint" in r.content


def test_presigned_sigv4_tampered_signature(s3, bucket):
    url = s3.generate_presigned_url("head_bucket", Params={"Bucket": bucket}, ExpiresIn=300)
    assert requests.head(url, timeout=30).status_code == 200
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    bad = url[:sig_at] + ("0" if url[sig_at] != "0" else "1") + url[sig_at + 1:]
    assert requests.head(bad, timeout=30).status_code == 403
    # Re-using the signature for another (non-existent) bucket must fail auth
    # before the bucket lookup.
    other = url.replace(bucket, unique_bucket("other"), 1)
    assert requests.head(other, timeout=30).status_code == 403


def test_presigned_sigv4_expired(s3):
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=1)
    time.sleep(2.2)
    r = requests.get(url, timeout=30)
    assert r.status_code == 403, r.text
    assert xml_error_code(r.content) == "AccessDenied", r.text


def test_presigned_sigv2_url(server, admin_creds, bucket):
    s3v2 = make_client(server, "s3", admin_creds, signature_version="s3")
    url = s3v2.generate_presigned_url("list_buckets", ExpiresIn=300)
    assert "Signature=" in url and "AWSAccessKeyId=" in url, url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert f"<Name>{bucket}</Name>".encode() in r.content
    bad = url.replace("Signature=", "Signature=AAAA", 1)
    r = requests.get(bad, timeout=30)
    assert r.status_code == 403, r.text
    assert xml_error_code(r.content) == "SignatureDoesNotMatch", r.text


def test_error_body_shape(server, s3):
    name = unique_bucket("shape")
    url = s3.generate_presigned_url("delete_bucket", Params={"Bucket": name}, ExpiresIn=300)
    r = requests.delete(url, timeout=30)
    assert r.status_code == 404, r.text
    assert r.headers.get("Content-Type", "").startswith(("application/xml", "text/xml")), r.headers
    assert xml_error_code(r.content) == "NoSuchBucket"
    assert b"<Message>" in r.content


def test_list_buckets_prefix_and_max_buckets(s3):
    prefix = unique_bucket("pg")[:30]
    names = [f"{prefix}-{i}" for i in range(3)]
    try:
        for n in names:
            s3.create_bucket(Bucket=n)
        got = s3.list_buckets(Prefix=prefix)
        assert [b["Name"] for b in got["Buckets"]] == names
        assert got.get("Prefix") == prefix
        page = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
        assert [b["Name"] for b in page["Buckets"]] == names[:2]
        assert page.get("ContinuationToken"), "more buckets remain: a ContinuationToken is due"
        rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=page["ContinuationToken"])
        assert [b["Name"] for b in rest["Buckets"]] == names[2:]
        assert not rest.get("ContinuationToken")
    finally:
        for n in names:
            try:
                s3.delete_bucket(Bucket=n)
            except ClientError:
                pass


def test_concurrent_create_same_bucket(s3, s3_b):
    import concurrent.futures

    name = unique_bucket("race")

    def attempt(i):
        try:
            (s3 if i % 2 else s3_b).create_bucket(Bucket=name)
            return ("a" if i % 2 else "b", "ok")
        except ClientError as e:
            return ("a" if i % 2 else "b", error_code(e))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    winners = [who for who, r in results if r == "ok"]
    try:
        assert len(winners) == 1, results
        owner = winners[0]
        for who, r in results:
            if r != "ok":
                expected = "BucketAlreadyOwnedByYou" if who == owner else "BucketAlreadyExists"
                assert r == expected, results
    finally:
        for c in (s3, s3_b):
            try:
                c.delete_bucket(Bucket=name)
            except ClientError:
                pass


def test_unimplemented_operations_are_not_500(s3, bucket):
    for call, kw in [(s3.get_bucket_policy, {"Bucket": bucket}),
                     (s3.get_object_retention, {"Bucket": bucket, "Key": "k"})]:
        with pytest.raises(ClientError) as ei:
            call(**kw)
        assert http_status(ei.value) != 500, ei.value.response
        assert error_code(ei.value) in {"NotImplemented", "MethodNotAllowed"}, ei.value.response


@pytest.mark.parametrize("name", ["abc", "a.b.c", "a" * 63, "with-dash.and.dots", "0numeric1"])
def test_valid_bucket_name_edges(s3, name):
    # Names are global: make them unique while keeping the edge being tested.
    import uuid

    if len(name) == 63:
        name = uuid.uuid4().hex + "a" * 31
    elif len(name) == 3:
        name = uuid.uuid4().hex[:3]
    else:
        name = f"{name}-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    try:
        assert name in bucket_names(s3)
    finally:
        s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("name", ["xn--punycode", "bucket-s3alias", "sthree-bucket"])
def test_reserved_bucket_names(s3, name):
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert error_code(ei.value) == "InvalidBucketName"


def test_bucket_tagging_shows_only_the_users_tags(s3):
    name = unique_bucket("tags")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"Tags": [{"Key": "team", "Value": "blue"}]})
    try:
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags == {"team": "blue"}
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "cost-centre", "Value": "42"}]})
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags == {"cost-centre": "42"}
        for reserved in ["aws:skyport:placement", "skyport:placement"]:
            with pytest.raises(ClientError) as e:
                s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": reserved, "Value": "x"}]})
            assert error_code(e.value) == "InvalidTag"
        s3.delete_bucket_tagging(Bucket=name)
        # No user tags: NoSuchTagSet, as on S3 (tools then see nothing to converge).
        with pytest.raises(ClientError) as e:
            s3.get_bucket_tagging(Bucket=name)
        assert error_code(e.value) == "NoSuchTagSet"
    finally:
        s3.delete_bucket(Bucket=name)
