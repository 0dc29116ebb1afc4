"""Presigned URLs: GET and PUT, signed content types, bound to key and method,
expiry, and the seven-day limit."""

from __future__ import annotations

import os
import time

import requests

from conftest import xml_error_code
from helpers import sha256_hex
from s3_objects_common import get_bytes, md5_etag


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
