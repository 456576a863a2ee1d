"""SSH key material of the lab: the user's key pair and one host key per lab host."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def _openssh_pair() -> tuple[bytes, bytes]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    return private, public


def ensure_key_pair(path: Path, comment: str) -> bytes:
    """Create an ed25519 key pair at path (+ .pub) once; return the public key line."""
    pub = path.with_name(path.name + ".pub")
    if not path.exists() or not pub.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private, public = _openssh_pair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        pub.write_bytes(public + b" " + comment.encode() + b"\n")
    return pub.read_bytes().strip()


def host_key_line(names: list[str], public_key: bytes) -> str:
    """A known_hosts line for the key (type + base64), valid for every name/address given."""
    kind, b64 = public_key.split()[:2]
    return f"{','.join(names)} {kind.decode()} {b64.decode()}"


def write_known_hosts(path: Path, lines: list[str]) -> None:
    """Replace the known_hosts file with exactly these lines (the lab owns this file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
