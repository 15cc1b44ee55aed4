"""What each partner bank declares about losses of the financial function, from
bank_loss_rules.toml (example defaults – not official policy): its temporary-loss rule and
what it does after a holder's online formal loss."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

RULES_FILE = Path(__file__).with_name("bank_loss_rules.toml")
ONLINE_FORMAL_LOSS_ACTIONS = ("note", "temporary_loss")


@dataclass(frozen=True)
class BankLossRule:
    temporary_loss_days: int
    auto_lift: bool
    temporary_loss_channels: tuple[str, ...]
    # After an online formal loss, which covers the HR function only (四.6(2)): "note" (the
    # financial function is untouched, the holder is referred to the bank: the seed's rule and
    # the default) or "temporary_loss" (the bank protects the account with its own temporary
    # loss at once, and the platform's loss answer says so).
    online_formal_loss: str = "note"

    def __post_init__(self) -> None:
        if self.online_formal_loss not in ONLINE_FORMAL_LOSS_ACTIONS:
            raise ValueError(f"bank_loss_rules.toml: unknown online_formal_loss "
                             f"{self.online_formal_loss!r}")

    @property
    def protects_after_online_formal_loss(self) -> bool:
        return self.online_formal_loss == "temporary_loss"

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
        online_formal_loss=str(values["online_formal_loss"]),
    )
