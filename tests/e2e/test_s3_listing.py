"""Listing objects: v1 and v2 pagination in byte order, prefixes, delimiters,
start-after, URL encoding, a big bucket; concurrent puts and overwrites."""

from __future__ import annotations

import concurrent.futures
import os
import time
import xml.etree.ElementTree as ET
from urllib.parse import unquote_plus

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import error_code, http_status, make_client, unique_bucket
from s3_objects_common import S3_NS, client_error, assert_error, md5_etag, list_all_v2, byte_sorted


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
