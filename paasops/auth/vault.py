"""App secrets and edge certificates' keys encrypted at rest: AES-256-GCM with a key kept 0600 beside the cluster CA."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import PaasopsError
from ..store.records import SEALED_PREFIX
from ..vocabulary import SECRETS_KEY_FILE

KEY_BYTES = 32
NONCE_BYTES = 12


class SecretVault:
    """Seals and opens the secrets of apps; the key file is created (0600) the first time one is sealed.

    A sealed value is bound to its app and name (the GCM associated data): moved to another app or name
    in the store, it no longer opens. The digest that enters the spec hash is keyed by the same key, so
    a container's spec hash tells nothing about a secret's value.
    """

    def __init__(self, pki_dir: Path | str):
        self.path = Path(pki_dir) / SECRETS_KEY_FILE
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def key(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
            return self._key

    def _load_or_create(self) -> bytes:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read()
        try:  # the first use: a new key, written before anyone can read a half of it (O_EXCL above)
            key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
            os.write(fd, base64.b64encode(key) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return key

    def _read(self) -> bytes:
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PaasopsError(f"the secrets key is readable by others (mode {mode:o}): chmod 600 it",
                               where=str(self.path))
        try:
            key = base64.b64decode(self.path.read_bytes().strip(), validate=True)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise PaasopsError("is not a paasops secrets key", where=str(self.path))
        return key

    @staticmethod
    def _bound(app: str, name: str) -> bytes:
        return f"paasops-secret\0{app}\0{name}".encode()

    def _seal(self, value: str, bound: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.key()).encrypt(nonce, value.encode(), bound)
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def _open(self, sealed: str, bound: bytes) -> str | None:
        """The value, or None when it was not sealed by this key with this binding."""
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX))
            return AESGCM(self.key()).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound).decode()
        except (InvalidTag, ValueError):
            return None

    def seal(self, app: str, name: str, value: str) -> str:
        return self._seal(value, self._bound(app, name))

    def open(self, app: str, name: str, sealed: str) -> str:
        """The value of a sealed secret; PaasopsError naming it when it was not sealed by this key for it."""
        value = self._open(sealed, self._bound(app, name))
        if value is None:
            raise PaasopsError(f"secret {name} of app {app} does not open with this service's key "
                               f"({self.path}): deploy the app again with its secrets", where=f"app {app}")
        return value

    @staticmethod
    def _bound_key(hostname: str) -> bytes:
        return f"paasops-edge-key\0{hostname}".encode()

    def seal_private_key(self, hostname: str, key_pem: str) -> str:
        """An edge certificate's private key sealed, bound to its hostname (apart from app secrets: a sealed
        key moved to an app's secret, or to another hostname, does not open)."""
        return self._seal(key_pem, self._bound_key(hostname))

    def open_private_key(self, hostname: str, sealed: str) -> str:
        """The private key of `hostname`'s certificate; PaasopsError naming it when this key did not seal it."""
        key_pem = self._open(sealed, self._bound_key(hostname))
        if key_pem is None:
            raise PaasopsError(f"the private key of the certificate for {hostname} does not open with this "
                               f"service's key ({self.path}): issue or add it again", where=f"certificate {hostname}")
        return key_pem

    def seal_all(self, app: str, secrets: Mapping[str, str]) -> dict[str, str]:
        return {name: self.seal(app, name, value) for name, value in secrets.items()}

    def open_all(self, app: str, sealed: Mapping[str, str]) -> dict[str, str]:
        return {name: self.open(app, name, value) for name, value in sealed.items()}

    def digest(self, app: str, secrets: Mapping[str, str]) -> str:
        """A keyed digest of an app's secrets (names and values): changes when any of them does."""
        if not secrets:
            return ""
        blob = json.dumps([app, sorted(secrets.items())], separators=(",", ":")).encode()
        return hmac.new(self.key(), b"paasops-secrets-digest\0" + blob, hashlib.sha256).hexdigest()
