"""Authentication, request hardening and the unsigned endpoints."""

from __future__ import annotations

import datetime
import http.client
import re
import socket
import time

import pytest
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (
    REGION,
    Creds,
    error_code,
    http_status,
    make_client,
    signed_request,
    unique_bucket,
    xml_error_code,
)

# EC2's own words (S3 keeps SignatureDoesNotMatch / RequestTimeTooSkewed).
EC2_BAD_SIG = {"AuthFailure"}
EC2_SKEW = {"RequestExpired"}
DESCRIBE_REGIONS = "Action=DescribeRegions&Version=2016-11-15"


# --------------------------------------------------------------------------
# Unsigned endpoints
# --------------------------------------------------------------------------


def test_health(server):
    r = requests.get(server.url + "/health", timeout=10)
    assert r.status_code == 200


def test_metrics(server, ec2):
    ec2.describe_regions()
    r = requests.get(server.url + "/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("text/plain"), r.headers
    sample = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfaN]+( \d+)?$")
    lines = [ln for ln in r.text.splitlines() if ln and not ln.startswith("#")]
    assert lines, r.text[:500]
    bad = [ln for ln in lines if not sample.match(ln)]
    assert not bad, f"not Prometheus text exposition: {bad[:5]}"
    assert "# TYPE" in r.text


def test_metrics_do_not_leak_identifiers_or_grow_unbounded(server, admin_cli):
    """Label values must come from a fixed set: no request paths, tenant names or key ids
    (an unauthenticated client could otherwise grow /metrics without bound)."""
    import uuid

    marker = uuid.uuid4().hex
    requests.get(f"{server.url}/_skyport/admin/probe-{marker}", timeout=10)
    requests.post(server.url + "/", data=f"Action=Act{marker}&Version=2016-11-15", timeout=10,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    tenant = f"metrics-{marker[:12]}"
    admin_cli.create_tenant(tenant)
    key = admin_cli.create_key(tenant)
    admin_cli.run("key", "revoke", key.access_key)
    text = requests.get(server.url + "/metrics", timeout=10).text
    for needle in (marker, tenant, key.access_key):
        leaked = [ln for ln in text.splitlines() if needle in ln]
        assert not leaked, f"/metrics exposes {needle!r}: {leaked[:3]}"


# --------------------------------------------------------------------------
# Wrong secret / unknown key / anonymous
# --------------------------------------------------------------------------


def test_wrong_secret_ec2(server, admin_creds):
    bad = make_client(server, "ec2", Creds(admin_creds.access_key, admin_creds.secret_key + "x"))
    with pytest.raises(ClientError) as ei:
        bad.describe_regions()
    assert error_code(ei.value) in EC2_BAD_SIG
    assert http_status(ei.value) == 401


def test_wrong_secret_s3(server, admin_creds):
    bad = make_client(server, "s3", Creds(admin_creds.access_key, "WRONG" + admin_creds.secret_key))
    with pytest.raises(ClientError) as ei:
        bad.list_buckets()
    assert error_code(ei.value) == "SignatureDoesNotMatch"
    assert http_status(ei.value) == 403


def test_wrong_secret_s3_cannot_create(server, admin_creds, s3):
    bad = make_client(server, "s3", Creds(admin_creds.access_key, "WRONG" + admin_creds.secret_key))
    name = unique_bucket("nope")
    with pytest.raises(ClientError) as ei:
        bad.create_bucket(Bucket=name)
    assert error_code(ei.value) == "SignatureDoesNotMatch"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_unknown_access_key_ec2(server):
    bad = make_client(server, "ec2", Creds("AKIDOESNOTEXIST00000", "x" * 40))
    with pytest.raises(ClientError) as ei:
        bad.describe_key_pairs()
    assert error_code(ei.value) == "AuthFailure"
    assert http_status(ei.value) in (401, 403)


def test_unknown_access_key_s3(server):
    bad = make_client(server, "s3", Creds("AKIDOESNOTEXIST00000", "x" * 40))
    with pytest.raises(ClientError) as ei:
        bad.list_buckets()
    assert error_code(ei.value) == "InvalidAccessKeyId"
    assert http_status(ei.value) == 403


def test_anonymous_s3(server, s3):
    anon = make_client(server, "s3", None)
    with pytest.raises(ClientError) as ei:
        anon.list_buckets()
    assert error_code(ei.value) == "AccessDenied"
    assert http_status(ei.value) == 403
    name = unique_bucket("anon")
    with pytest.raises(ClientError) as ei:
        anon.create_bucket(Bucket=name)
    assert error_code(ei.value) == "AccessDenied"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_anonymous_ec2(server):
    anon = make_client(server, "ec2", None)
    with pytest.raises(ClientError) as ei:
        anon.describe_regions()
    assert error_code(ei.value) in {"AuthFailure", "MissingAuthenticationToken"}
    assert http_status(ei.value) in (400, 401, 403)


def test_sigv2_ec2_via_botocore(server, admin_creds):
    """botocore's SigV2 (query) signer is what boto 2 and many tools speak."""
    good = make_client(server, "ec2", admin_creds, signature_version="v2")
    assert good.describe_regions()["Regions"]
    bad = make_client(server, "ec2", Creds(admin_creds.access_key, admin_creds.secret_key + "x"),
                      signature_version="v2")
    with pytest.raises(ClientError) as ei:
        bad.describe_regions()
    assert error_code(ei.value) in EC2_BAD_SIG


# --------------------------------------------------------------------------
# Clock skew
# --------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [20, -20])
def test_skewed_clock_s3(server, admin_creds, minutes):
    r = signed_request(server, admin_creds, "GET", "/", service="s3",
                       skew=datetime.timedelta(minutes=minutes))
    assert r.status_code == 403, r.text
    assert xml_error_code(r.content) == "RequestTimeTooSkewed", r.text


@pytest.mark.parametrize("minutes", [20, -20])
def test_skewed_clock_ec2(server, admin_creds, minutes):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2", data=DESCRIBE_REGIONS,
                       skew=datetime.timedelta(minutes=minutes))
    assert r.status_code == 400, r.text
    assert xml_error_code(r.content) in EC2_SKEW, r.text


