"""Discount campaigns (seed 三.8): transit rebates, merchant spend-threshold reductions (满减)
and tourism vouchers, each funded by a sponsor's budget spent atomically (budget.py)."""
