"""The reference partner bank: accounts, activation, losses, closures and their real-time sync
with the platform (see docs/bank-interface.md)."""
