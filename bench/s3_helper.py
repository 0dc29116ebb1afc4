#!/usr/bin/env python3
"""Helper for bench/s3.sh: seeds an S3 endpoint with boto3, writes presigned
URL lists for wrk and curl, and prints the result table.

  s3_helper.py prepare --endpoint URL (--credentials-file F | --access-key A --secret-key S)
                       --bucket B --small-file F --get-count N --put-count N
                       --large-key K --out DIR
  s3_helper.py report RESULTS.tsv [--meta KEY=VALUE ...]

`prepare` creates the bucket, uploads the 4 KiB object under --get-count keys
(small/obj-NNNNN) and writes, into --out:
  get.txt, put.txt       one presigned path?query per line (small GET / PUT keys)
  large-get.url, large-put.url   full presigned URLs for the large object
Presigned URLs are SigV4 (query auth, UNSIGNED-PAYLOAD), path-style, us-east-1.

`report` reads lines "server<TAB>test<TAB>value<TAB>errors<TAB>requests<TAB>note"
(several lines per server and test: the median value is taken, errors summed) and prints a plain table with ratios,
then the same as markdown.
"""

import argparse
import configparser
import statistics
import sys
from pathlib import Path
from urllib.parse import urlsplit

REGION = "us-east-1"
EXPIRES = 6 * 3600


def client(endpoint, access_key, secret_key):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def read_credentials(path, profile="skyport"):
    parser = configparser.ConfigParser()
    if not parser.read(path):
        sys.exit(f"cannot read {path}")
    section = parser[profile]
    return section["aws_access_key_id"], section["aws_secret_access_key"]


def small_key(prefix, i):
    return f"{prefix}/obj-{i:05d}"


def path_and_query(url):
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def cmd_prepare(args):
    if args.credentials_file:
        access_key, secret_key = read_credentials(args.credentials_file)
    else:
        access_key, secret_key = args.access_key, args.secret_key
    s3 = client(args.endpoint, access_key, secret_key)
    try:
        s3.create_bucket(Bucket=args.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    body = Path(args.small_file).read_bytes()
    for i in range(args.get_count):
        s3.put_object(Bucket=args.bucket, Key=small_key("small", i), Body=body)

    def presign(method, key):
        op = "get_object" if method == "GET" else "put_object"
        return s3.generate_presigned_url(op, Params={"Bucket": args.bucket, "Key": key}, ExpiresIn=EXPIRES)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "get.txt", "w") as f:
        for i in range(args.get_count):
            f.write(path_and_query(presign("GET", small_key("small", i))) + "\n")
    with open(out / "put.txt", "w") as f:
        for i in range(args.put_count):
            f.write(path_and_query(presign("PUT", small_key("put", i))) + "\n")
    (out / "large-get.url").write_text(presign("GET", args.large_key) + "\n")
    (out / "large-put.url").write_text(presign("PUT", args.large_key) + "\n")


# --- report -----------------------------------------------------------------

SERVERS = [("skyport", "Skyport"), ("nginx", "nginx"), ("moto", "moto_server")]
# test id, label, unit, min Skyport/nginx, min Skyport/moto
TESTS = [
    ("get_small", "GET 4 KiB, c={conc}", "ops/s", 0.70, 20.0),
    ("put_small", "PUT 4 KiB, c={conc}", "ops/s", None, None),
    ("get_large", "GET {large}", "MiB/s", 0.80, 20.0),
    ("put_large", "PUT {large}", "MiB/s", None, None),
]


def fmt_value(v):
    if v is None:
        return "n/a"  # not run, or every run failed (see the notes)
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:,.1f}"
    return f"{v:,.2f}"


def fmt_ratio(r, target, as_times):
    if r is None:
        return "n/a"
    text = (f"{r:.1f}x" if r < 10 else f"{r:.0f}x") if as_times else f"{r * 100:.0f}%"
    if target is not None:
        goal = f"{target:.0f}x" if as_times else f"{target * 100:.0f}%"
        text += f" (target >= {goal}: {'ok' if r >= target else 'MISSED'})"
    return text


