"""The role ACL as tables: normalisation, segment boundaries, methods, traversal attempts, bad rules."""

from __future__ import annotations

import pytest

from paasops.auth import acl
from paasops.auth.acl import DEFAULT_ROLES, allows, normalise, parse_rule

USER = DEFAULT_ROLES["user"]
ADMIN = DEFAULT_ROLES["admin"]


@pytest.mark.parametrize("path, expected", [
    ("/api/containers", "/api/containers"),
    ("/api/containers/", "/api/containers"),                      # trailing slash
    ("//api///containers//abc", "/api/containers/abc"),           # collapse //
    ("/api/./containers/.", "/api/containers"),                   # '.' segments
    ("/api/containers/../accounts", "/api/accounts"),             # '..' resolved
    ("/api/containers/%2e%2e/accounts", "/api/accounts"),         # encoded '..'
    ("/api/containers/%2E%2E%2Faccounts", "/api/accounts"),       # encoded '../'
    ("/api/containers/%252e%252e/accounts", "/api/accounts"),     # double-encoded
    ("/../../api/events", "/api/events"),                         # '..' above the root stays at the root
    ("/", "/"),
])
def test_normalise(path, expected):
    assert normalise(path) == expected


@pytest.mark.parametrize("path", [
    "api/containers",                  # relative
    "/api/containers\x00/x",           # control character
    "/api/%2500containers",            # ... also when encoded
    "/api/%" + "25" * 4 + "2e",        # "." encoded five times: deeper than MAX_DECODE_ROUNDS
    "/api/%ff",                        # not UTF-8
])
def test_normalise_refuses(path):
    with pytest.raises(ValueError):
        normalise(path)


@pytest.mark.parametrize("method, path, allowed", [
    # what a user may do
    ("GET", "/api/containers", True),
    ("POST", "/api/containers", True),                       # deploy
    ("GET", "/api/containers/abc/logs", True),               # below a prefix
    ("POST", "/api/containers/abc/stop", True),
    ("DELETE", "/api/containers/abc", True),
    ("GET", "/api/containers/", True),                       # trailing slash
    ("GET", "/api//containers//abc", True),                  # doubled slashes
    ("GET", "/api/cluster/info", True),
    ("GET", "/api/events", True),
    ("GET", "/api/apps", True),
    ("POST", "/api/apps/hello/scale", True),
    ("GET", "/api/engines", True),                           # read engines
    ("HEAD", "/api/engines/lab1", True),                     # GET allows HEAD
    ("get", "/api/engines", True),                           # method case
    ("GET", "/api/account", True),                           # who am I
    ("POST", "/api/passwd", True),
    ("POST", "/api/logout", True),
    # ... and what not
    ("POST", "/api/engines", False),                         # engines are read-only
    ("DELETE", "/api/engines/lab1", False),
    ("POST", "/api/rebalance", True),                        # its own apps only (service.rebalance)
    ("POST", "/api/engines/lab1/drain", False),               # moving hosts' replicas is an admin's
    ("POST", "/api/engines/lab1/cordon", False),
    ("POST", "/api/engines/lab1/undrain", False),
    ("GET", "/api/accounts", False),
    ("POST", "/api/accounts", False),
    ("DELETE", "/api/accounts/admin", False),
    ("POST", "/api/accounts/admin/password", False),
    ("GET", "/api/logout", False),                           # only the methods named
    ("GET", "/api/containersX", False),                      # segment boundary
    ("GET", "/api/containers-admin", False),
    ("GET", "/api/cluster", False),                          # a parent is not allowed by its child
    ("GET", "/api/cluster/infox", False),
    ("GET", "/api/accountsX", False),
    ("GET", "/api/account/x", True),                         # below /api/account (no such route: 404)
    ("GET", "/", False),                                     # deny by default
    ("GET", "/api", False),
    ("GET", "/healthz", False),                              # open routes never ask the ACL
    # traversal attempts
    ("GET", "/api/containers/../accounts", False),
    ("GET", "/api/containers/%2e%2e/accounts", False),
    ("GET", "/api/containers/%2E%2E/accounts", False),
    ("GET", "/api/containers/..%2faccounts", False),
    ("GET", "/api/containers/%252e%252e/accounts", False),
    ("GET", "/api/containers/./../accounts", False),
    ("GET", "/api/containers/abc/../../accounts", False),
    ("POST", "/api/engines/../containers/../engines", False),
    ("GET", "/api/accounts/../containers", False),           # the router would read /api/accounts/..
    ("GET", "/api/accounts/%2e%2e/containers", False),
    ("GET", "/API/accounts", False),                         # case: no rule, no route
    ("GET", "/Api/Containers", False),
    ("GET", "/api/containers\x00/../accounts", False),
    ("GET", "api/containers", False),
])
def test_user_role(method, path, allowed):
    assert allows(USER, method, path) is allowed


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/api/accounts", True),
    ("DELETE", "/api/accounts/bob", True),
    ("POST", "/api/engines", True),
    ("PATCH", "/anything/at/all", True),
    ("GET", "/api/containers/%2e%2e/accounts", True),        # admin may do everything anyway
    ("GET", "/api/%" + "25" * 4 + "2e", False),               # a path no client sends is refused to all
])
def test_admin_role(method, path, allowed):
    assert allows(ADMIN, method, path) is allowed


def test_no_rules_deny_everything():
    assert not allows([], "GET", "/api/containers")


@pytest.mark.parametrize("text, prefix, methods", [
    ("*", "*", None),
    ("/api/events", "/api/events", None),
    ("/api/events/", "/api/events", None),
    ("GET /api/engines", "/api/engines", {"GET", "HEAD"}),
    ("post,delete /api/x", "/api/x", {"POST", "DELETE"}),
    ("* /api/x", "/api/x", None),
])
def test_parse_rule(text, prefix, methods):
    rule = parse_rule(text)
    assert rule.prefix == prefix
    assert (None if rule.methods is None else set(rule.methods)) == methods


@pytest.mark.parametrize("text", ["api/x", "/api/../accounts", "/api//x", "/api/%2e%2e", "GET POST /api/x", ""])
def test_bad_rules_are_refused_and_grant_nothing(text):
    with pytest.raises(ValueError):
        parse_rule(text)
    assert acl.compile_rules([text]) == []
    assert not allows([text], "GET", "/api/accounts")


@pytest.mark.parametrize("role", [USER, ADMIN, ["GET /api/apps"]])
def test_deleting_an_app_follows_the_rules_of_scaling_it(role):
    assert allows(role, "DELETE", "/api/apps/web") == allows(role, "POST", "/api/apps/web/scale")
