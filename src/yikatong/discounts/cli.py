"""`ykt discounts …` (the rebates' commands; the campaigns' own commands join them here)."""

from __future__ import annotations


def register(group) -> None:
    from yikatong.discounts import rebates_cli

    rebates_cli.register(group)
