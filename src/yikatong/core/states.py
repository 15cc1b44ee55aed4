"""States a person can read: each domain's state codes with Chinese and English words and the
next step in words, so a refusal says "the card has been made; next it is handed over" rather
than "produced → handed_over".

Each domain keeps its table in its own rules.py (`StateTable`); an error message takes the
words through `StateTable.fields`, while `details` keep the machine codes for programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StateWords:
    """What a state is called, and what happens next (empty when nothing does)."""

    zh: str
    en: str
    next_zh: str = ""
    next_en: str = ""


# A state has no next step (it is final): the refusal says so rather than leaving a gap.
FINAL_ZH, FINAL_EN = "已办结，不再变化", "this is final; nothing more happens"


class StateTable:
    """One domain's states: code → StateWords. An unknown code reads as words too (its
    underscores as spaces), never as a bare code in a sentence."""

    def __init__(self, words: Mapping[str, StateWords]) -> None:
        self._words = {str(code): state for code, state in words.items()}

    def __contains__(self, code: object) -> bool:
        return str(code) in self._words

    def codes(self) -> tuple[str, ...]:
        return tuple(self._words)

    def words(self, code: str) -> StateWords:
        known = self._words.get(str(code))
        if known is not None:
            return known
        spoken = str(code).replace("_", " ")
        return StateWords(spoken, spoken)

    def fields(self, name: str, code: str) -> dict[str, Any]:
        """Error-message fields for a state: `name` keeps the code (for `details`), `name_zh`
        and `name_en` the words, `name_next_zh` and `name_next_en` the next step in words."""
        state = self.words(code)
        return {
            name: str(code),
            f"{name}_zh": state.zh,
            f"{name}_en": state.en,
            f"{name}_next_zh": state.next_zh or FINAL_ZH,
            f"{name}_next_en": state.next_en or FINAL_EN,
        }
