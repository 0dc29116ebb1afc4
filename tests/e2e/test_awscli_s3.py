"""Object workflows with the stock `aws` CLI (v1): high-level `aws s3` transfer commands
(multipart by default above 8 MiB, 10 concurrent requests) and `aws s3api`."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import requests

from helpers import file_sha256, sha256_hex, write_random_file

MiB = 1024 * 1024


def tree_digests(root: Path) -> dict:
    """{relative posix path: sha256} of every regular file below root."""
    return {p.relative_to(root).as_posix(): file_sha256(p)
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_tree(root: Path) -> dict:
    files = {
        "top.txt": b"top level\n",
        "empty.dat": b"",
        "a/one.bin": os.urandom(10_000),
        "a/b/two words.txt": b"spaces in the name\n" * 100,
        "a/b/c/d/deep.json": json.dumps({"deep": True}).encode(),
        "ünïcödé/ðata+plus.bin": os.urandom(3000),
        "big/nine-mib.bin": os.urandom(9 * MiB),  # multipart inside sync
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()}


def keys_of(s3, bucket, prefix=""):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


def parse_ls(stdout: str):
    """`aws s3 ls` lines -> ([(key, size)], [prefix])."""
    objects, prefixes = [], []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^\s+PRE (.*)$", line)
        if m:
            prefixes.append(m.group(1))
            continue
        m = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(\d+) (.*)$", line)
        assert m, f"unexpected `aws s3 ls` line: {line!r}"
        objects.append((m.group(3), int(m.group(2))))
    return objects, prefixes


def test_cp_200mib_round_trip(aws, s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    dst = tmp_path / "big.down"
    size = 200 * MiB
    try:
        digest = write_random_file(src, size)
        aws("s3", "cp", "--no-progress", str(src), f"s3://{bucket}/large/big.bin", timeout=400)
        head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "large/big.bin",
                              "--output", "json").stdout)
        assert head["ContentLength"] == size
        # The CLI uses 8 MiB parts: 25 of them.
        assert re.fullmatch(r'"[0-9a-f]{32}-25"', head["ETag"]), head["ETag"]
        aws("s3", "cp", "--no-progress", f"s3://{bucket}/large/big.bin", str(dst), timeout=400)
        assert dst.stat().st_size == size
        assert file_sha256(dst) == digest
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)


def test_cp_small_file_with_metadata_and_head_object(aws, s3, bucket, tmp_path):
    src = tmp_path / "report.csv"
    data = b"a,b,c\n1,2,3\n"
    src.write_bytes(data)
    aws("s3", "cp", "--no-progress", str(src), f"s3://{bucket}/reports/2024 q1.csv", "--metadata",
        "owner=e2e,kind=report", "--content-type", "text/csv", "--cache-control", "max-age=60")
    head = json.loads(aws("s3api", "head-object", "--bucket", bucket, "--key", "reports/2024 q1.csv",
                          "--output", "json").stdout)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert head["ContentType"] == "text/csv"
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"] == {"owner": "e2e", "kind": "report"}
    assert s3.get_object(Bucket=bucket, Key="reports/2024 q1.csv")["Body"].read() == data

    cp = aws("s3api", "head-object", "--bucket", bucket, "--key", "reports/missing.csv", check=False)
    assert cp.returncode != 0
    assert "404" in cp.stderr or "Not Found" in cp.stderr, cp.stderr


def test_sync_tree_up_and_down(aws, s3, bucket, tmp_path):
    src = tmp_path / "src"
    expected = make_tree(src)
    up = aws("s3", "sync", "--no-progress", str(src), f"s3://{bucket}/tree", timeout=300)
    assert up.stdout.count("upload:") == len(expected), up.stdout

    remote = keys_of(s3, bucket, "tree/")
    assert sorted(remote) == sorted(f"tree/{rel}" for rel in expected)
    assert remote["tree/empty.dat"] == 0
    assert remote["tree/big/nine-mib.bin"] == 9 * MiB
    big = s3.head_object(Bucket=bucket, Key="tree/big/nine-mib.bin")
    assert big["ETag"].endswith('-2"'), big["ETag"]

    # Nothing changed: a second sync transfers nothing (relies on sizes and LastModified).
    again = aws("s3", "sync", "--no-progress", str(src), f"s3://{bucket}/tree")
    assert "upload:" not in again.stdout, again.stdout

    dst = tmp_path / "dst"
    down = aws("s3", "sync", "--no-progress", f"s3://{bucket}/tree", str(dst), timeout=300)
    assert down.stdout.count("download:") == len(expected), down.stdout
    assert tree_digests(dst) == expected
    again = aws("s3", "sync", "--no-progress", f"s3://{bucket}/tree", str(dst))
    assert "download:" not in again.stdout, again.stdout

    # Change one file, add one, remove one; sync --delete mirrors it.
    (src / "a/one.bin").write_bytes(b"changed and shorter")
    (src / "a/b/new file.txt").write_bytes(b"new")
    (src / "top.txt").unlink()
    out = aws("s3", "sync", "--no-progress", str(src), f"s3://{bucket}/tree", "--delete").stdout
    assert "upload: " in out and "delete: s3://" in out, out
    assert re.search(r"delete: s3://[^ ]+/tree/top\.txt", out), out
    remote = keys_of(s3, bucket, "tree/")
    assert "tree/top.txt" not in remote
    assert remote["tree/a/one.bin"] == len(b"changed and shorter")
    assert remote["tree/a/b/new file.txt"] == 3

    out = aws("s3", "sync", "--no-progress", f"s3://{bucket}/tree", str(dst), "--delete").stdout
    assert tree_digests(dst) == tree_digests(src), out


def test_ls_recursive_and_rm_recursive(aws, s3, bucket):
    objects = {
        "dir/a.txt": b"a",
        "dir/sub/b.txt": b"bb",
        "dir/sub/deeper/c with space.txt": b"ccc",
        "dir/ü.txt": b"dddd",
        "dirx/not-under-dir.txt": b"eeeee",
        "root.txt": b"ffffff",
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    listed, prefixes = parse_ls(aws("s3", "ls", f"s3://{bucket}/", "--recursive").stdout)
    assert not prefixes
    assert listed == sorted(((k, len(v)) for k, v in objects.items()),
                            key=lambda kv: kv[0].encode())

    listed, prefixes = parse_ls(aws("s3", "ls", f"s3://{bucket}/dir/").stdout)
    assert prefixes == ["sub/"]
    assert listed == [("a.txt", 1), ("ü.txt", 4)]

    summary = aws("s3", "ls", f"s3://{bucket}/", "--recursive", "--summarize").stdout
    assert re.search(r"Total Objects: 6\b", summary), summary
    assert re.search(r"Total Size: 21\b", summary), summary

    rm = aws("s3", "rm", f"s3://{bucket}/dir/", "--recursive")
    assert rm.stdout.count("delete:") == 4, rm.stdout
    assert sorted(keys_of(s3, bucket)) == ["dirx/not-under-dir.txt", "root.txt"]
    listed, _ = parse_ls(aws("s3", "ls", f"s3://{bucket}/dir/", check=False).stdout)
    assert listed == []


def test_presign_then_fetch(aws, s3, bucket):
    data = os.urandom(123_456)
    s3.put_object(Bucket=bucket, Key="shared/file name.bin", Body=data)
    url = aws("s3", "presign", f"s3://{bucket}/shared/file name.bin",
              "--expires-in", "300").stdout.strip()
    assert url.startswith("http://127.0.0.1:"), url
    r = requests.get(url, timeout=60)
    assert r.status_code == 200, r.text
    assert sha256_hex(r.content) == sha256_hex(data)
    # The URL is bound to its key.
    r = requests.get(url.replace("file%20name", "other%20name"), timeout=60)
    assert r.status_code == 403, r.text


def test_cp_stream_stdin_and_stdout(aws, s3, bucket):
    data = os.urandom(10 * MiB + 17)  # unknown size, above the multipart threshold
    aws("s3", "cp", "--no-progress", "-", f"s3://{bucket}/stream.bin", input=data, timeout=300)
    got = s3.get_object(Bucket=bucket, Key="stream.bin")["Body"].read()
    assert sha256_hex(got) == sha256_hex(data)
    out = aws("s3", "cp", "--no-progress", f"s3://{bucket}/stream.bin", "-", timeout=300)
    assert sha256_hex(out.stdout_bytes) == sha256_hex(data)


def test_server_side_cp_and_mv(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="orig", Body=b"original bytes", Metadata={"k": "v"})
    aws("s3", "cp", "--no-progress", f"s3://{bucket}/orig", f"s3://{bucket}/copy")
    aws("s3", "mv", "--no-progress", f"s3://{bucket}/copy", f"s3://{bucket}/moved/here")
    assert sorted(keys_of(s3, bucket)) == ["moved/here", "orig"]
    got = s3.get_object(Bucket=bucket, Key="moved/here")
    assert got["Body"].read() == b"original bytes"
    assert got["Metadata"] == {"k": "v"}


def test_s3api_put_get_object_range(aws, s3, bucket, tmp_path):
    body = tmp_path / "body.bin"
    data = bytes(range(256)) * 4
    body.write_bytes(data)
    put = json.loads(aws("s3api", "put-object", "--bucket", bucket, "--key", "api/obj",
                         "--body", str(body), "--output", "json").stdout)
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    out = tmp_path / "range.bin"
    meta = json.loads(aws("s3api", "get-object", "--bucket", bucket, "--key", "api/obj",
                          "--range", "bytes=100-199", str(out), "--output", "json").stdout)
    assert meta["ContentRange"] == "bytes 100-199/1024"
    assert out.read_bytes() == data[100:200]
    listing = json.loads(aws("s3api", "list-objects-v2", "--bucket", bucket,
                             "--output", "json").stdout)
    assert [(o["Key"], o["Size"]) for o in listing["Contents"]] == [("api/obj", 1024)]


def test_object_tagging_with_s3api(aws, s3, bucket, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("tagged")
    aws("s3api", "put-object", "--bucket", bucket, "--key", "f.txt", "--body", str(src),
        "--tagging", "project=skyport&stage=e2e")
    out = json.loads(aws("s3api", "get-object-tagging", "--bucket", bucket, "--key", "f.txt").stdout)
    assert {t["Key"]: t["Value"] for t in out["TagSet"]} == {"project": "skyport", "stage": "e2e"}
    aws("s3api", "put-object-tagging", "--bucket", bucket, "--key", "f.txt",
        "--tagging", json.dumps({"TagSet": [{"Key": "stage", "Value": "done"}]}))
    tags = s3.get_object_tagging(Bucket=bucket, Key="f.txt")["TagSet"]
    assert tags == [{"Key": "stage", "Value": "done"}]
    aws("s3api", "delete-object-tagging", "--bucket", bucket, "--key", "f.txt")
    assert s3.get_object_tagging(Bucket=bucket, Key="f.txt")["TagSet"] == []
