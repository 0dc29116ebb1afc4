"""Real third-party S3 clients against the gateway: rclone, restic, s3cmd
(SigV4 and SigV2) and an s3fs-fuse mount. Every test compares content, read
back through another client, not just exit codes. The tools come from
Debian's packages (scripts/lib/common.sh install_client_packages).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REGION, remove_bucket, unique_bucket


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/lib/common.sh install_client_packages)")
    return path


def base_env(home: Path) -> dict:
    # Nothing from the caller's AWS setup: rclone 1.60 fails when AWS_CA_BUNDLE is set.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def run(args, env, timeout=300, check=True, cwd=None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    if check and result.returncode != 0:
        pytest.fail(f"{args[0]} {' '.join(map(str, args[1:3]))} exited {result.returncode}:\n"
                    f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}")
    return result


def write_tree(root: Path) -> dict[str, bytes]:
    """A small tree with a nested directory, an empty file and binary data."""
    files = {
        "hello.txt": b"hello from skyport\n",
        "empty": b"",
        "nested/deeper/data.bin": os.urandom(300_000),
        "nested/name with spaces.txt": b"spaces survive\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def same_tree(left: Path, right: Path) -> None:
    def walk(root: Path):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    assert walk(left) == walk(right)
    for rel in walk(left):
        assert (left / rel).read_bytes() == (right / rel).read_bytes(), rel


@pytest.fixture
def client_bucket(s3):
    name = unique_bucket("cli")
    s3.create_bucket(Bucket=name)
    yield name
    remove_bucket(s3, name)


# --------------------------------------------------------------------------
# rclone
# --------------------------------------------------------------------------


def rclone_env(server, creds, home: Path) -> dict:
    env = base_env(home)
    env.update({
        "RCLONE_CONFIG": str(home / "rclone.conf"),
        "RCLONE_CONFIG_SKY_TYPE": "s3",
        "RCLONE_CONFIG_SKY_PROVIDER": "Other",
        "RCLONE_CONFIG_SKY_ACCESS_KEY_ID": creds.access_key,
        "RCLONE_CONFIG_SKY_SECRET_ACCESS_KEY": creds.secret_key,
        "RCLONE_CONFIG_SKY_ENDPOINT": server.url,
        "RCLONE_CONFIG_SKY_REGION": REGION,
        "RCLONE_CONFIG_SKY_FORCE_PATH_STYLE": "true",
    })
    return env


def test_rclone_sync_check_and_multipart(server, admin_creds, s3, client_bucket, tmp_path):
    rclone = tool("rclone")
    env = rclone_env(server, admin_creds, tmp_path)
    src = tmp_path / "src"
    files = write_tree(src)
    # Above the upload cutoff: rclone uploads it in 5 MiB parts.
    big = os.urandom(13 * 1024 * 1024)
    (src / "big.bin").write_bytes(big)
    remote = f"sky:{client_bucket}/sync"
    flags = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1"]
    run([rclone, "sync", str(src), remote, *flags], env)
    run([rclone, "check", str(src), remote], env)

    head = s3.head_object(Bucket=client_bucket, Key="sync/big.bin")
    assert head["ContentLength"] == len(big)
    assert head["ETag"].strip('"').endswith("-3"), "uploaded in three parts"
    got = s3.get_object(Bucket=client_bucket, Key="sync/big.bin")["Body"].read()
    assert got == big
    assert s3.get_object(Bucket=client_bucket, Key="sync/hello.txt")["Body"].read() == files["hello.txt"]

    # A change and a deletion, synced again, then everything copied back.
    (src / "hello.txt").write_bytes(b"changed\n")
    (src / "empty").unlink()
    run([rclone, "sync", str(src), remote, *flags], env)
    run([rclone, "check", str(src), remote], env)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=client_bucket)["Contents"]}
    assert "sync/empty" not in keys and "sync/hello.txt" in keys
    back = tmp_path / "back"
    run([rclone, "copy", remote, str(back)], env)
    same_tree(src, back)


# --------------------------------------------------------------------------
# restic
# --------------------------------------------------------------------------


def test_restic_backup_check_restore(server, admin_creds, client_bucket, tmp_path):
    restic = tool("restic")
    env = base_env(tmp_path)
    env.update({
        "RESTIC_REPOSITORY": f"s3:{server.url}/{client_bucket}/restic",
        "RESTIC_PASSWORD": "skyport-e2e",
        "AWS_ACCESS_KEY_ID": admin_creds.access_key,
        "AWS_SECRET_ACCESS_KEY": admin_creds.secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "RESTIC_CACHE_DIR": str(tmp_path / "cache"),
    })
    data = tmp_path / "data"
    write_tree(data)
    (data / "large.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    run([restic, "init"], env)
    run([restic, "backup", "."], env, cwd=data)
    run([restic, "check", "--read-data"], env)
    out = tmp_path / "restored"
    run([restic, "restore", "latest", "--target", str(out)], env)
    same_tree(data, out)


# --------------------------------------------------------------------------
# s3cmd
# --------------------------------------------------------------------------


def s3cmd_config(server, creds, path: Path, signature_v2: bool) -> Path:
    endpoint = f"127.0.0.1:{server.port}"
    path.write_text(
        "[default]\n"
        f"access_key = {creds.access_key}\n"
        f"secret_key = {creds.secret_key}\n"
        f"host_base = {endpoint}\n"
        f"host_bucket = {endpoint}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        "check_ssl_certificate = False\n"
    )
    return path


@pytest.mark.parametrize("signature_v2", [False, True], ids=["sigv4", "sigv2"])
def test_s3cmd_bucket_and_object_lifecycle(server, admin_creds, s3, tmp_path, signature_v2):
    s3cmd = tool("s3cmd")
    env = base_env(tmp_path)
    cfg = s3cmd_config(server, admin_creds, tmp_path / "s3cfg", signature_v2)
    base = [s3cmd, "-c", str(cfg), "--no-progress"]
    name = unique_bucket("s3cmd")
    local = tmp_path / "upload.bin"
    payload = os.urandom(200_000)
    local.write_bytes(payload)
    try:
        run([*base, "mb", f"s3://{name}"], env)
        run([*base, "put", str(local), f"s3://{name}/dir/object.bin"], env)
        assert s3.get_object(Bucket=name, Key="dir/object.bin")["Body"].read() == payload
        listing = run([*base, "ls", "--recursive", f"s3://{name}"], env).stdout
        assert f"s3://{name}/dir/object.bin" in listing
        buckets = run([*base, "ls"], env).stdout
        assert f"s3://{name}" in buckets
        fetched = tmp_path / "fetched.bin"
        run([*base, "get", f"s3://{name}/dir/object.bin", str(fetched)], env)
        assert fetched.read_bytes() == payload
        run([*base, "del", f"s3://{name}/dir/object.bin"], env)
        assert s3.list_objects_v2(Bucket=name).get("KeyCount") == 0
        run([*base, "rb", f"s3://{name}"], env)
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        remove_bucket(s3, name)


# --------------------------------------------------------------------------
# s3fs-fuse
# --------------------------------------------------------------------------


def wait_for(predicate, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_s3fs_mount_round_trip(server, admin_creds, s3, client_bucket, tmp_path):
    s3fs = tool("s3fs")
    if not Path("/dev/fuse").exists():
        pytest.skip("no /dev/fuse on this machine")
    env = base_env(tmp_path)
    passwd = tmp_path / "passwd-s3fs"
    passwd.write_text(f"{admin_creds.access_key}:{admin_creds.secret_key}\n")
    passwd.chmod(0o600)
    mount = tmp_path / "mnt"
    mount.mkdir()
    proc = subprocess.Popen(
        [s3fs, client_bucket, str(mount), "-f",
         "-o", f"url={server.url}", "-o", "use_path_request_style",
         "-o", f"passwd_file={passwd}", "-o", f"endpoint={REGION}",
         "-o", "stat_cache_expire=1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if not wait_for(lambda: os.path.ismount(mount) or proc.poll() is not None):
            pytest.fail("s3fs did not mount")
        if proc.poll() is not None:
            pytest.fail(f"s3fs exited {proc.returncode}: {proc.stdout.read()[-3000:]}")
        # Written through the mount, read through S3.
        payload = os.urandom(1_500_000)
        (mount / "from-fuse.bin").write_bytes(payload)
        assert wait_for(lambda: _object_or_none(s3, client_bucket, "from-fuse.bin") == payload)
        # Written through S3, read through the mount.
        s3.put_object(Bucket=client_bucket, Key="from-s3.txt", Body=b"via the S3 API\n")
        assert wait_for(lambda: (mount / "from-s3.txt").exists())
        assert (mount / "from-s3.txt").read_bytes() == b"via the S3 API\n"
        # A directory and a rename (copy + delete underneath).
        (mount / "dir").mkdir()
        (mount / "from-fuse.bin").rename(mount / "dir" / "moved.bin")
        assert (mount / "dir" / "moved.bin").read_bytes() == payload
        assert wait_for(lambda: _object_or_none(s3, client_bucket, "dir/moved.bin") == payload)
        assert _object_or_none(s3, client_bucket, "from-fuse.bin") is None
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        if proc.poll() is None:
            proc.kill()
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _object_or_none(s3, bucket: str, key: str):
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
