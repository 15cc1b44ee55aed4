"""Per-bank rules for a temporary loss of the financial function, from bank_loss_rules.toml
(example defaults – not official policy)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

RULES_FILE = Path(__file__).with_name("bank_loss_rules.toml")


@dataclass(frozen=True)
class BankLossRule:
    temporary_loss_days: int
    auto_lift: bool
    temporary_loss_channels: tuple[str, ...]

    @property
    def temporary_loss_duration(self) -> timedelta:
        return timedelta(days=self.temporary_loss_days)


@cache
def _table() -> dict:
    with RULES_FILE.open("rb") as handle:
        return tomllib.load(handle)


def bank_loss_rule(bank_code: str) -> BankLossRule:
    """The bank's own rule, falling back to the file's [default] for what it does not set."""
    table = _table()
    values = {**table["default"], **table.get("banks", {}).get(bank_code, {})}
    return BankLossRule(
        temporary_loss_days=int(values["temporary_loss_days"]),
        auto_lift=bool(values["auto_lift"]),
        temporary_loss_channels=tuple(values["temporary_loss_channels"]),
    )