def cmd_report(args):
    values, notes, failed = {}, {}, {}
    for line in Path(args.results).read_text().splitlines():
        if not line.strip():
            continue
        server, test, value, errors, total, note = (line.split("\t") + [""] * 6)[:6]
        key = (server, test)
        values.setdefault(key, [])
        if value not in ("", "n/a"):
            values[key].append(float(value))
        if note:
            notes.setdefault(key, set()).add(note)
        e, t = failed.get(key, (0, 0))
        failed[key] = (e + int(errors or 0), t + int(total or 0))
    for key, (e, t) in failed.items():
        if e == 0:
            continue
        pct = 100 * e / t if t else 0
        share = f" ({pct:.2f}%)" if pct < 1 else f" ({pct:.1f}%)" if pct < 10 else f" ({pct:.0f}%)"
        if key[1].endswith("_large"):
            text = f"{e} of {t} transfers failed or were short; the median is of the others"
        else:
            text = f"{e:,} of {t:,} requests{share} failed (non-2xx answers or socket errors); ops/s counts only the successful ones"
        notes.setdefault(key, set()).add(text)
    meta = dict(m.split("=", 1) for m in args.meta)
    conc = meta.get("connections", "16")
    large = meta.get("large", "256 MiB")

    header = ["Test", "Unit"] + [name for _, name in SERVERS] + ["Skyport/nginx", "Skyport/moto"]
    rows, missed = [], []
    for test, label, unit, t_nginx, t_moto in TESTS:
        med = {}
        cells = [label.format(conc=conc, large=large), unit]
        for sid, _ in SERVERS:
            vals = values.get((sid, test), [])
            med[sid] = statistics.median(vals) if vals else None
            cell = fmt_value(med[sid]) if (sid, test) in values else "not run"
            if (sid, test) in notes:
                cell += " *"
            cells.append(cell)
        ratios = []
        for other, target, as_times in (("nginx", t_nginx, False), ("moto", t_moto, True)):
            r = med["skyport"] / med[other] if med["skyport"] is not None and med[other] else None
            ran = (other, test) in values  # absent: that server was not part of this run
            ratios.append(fmt_ratio(r, target, as_times) if ran else "not run")
            if target is not None and ran and (r is None or r < target):
                missed.append(f"{cells[0]} vs {dict(SERVERS)[other]}")
        rows.append(cells + ratios)

    names = dict(SERVERS)
    labels = {t[0]: t[1].format(conc=conc, large=large) for t in TESTS}
    footnotes = []
    for (server, test), ns in sorted(notes.items()):
        for n in sorted(ns):
            footnotes.append(f"{names.get(server, server)}, {labels.get(test, test)}: {n}")

    # Plain table.
    print(f"S3 loopback benchmark, {meta.get('date', '')}; Skyport binary: {meta.get('skyport_bin', '?')}")
    print()
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print()
    print("Medians of the runs; ratios are Skyport's median over the other server's, measured in this run.")
    if footnotes:
        print("* " + "\n* ".join(footnotes))
    print("Targets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    print()

    # Markdown.
    print("<!-- bench/s3.sh output: paste into docs/performance.md -->")
    print(f"### S3 loopback benchmark, {meta.get('date', '')}")
    print()
    for key, label in (("skyport_bin", "Skyport binary"), ("commit", "Commit"), ("machine", "Machine"),
                       ("method", "Method"), ("versions", "Versions")):
        if key in meta:
            print(f"- {label}: {meta[key]}")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for n in meta.get("notes", "").split(" ;; "):
        if n:
            print(f"- {n}")
    for f in footnotes:
        print(f"- \\* {f}")
    print(f"- Targets: {'all met' if not missed else 'missed: ' + '; '.join(missed)}.")
    return 1 if missed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--endpoint", required=True)
    pp.add_argument("--credentials-file")
    pp.add_argument("--access-key", default="bench")
    pp.add_argument("--secret-key", default="bench-secret")
    pp.add_argument("--bucket", required=True)
    pp.add_argument("--small-file", required=True)
    pp.add_argument("--get-count", type=int, default=256)
    pp.add_argument("--put-count", type=int, default=256)
    pp.add_argument("--large-key", required=True)
    pp.add_argument("--out", required=True)
    pr = sub.add_parser("report")
    pr.add_argument("results")
    pr.add_argument("--meta", action="append", default=[])
    args = p.parse_args()
    if args.cmd == "prepare":
        cmd_prepare(args)
        return 0
    return cmd_report(args)


if __name__ == "__main__":
    sys.exit(main())
