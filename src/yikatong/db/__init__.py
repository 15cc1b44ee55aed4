"""Engine, declarative base, unit of work, idempotency and migrations."""
