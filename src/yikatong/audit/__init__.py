"""Tamper-evident audit trail: one record per state change, chained per entity with SM3."""
