"""App secrets sealed at rest (auth.vault): AES-GCM, a 0600 key beside the CA, bound to app and name."""

from __future__ import annotations

import os
import stat

import pytest

from paasops.auth.vault import SecretVault
from paasops.errors import PaasopsError
from paasops.store.records import SEALED_PREFIX
from paasops.vocabulary import SECRETS_KEY_FILE


def test_the_key_is_made_on_first_use_readable_by_the_owner_only(tmp_path):
    vault = SecretVault(tmp_path / "pki")
    assert not (tmp_path / "pki" / SECRETS_KEY_FILE).exists()
    vault.seal("web", "DB_PASSWORD", "hunter2-hunter2")
    key = tmp_path / "pki" / SECRETS_KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert SecretVault(tmp_path / "pki").key() == vault.key()  # read back, not made again


def test_sealed_values_open_and_never_contain_the_value(tmp_path):
    vault = SecretVault(tmp_path)
    sealed = vault.seal("web", "DB_PASSWORD", "hunter2-hunter2")
    assert sealed.startswith(SEALED_PREFIX) and "hunter2" not in sealed
    assert vault.seal("web", "DB_PASSWORD", "hunter2-hunter2") != sealed  # a fresh nonce each time
    assert vault.open("web", "DB_PASSWORD", sealed) == "hunter2-hunter2"
    assert vault.open_all("web", vault.seal_all("web", {"A": "1", "B": "ü"})) == {"A": "1", "B": "ü"}


@pytest.mark.parametrize("app, name", [("api", "DB_PASSWORD"), ("web", "OTHER")])
def test_a_sealed_value_moved_to_another_app_or_name_does_not_open(tmp_path, app, name):
    vault = SecretVault(tmp_path)
    sealed = vault.seal("web", "DB_PASSWORD", "hunter2-hunter2")
    with pytest.raises(PaasopsError, match="does not open"):
        vault.open(app, name, sealed)


def test_another_key_or_a_tampered_value_does_not_open(tmp_path):
    sealed = SecretVault(tmp_path / "a").seal("web", "K", "value-1")
    with pytest.raises(PaasopsError, match="does not open"):
        SecretVault(tmp_path / "b").open("web", "K", sealed)
    vault = SecretVault(tmp_path / "a")
    with pytest.raises(PaasopsError, match="does not open"):
        vault.open("web", "K", sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"))
    with pytest.raises(PaasopsError, match="does not open"):
        vault.open("web", "K", SEALED_PREFIX + "not base64!")


def test_the_digest_is_keyed_and_changes_with_any_value(tmp_path):
    vault = SecretVault(tmp_path)
    one = vault.digest("web", {"A": "1", "B": "2"})
    assert one == vault.digest("web", {"B": "2", "A": "1"})
    assert one != vault.digest("web", {"A": "1", "B": "3"}) != vault.digest("web", {"A": "1"})
    assert one != vault.digest("api", {"A": "1", "B": "2"})
    assert one != SecretVault(tmp_path / "other").digest("web", {"A": "1", "B": "2"})  # keyed: not guessable
    assert vault.digest("web", {}) == ""


def test_a_key_others_may_read_is_refused(tmp_path):
    vault = SecretVault(tmp_path)
    vault.key()
    os.chmod(tmp_path / SECRETS_KEY_FILE, 0o644)
    with pytest.raises(PaasopsError, match="readable by others"):
        SecretVault(tmp_path).key()
    os.chmod(tmp_path / SECRETS_KEY_FILE, 0o600)
    (tmp_path / SECRETS_KEY_FILE).write_text("short\n")
    with pytest.raises(PaasopsError, match="not a paasops secrets key"):
        SecretVault(tmp_path).key()
