"""paasops: a private PaaS for a small company's own Linux servers."""

__version__ = "0.1.0"
