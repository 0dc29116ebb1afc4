"""What the S3 object tests share: raw signed requests, aws-chunked bodies,
listing and error helpers."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import REGION, Creds, error_code, http_status

MiB = 1024 * 1024
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


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
