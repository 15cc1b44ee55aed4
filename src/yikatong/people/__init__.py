"""Persons, identity documents, ID-number and photo checks, one person one record."""
