"""Accounts, password hashing, API tokens and the role ACL of the service's HTTP API."""
