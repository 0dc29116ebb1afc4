"""Pure helpers shared by the e2e tests (no fixtures here)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def load_private_key(material: str):
    """Load AWS KeyMaterial: PEM (PKCS#1 / PKCS#8) or OpenSSH private key."""
    data = material.encode()
    if b"OPENSSH PRIVATE KEY" in data:
        return serialization.load_ssh_private_key(data, password=None)
    return serialization.load_pem_private_key(data, password=None)


def created_rsa_fingerprint(private_key) -> str:
    """AWS: SHA-1 of the DER PKCS#8 private key, colon-separated hex."""
    der = private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return colon_hex(hashlib.sha1(der).digest())


def imported_rsa_fingerprint(public_key) -> str:
    """AWS: MD5 of the DER SubjectPublicKeyInfo, colon-separated hex."""
    der = public_key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return colon_hex(hashlib.md5(der).digest())


def openssh_blob(public_key) -> bytes:
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def ed25519_fingerprint(public_key) -> str:
    """AWS: base64 (standard, padded) SHA-256 of the OpenSSH public key blob."""
    return base64.b64encode(hashlib.sha256(openssh_blob(public_key)).digest()).decode()


def new_rsa_key(bits: int = 2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ed25519_key():
    return ed25519.Ed25519PrivateKey.generate()


def openssh_public_line(private_key, comment: str = "e2e@test") -> bytes:
    line = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return line + b" " + comment.encode()


def normalize_permissions(perms) -> set:
    """Flatten boto3 IpPermissions into a set of comparable tuples."""
    out = set()
    for p in perms or []:
        proto = str(p.get("IpProtocol"))
        if proto == "-1":
            fp = tp = None
        else:
            fp, tp = p.get("FromPort"), p.get("ToPort")
        for r in p.get("IpRanges", []) or []:
            out.add((proto, fp, tp, "cidr", r.get("CidrIp"), r.get("Description")))
        for r in p.get("Ipv6Ranges", []) or []:
            out.add((proto, fp, tp, "cidr6", r.get("CidrIpv6"), r.get("Description")))
        for g in p.get("UserIdGroupPairs", []) or []:
            out.add((proto, fp, tp, "group", g.get("GroupId"), g.get("Description")))
        for pl in p.get("PrefixListIds", []) or []:
            out.add((proto, fp, tp, "prefix", pl.get("PrefixListId"), pl.get("Description")))
    return out


def tags_dict(tags) -> dict:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


# --------------------------------------------------------------------------
# S3 checksums (pure Python: no awscrt needed)
# --------------------------------------------------------------------------


def _reflected_table(poly: int, width: int) -> list:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & ((1 << width) - 1))
    return table


_CRC32C_TABLE = _reflected_table(0x82F63B78, 32)
_CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5, 64)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc64nvme(data: bytes) -> int:
    mask = 0xFFFFFFFFFFFFFFFF
    crc = mask
    t = _CRC64NVME_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def s3_checksum(algorithm: str, data: bytes) -> str:
    """The base64 value S3 uses in x-amz-checksum-<algorithm> for ``data``."""
    import zlib

    algorithm = algorithm.lower()
    if algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "crc32c":
        raw = crc32c(data).to_bytes(4, "big")
    elif algorithm == "crc64nvme":
        raw = crc64nvme(data).to_bytes(8, "big")
    elif algorithm == "sha1":
        raw = hashlib.sha1(data).digest()
    elif algorithm == "sha256":
        raw = hashlib.sha256(data).digest()
    else:
        raise ValueError(algorithm)
    return base64.b64encode(raw).decode()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random_file(path, size: int, chunk: int = 8 << 20) -> str:
    """Write ``size`` random bytes to ``path``; returns their sha256 hex."""
    import os

    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(chunk, left))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def multipart_etag(parts: list) -> str:
    """S3 ETag of a completed multipart upload, quoted: md5(md5(p1)..md5(pN))-N."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'
