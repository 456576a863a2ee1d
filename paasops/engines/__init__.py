"""Docker engines: clients over the remote API (mutual TLS) or the local socket."""
