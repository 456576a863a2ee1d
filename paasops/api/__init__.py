"""The HTTP API of `paasops serve` (FastAPI): the thesis route table, made RESTful."""
