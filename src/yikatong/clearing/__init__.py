"""Clearing and settlement (清分结算) of transit records: terminal batch files, bulk TAC checks,
duplicates, counter gaps, fare re-rating, ledger settlement, the simulated national clearing
house, shadow balances, reports, and `ykt simulate day`. See service.py."""