def test_small_skew_is_accepted(server, admin_creds):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2", data=DESCRIBE_REGIONS,
                       skew=datetime.timedelta(minutes=3))
    assert r.status_code == 200, r.text
    r = signed_request(server, admin_creds, "GET", "/", service="s3",
                       skew=datetime.timedelta(minutes=-3))
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------
# Tampering
# --------------------------------------------------------------------------


def test_raw_sigv4_baseline(server, admin_creds):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2", data=DESCRIBE_REGIONS)
    assert r.status_code == 200, r.text
    assert b"DescribeRegionsResponse" in r.content


def test_chunked_request_body_ec2(server, admin_creds):
    """A form body sent with Transfer-Encoding: chunked (no Content-Length) is fine."""
    body = DESCRIBE_REGIONS.encode()
    req = AWSRequest(method="POST", url=server.url + "/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(admin_creds.access_key, admin_creds.secret_key), "ec2", REGION).add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", "/", skip_accept_encoding=True)
        for k, v in req.prepare().headers.items():
            if k.lower() != "content-length":
                conn.putheader(k, v)
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, data
    assert b"DescribeRegionsResponse" in data


def test_tampered_body_ec2(server, admin_creds):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2", data=DESCRIBE_REGIONS,
                       send_data="Action=DescribeKeyPairs&Version=2016-11-15")
    assert r.status_code in (400, 401, 403), r.text
    assert xml_error_code(r.content) in EC2_BAD_SIG, r.text


def test_tampered_path_s3(server, admin_creds, s3):
    name = unique_bucket("tamper")
    s3.create_bucket(Bucket=name)
    try:
        r = signed_request(server, admin_creds, "HEAD", f"/{name}", service="s3")
        assert r.status_code == 200
        r = signed_request(server, admin_creds, "DELETE", f"/{unique_bucket('x')}", service="s3",
                           send_path=f"/{name}")
        assert r.status_code == 403, r.text
        assert xml_error_code(r.content) == "SignatureDoesNotMatch", r.text
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        s3.delete_bucket(Bucket=name)


def _presign_ec2_get(server, creds, params, expires=300):
    req = AWSRequest(method="GET", url=server.url + "/", params=params)
    SigV4QueryAuth(Credentials(creds.access_key, creds.secret_key), "ec2", REGION,
                   expires=expires).add_auth(req)
    return req.prepare().url


def test_presigned_ec2_query(server, admin_creds):
    url = _presign_ec2_get(server, admin_creds, {"Action": "DescribeRegions", "Version": "2016-11-15"})
    assert "X-Amz-Signature=" in url
    r = requests.get(url, timeout=30)
    assert r.status_code == 200, r.text
    assert b"DescribeRegionsResponse" in r.content
    bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=00", 1)
    r = requests.get(bad, timeout=30)
    assert r.status_code in (400, 401, 403), r.text
    assert xml_error_code(r.content) in EC2_BAD_SIG, r.text
    # Changing a signed parameter invalidates the signature.
    r = requests.get(url.replace("Action=DescribeRegions", "Action=DescribeKeyPairs"), timeout=30)
    assert xml_error_code(r.content) in EC2_BAD_SIG, r.text


