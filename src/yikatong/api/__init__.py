"""The REST door: FastAPI under /api/v1, errors as RFC 9457 problem+json."""
