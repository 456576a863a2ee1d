"""Edge certificates through a real `paasops serve --local-engine` (SQLite, and RethinkDB under its marker) and
the real CLI: issue, add, list, rm; a plain user gets 403 on every route; bad input is a 4xx that stores nothing;
no answer, event or stored row ever holds a private key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from lab_support import ROOT, api_call, api_login, local_engine_up, local_service

from paasops import pki
from paasops.store import open_store

ADMIN_PW = "certs-admin-" + uuid.uuid4().hex
BOB_PW = "certs-bob-" + uuid.uuid4().hex
HOST, SHOP = "hello.example.test", "shop.example.test"


@pytest.fixture(params=["sqlite", pytest.param("rethinkdb", marks=pytest.mark.rethinkdb)])
def service(request, tmp_path):
    """(url, state URL, workdir) of a fresh service on each backend."""
    state = f"sqlite:///{tmp_path}/state.db" if request.param == "sqlite" else request.getfixturevalue(
        "empty_rethinkdb_state")
    with local_service(tmp_path, ADMIN_PW, local_engine_up(ADMIN_PW), timeout=60, state=state) as url:
        yield url, state, tmp_path


def cli(url: str, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAASOPS_")},
           "PAASOPS_SERVER": url, "PAASOPS_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "paasops", "certs", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)


def user_bundle(where: Path, hostname: str) -> tuple[str, str]:
    """A certificate for `hostname` from a CA of the user's own (not the cluster's), and its key."""
    cert, key = pki.issue_hostname_cert(pki.ensure_ca(where), hostname, days=30)
    return cert.decode(), key.decode()


def test_certs_admin_only_checked_and_never_showing_a_key(service):
    url, state, workdir = service
    admin = api_login(url, "admin", ADMIN_PW)
    assert api_call(url, admin, "POST", "/api/accounts",
                    json={"name": "bob", "password": BOB_PW, "role": "user"}).status_code == 201
    bob = api_login(url, "bob", BOB_PW)
    shop_cert, shop_key = user_bundle(workdir / "user-ca", SHOP)
    _, other_key = user_bundle(workdir / "other-ca", SHOP)
    answers: list[str] = []  # every answer's text, to look for a key in

    # a plain user: 403 on every route, and nothing happens
    for method, path, body in [("GET", "/api/certs", None), ("POST", "/api/certs/issue", {"hostname": HOST}),
                               ("POST", "/api/certs", {"hostname": SHOP, "cert": shop_cert, "key": shop_key}),
                               ("DELETE", f"/api/certs/{HOST}", None)]:
        answer = api_call(url, bob, method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        answers.append(answer.text)

    # issue through the CLI, then list through the API
    done = cli(url, admin, "issue", HOST, "--days", "30", "-o", "json")
    assert done.returncode == 0, done.stderr
    issued = json.loads(done.stdout)
    assert (issued["hostname"], issued["source"], issued["issuer"]) == (HOST, "cluster-ca", "CN=paasops cluster CA")
    listed = api_call(url, admin, "GET", "/api/certs")
    assert listed.status_code == 200 and [c["fingerprint"] for c in listed.json()] == [issued["fingerprint"]]
    answers += [done.stdout, listed.text]

    # bad input: a 4xx with a message naming the problem, and nothing stored
    bad = {
        "mismatched key": ({"hostname": SHOP, "cert": shop_cert, "key": other_key}, 400, "not the certificate's"),
        "wrong hostname": ({"hostname": "other.example.test", "cert": shop_cert, "key": shop_key}, 400,
                           "does not cover other.example.test"),
        "garbage": ({"hostname": SHOP, "cert": "garbage", "key": "garbage"}, 400, "no PEM certificate"),
        "an IP": ({"hostname": "10.0.0.1", "cert": shop_cert, "key": shop_key}, 400, "is an IP address"),
        "a cert not a string": ({"hostname": SHOP, "cert": 5, "key": shop_key}, 400, "cert"),
        "an unknown field": ({"hostname": SHOP, "cert": shop_cert, "key": shop_key, "chain": "x"}, 400, "chain"),
    }
    for case, (body, status, says) in bad.items():
        answer = api_call(url, admin, "POST", "/api/certs", json=body)
        assert answer.status_code == status and says in answer.json()["error"], (case, answer.text)
        answers.append(answer.text)
    for path, body, says in [("/api/certs/issue", {"hostname": "lab1"}, "fully qualified"),
                             ("/api/certs/issue", {"hostname": HOST, "days": 100000}, "days"),
                             ("/api/certs/issue", {"hostname": HOST, "days": "10"}, "days")]:
        answer = api_call(url, admin, "POST", path, json=body)
        assert answer.status_code == 400 and says in answer.json()["error"], answer.text
    assert [c["hostname"] for c in api_call(url, admin, "GET", "/api/certs").json()] == [HOST]

    # the CLI: a missing file is a clear error (exit 2), a good bundle is added
    done = cli(url, admin, "add", SHOP, "--cert", str(workdir / "nope.pem"), "--key", str(workdir / "nope.pem"))
    assert done.returncode == 2 and "--cert: cannot read" in done.stderr and "Traceback" not in done.stderr
    (workdir / "shop.pem").write_text(shop_cert)
    (workdir / "shop-key.pem").write_text(shop_key)
    done = cli(url, admin, "add", SHOP, "--cert", str(workdir / "shop.pem"), "--key", str(workdir / "shop-key.pem"))
    assert done.returncode == 0, done.stderr
    assert SHOP in done.stdout and "user" in done.stdout and "PRIVATE" not in done.stdout
    done = cli(url, admin, "list", "-o", "json")
    assert [(c["hostname"], c["source"]) for c in json.loads(done.stdout)] == [(HOST, "cluster-ca"), (SHOP, "user")]
    answers.append(done.stdout)

    # the store keeps the keys sealed only
    with open_store(state) as store:
        kept = store.list_certificates()
        assert [c.hostname for c in kept] == [HOST, SHOP]
        assert all(c.key_sealed.startswith("aesgcm1:") and "PRIVATE KEY" not in c.key_sealed for c in kept)
        assert "PRIVATE KEY" not in repr(kept)
    if state.startswith("sqlite"):
        assert b"PRIVATE KEY" not in (workdir / "state.db").read_bytes()

    # rm, then it is gone (and a second rm is a 404)
    gone = api_call(url, admin, "DELETE", f"/api/certs/{SHOP}")
    assert gone.status_code == 200 and gone.json() == {"removed": SHOP}
    assert api_call(url, admin, "DELETE", f"/api/certs/{SHOP}").status_code == 404
    done = cli(url, admin, "rm", HOST)
    assert done.returncode == 0 and f"removed the certificate for {HOST}" in done.stdout, done.stderr
    assert api_call(url, admin, "GET", "/api/certs").json() == []

    # events say what happened, with fingerprints, never a key
    events = api_call(url, admin, "GET", "/api/events", params={"limit": 200})
    kinds = [e["type"] for e in events.json() if e["type"].startswith("cert-")]
    assert sorted(kinds) == ["cert-added", "cert-issued", "cert-removed", "cert-removed"]
    issued_event = next(e for e in events.json() if e["type"] == "cert-issued")
    assert issued_event["data"]["fingerprint"] == issued["fingerprint"] and issued_event["user"] == "admin"
    answers.append(events.text)
    for text in answers:
        assert "PRIVATE KEY" not in text and shop_key.splitlines()[1] not in text
    log = (workdir / "serve.log").read_text()
    assert "PRIVATE KEY" not in log and shop_key.splitlines()[1] not in log
