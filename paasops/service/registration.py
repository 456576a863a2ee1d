"""Engine registrations in etcd as plain data: parse one, write one, and read etcd endpoints (no I/O)."""

from __future__ import annotations

import urllib.parse

ETCD_CLIENT_PORT = 2379


def parse_etcd_endpoint(endpoint: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of an etcd client URL or `host[:port]`; no scheme means plain http, port 2379."""
    parts = urllib.parse.urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    return parts.hostname or "127.0.0.1", parts.port or ETCD_CLIENT_PORT, parts.scheme == "https"