def test_presigned_ec2_query_expired(server, admin_creds):
    url = _presign_ec2_get(server, admin_creds, {"Action": "DescribeRegions", "Version": "2016-11-15"},
                           expires=1)
    time.sleep(2.2)
    r = requests.get(url, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert r.status_code != 200
    assert xml_error_code(r.content) in {"RequestExpired", "AuthFailure", "RequestTimeTooSkewed"}, r.text


# --------------------------------------------------------------------------
# Malformed requests never produce 5xx
# --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b"%%%&&==&Action",
    b"Action=DescribeRegions&Version=2016-11-15&%zz=1",
    b"\xff\xfe\xfd=\x00\x01",
    b"Version=2016-11-15",
    b"Action=&Version=2016-11-15",
    b"Action=DescribeKeyPairs&Version=2016-11-15&KeyName.1=" + b"a" * 5000,
    b"Action=DescribeSecurityGroups&Version=2016-11-15&MaxResults=notanumber",
    b"Action=CreateSecurityGroup&Version=2016-11-15&GroupName=e2e-badbool&GroupDescription=y&DryRun=maybe",
], ids=["garbage", "bad-escape", "non-utf8", "no-action", "empty-action", "long-value",
        "non-numeric", "bad-bool"])
def test_malformed_form_body_signed(server, admin_creds, body):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2", data=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


@pytest.mark.parametrize("body", [
    b"Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=group-name"
    b"&Filter.1.Value.99999999999999999999=a",
    b"Action=DescribeSecurityGroups&Version=2016-11-15&Filter.0.Name=group-name&Filter.0.Value.0=a",
    b"Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-1&GroupId.1=sg-2",
    b"Action=DescribeRegions&Version=2016-11-15&Action=DescribeKeyPairs",
], ids=["huge-index", "zero-index", "repeated-member", "repeated-action"])
def test_odd_form_body_never_5xx(server, admin_creds, body):
    r = signed_request(server, admin_creds, "POST", "/", service="ec2", data=body)
    assert r.status_code < 500, (r.status_code, r.text)


def test_malformed_form_body_unsigned(server):
    r = requests.post(server.url + "/", data=b"%%%&&==&Action=\xff",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=30)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


@pytest.mark.parametrize("auth", [
    "AWS4-HMAC-SHA256 garbage",
    "AWS4-HMAC-SHA256 Credential=AKIA/20200101/us-east-1/ec2, SignedHeaders=host, Signature=zz",
    "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
    "AWS onlyonepart",
    "AWS :",
    "Bearer abc",
    "\u00e9\u00e9",
])
@pytest.mark.parametrize("target", ["ec2", "s3"])
def test_malformed_authorization_header(server, auth, target):
    hdrs = {"Authorization": auth.encode("latin-1"), "X-Amz-Date": "20200101T000000Z"}
    if target == "ec2":
        r = requests.post(server.url + "/", data=DESCRIBE_REGIONS,
                          headers={**hdrs, "Content-Type": "application/x-www-form-urlencoded"},
                          timeout=30)
    else:
        r = requests.get(server.url + "/", headers=hdrs, timeout=30)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


