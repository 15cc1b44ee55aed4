"""What each partner bank declares it does with the account of a replaced card, from
config/replaced_card_policy.toml (example defaults – not official policy)."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path

POLICY_FILE = Path(__file__).parent / "config" / "replaced_card_policy.toml"


class ReplacedCardAction(StrEnum):
    CLOSURE_TASK = "closure_task"  # close the old account at a branch (the default)
    MOVE_TO_SUCCESSOR = "move_to_successor"  # the account continues on the new card


@cache
def _table() -> dict:
    with POLICY_FILE.open("rb") as handle:
        return tomllib.load(handle)


def replaced_card_action(bank_code: str) -> ReplacedCardAction:
    """The bank's declared action, else the file's [default]; an unknown word fails loudly."""
    table = _table()
    values = {**table["default"], **table.get("banks", {}).get(bank_code, {})}
    try:
        return ReplacedCardAction(values["action"])
    except ValueError as error:
        raise ValueError(
            f"replaced_card_policy.toml: unknown action {values['action']!r} for {bank_code}"
        ) from error
