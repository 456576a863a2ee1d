"""Connectors: the one small interface through which automation talks to a host."""
