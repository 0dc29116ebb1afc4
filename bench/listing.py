#!/usr/bin/env python3
"""Listing cost in a bucket of a million keys versus a bucket of ten thousand.

Skyport's listings seek by key instead of scanning, so a page should cost about
the same in both buckets: this prints the time per page in each and their ratio
(measured in the same run; the machine is noisy, so compare ratios).

Usage: bench/listing.py [--keys 1000000]   (run through bench/run-listing.sh)
"""

import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config


def start(binary, data_dir):
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir, "--log", "warn,s3s=off"],
        stdout=subprocess.PIPE, text=True)
    keys = {}
    for line in proc.stdout:
        if m := re.match(r"admin access key id: (\S+)", line):
            keys["id"] = m.group(1)
        elif m := re.match(r"admin secret access key: (\S+)", line):
            keys["secret"] = m.group(1)
        elif m := re.match(r"skyport listening on (\S+)", line):
            return proc, m.group(1), keys
    raise SystemExit("skyport did not start")


def fill(db_path, bucket, count):
    """Inserts index rows directly: listing never opens blobs, so none are needed."""
    db = sqlite3.connect(db_path)
    now = int(time.time() * 1000)
    rows = ((bucket, f"dir{i % 1000:03d}/file{i:07d}", "", 1, "d41d8cd98f00b204e9800998ecf8427e", None, "{}", "{}",
             None, None, now, "private", None, i) for i in range(count))
    db.executemany(
        "INSERT INTO objects (bucket, object_key, blobs, size, etag, content_type, headers, user_metadata, checksum, "
        "parts_count, last_modified, acl, version_id, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


def timed(call, reps=7):
    samples = []
    for _ in range(reps):
        t = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--binary", default=os.environ.get("SKYPORT_BIN", "target/release/skyport"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, endpoint, keys = start(args.binary, tmp)
        try:
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=keys["id"], aws_secret_access_key=keys["secret"],
                              config=Config(s3={"addressing_style": "path"}))
            small, large, small_n = "ten-thousand", "million", 10_000
            for bucket in (small, large):
                s3.create_bucket(Bucket=bucket)
            t = time.perf_counter()
            fill(os.path.join(tmp, "skyport.db"), small, small_n)
            fill(os.path.join(tmp, "skyport.db"), large, args.keys)
            print(f"filled {args.keys} keys in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            # Every case returns the same number of entries from both buckets.
            cases = {
                "first page, 1000 keys": dict(MaxKeys=1000),
                "page of 1000 from the middle": dict(MaxKeys=1000, StartAfter="dir500/"),
                "last keys (StartAfter dir999/, 5 keys)": dict(MaxKeys=5, StartAfter="dir999/"),
                "prefix dir777/, 5 keys": dict(Prefix="dir777/", MaxKeys=5),
                "delimiter /, 100 common prefixes": dict(Delimiter="/", MaxKeys=100),
            }
            results = []
            for name, params in cases.items():
                counts = []
                for bucket in (small, large):
                    page = s3.list_objects_v2(Bucket=bucket, **params)
                    counts.append(len(page.get("Contents", [])) + len(page.get("CommonPrefixes", [])))
                assert counts[0] == counts[1], (name, counts)
                small_t = timed(lambda: s3.list_objects_v2(Bucket=small, **params))
                large_t = timed(lambda: s3.list_objects_v2(Bucket=large, **params))
                results.append((name, small_t, large_t))
            print(f"| listing | {small_n} keys (ms) | {args.keys} keys (ms) | ratio |")
            print("|---|---:|---:|---:|")
            for name, small_t, large_t in results:
                print(f"| {name} | {small_t * 1000:.1f} | {large_t * 1000:.1f} | {large_t / small_t:.2f} |")
            print(json.dumps({n: {"small_ms": a * 1000, "large_ms": b * 1000, "ratio": b / a} for n, a, b in results}),
                  file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
