"""Shared kernel: clock, money, errors, settings. Imports nothing from other domains."""