def _raw_http(server, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while True:
                c = sock.recv(65536)
                if not c:
                    break
                chunks.append(c)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
    return b"".join(chunks)


def _status_of(raw: bytes) -> int:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    assert m, f"no HTTP status line in {raw[:200]!r}"
    return int(m.group(1))


def test_huge_header(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("GET", "/")
        conn.putheader("X-Huge", "a" * (128 * 1024))
        conn.endheaders()
        status = conn.getresponse().status
    except (ConnectionResetError, BrokenPipeError) as e:
        pytest.fail(f"server dropped the connection instead of answering 4xx: {e!r}")
    finally:
        conn.close()
    assert 400 <= status < 500, status
    assert requests.get(server.url + "/health", timeout=10).status_code == 200


def test_many_headers(server):
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(500))
    raw = _raw_http(server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n")
    assert 400 <= _status_of(raw) < 500, raw[:300]
    assert requests.get(server.url + "/health", timeout=10).status_code == 200


def test_garbage_request_line(server):
    raw = _raw_http(server, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    if raw:
        assert 400 <= _status_of(raw) < 500, raw[:300]
    assert requests.get(server.url + "/health", timeout=10).status_code == 200



# --------------------------------------------------------------------------
# Raw Signature Version 2 (EC2 query and S3 header)
# --------------------------------------------------------------------------


def _ec2_v2(server, creds, method, params, *, alg="HmacSHA256", secret=None, when=None):
    import base64
    import hashlib
    import hmac
    import urllib.parse

    p = dict(params)
    p.update({"AWSAccessKeyId": creds.access_key, "SignatureVersion": "2", "SignatureMethod": alg})
    if "Expires" not in p:
        when = when or datetime.datetime.now(datetime.timezone.utc)
        p["Timestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    qs = "&".join(urllib.parse.quote(k, safe="-_~") + "=" + urllib.parse.quote(str(v), safe="-_~")
                  for k, v in sorted(p.items()))
    sts = f"{method}\n127.0.0.1:{server.port}\n/\n{qs}"
    digest = hashlib.sha256 if alg == "HmacSHA256" else hashlib.sha1
    sig = base64.b64encode(hmac.new((secret or creds.secret_key).encode(), sts.encode(), digest).digest())
    full = qs + "&Signature=" + urllib.parse.quote(sig.decode(), safe="-_~")
    if method == "GET":
        return requests.get(server.url + "/?" + full, timeout=30)
    return requests.post(server.url + "/", data=full, timeout=30,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("alg", ["HmacSHA256", "HmacSHA1"])
def test_sigv2_ec2_raw(server, admin_creds, method, alg):
    r = _ec2_v2(server, admin_creds, method, {"Action": "DescribeRegions", "Version": "2016-11-15"}, alg=alg)
    assert r.status_code == 200, r.text
    assert b"DescribeRegionsResponse" in r.content
    r = _ec2_v2(server, admin_creds, method, {"Action": "DescribeRegions", "Version": "2016-11-15"},
                alg=alg, secret="wrong")
    assert xml_error_code(r.content) in EC2_BAD_SIG, r.text


def test_sigv2_ec2_time_checks(server, admin_creds):
    params = {"Action": "DescribeRegions", "Version": "2016-11-15"}
    now = datetime.datetime.now(datetime.timezone.utc)
    r = _ec2_v2(server, admin_creds, "GET", params, when=now - datetime.timedelta(minutes=20))
    assert xml_error_code(r.content) in EC2_SKEW, r.text
    past = (now - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = _ec2_v2(server, admin_creds, "GET", dict(params, Expires=past))
    assert xml_error_code(r.content) in EC2_SKEW, r.text
    future = (now + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = _ec2_v2(server, admin_creds, "GET", dict(params, Expires=future))
    assert r.status_code == 200, r.text


def _s3_v2_header(server, creds, method, path, date):
    import base64
    import hashlib
    import hmac

    sts = f"{method}\n\n\n{date}\n{path}"
    sig = base64.b64encode(hmac.new(creds.secret_key.encode(), sts.encode(), hashlib.sha1).digest())
    return requests.request(method, server.url + path, timeout=30,
                            headers={"Date": date, "Authorization": f"AWS {creds.access_key}:{sig.decode()}"})


def test_sigv2_s3_header_auth_and_skew(server, admin_creds):
    import email.utils

    now = datetime.datetime.now(datetime.timezone.utc)
    r = _s3_v2_header(server, admin_creds, "GET", "/", email.utils.format_datetime(now, usegmt=True))
    assert r.status_code == 200, r.text
    old = email.utils.format_datetime(now - datetime.timedelta(minutes=20), usegmt=True)
    r = _s3_v2_header(server, admin_creds, "GET", "/", old)
    assert r.status_code == 403, "a SigV2 request dated 20 minutes ago must be refused (replay window)"
    assert xml_error_code(r.content) == "RequestTimeTooSkewed", r.text


def test_presigned_sigv4_expiry_limit(s3):
    """SigV4 presigned URLs may be valid for at most 7 days."""
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=8 * 24 * 3600)
    r = requests.get(url, timeout=30)
    assert r.status_code in (400, 403), r.text[:300]


def test_foreign_service_scope_is_4xx(server, admin_creds):
    """An EC2 call signed for another service is a client error, not a 5xx."""
    statuses = {}
    for service in ("iam", "sts", "ec3"):
        r = signed_request(server, admin_creds, "POST", "/", service=service, data=DESCRIBE_REGIONS)
        statuses[service] = (r.status_code, xml_error_code(r.content))
    assert all(400 <= st < 500 for st, _ in statuses.values()), statuses
