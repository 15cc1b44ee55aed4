"""Transactional outbox and the event bus adapters."""
