"""States a person can read: every state of applications, cards, top-up orders, rider grants
and e-cards has words in both languages, and the refusals that name a state use the words
and the next step, never the raw code."""

from __future__ import annotations

import re

import pytest

from yikatong.applications import rules as applications
from yikatong.applications.errors import IllegalTransition
from yikatong.cards import rules as cards
from yikatong.cards.errors import CardNotInUse, FinancialAlreadyActivated
from yikatong.cards.protocols import FinancialStatus
from yikatong.core.errors import DomainError
from yikatong.core.states import FINAL_EN, StateTable, StateWords
from yikatong.ecard import rules as ecard
from yikatong.transit import rules as transit
from yikatong.transit.errors import RiderGrantNotActive, TopUpNotWritable
from yikatong.transit.models import GrantState

TABLES = [
    (applications.APPLICATION_STATES, applications.STATUSES),
    (cards.CARD_STATES, list(cards.CardState)),
    (cards.FINANCIAL_STATES, list(FinancialStatus)),
    (transit.ORDER_STATES, list(transit.OrderState)),
    (transit.GRANT_STATES, [GrantState.ACTIVE, GrantState.REVOKED, GrantState.EXPIRED]),
    (ecard.ECARD_STATES, list(ecard.EcardState)),
]
CODE = re.compile(r"\b[a-z]+_[a-z_]+\b")  # a snake_case machine code in a sentence


def raw_codes_in(error: DomainError, codes) -> list[str]:
    """The state codes that show in the error's messages: as snake_case, or as a bare code
    in quotes/brackets (e.g. 'produced')."""
    found = []
    for message in (error.message_zh, error.message_en):
        found += [c for c in CODE.findall(message) if c in codes]
        found += [c for c in codes if re.search(rf"['“(（]{re.escape(c)}['”)）]", message)]
    return found


@pytest.mark.parametrize(("table", "codes"), TABLES)
def test_every_state_has_words_in_both_languages(table: StateTable, codes):
    for code in codes:
        assert str(code) in table, f"{code} has no words"
        words = table.words(code)
        assert words.zh and words.en and words.zh != str(code)
        assert bool(words.next_zh) == bool(words.next_en), code


def test_an_unknown_code_still_reads_as_words_and_a_final_state_says_so():
    table = StateTable({"done": StateWords("已完成", "done")})
    assert table.words("waiting_for_bank").en == "waiting for bank"
    assert table.fields("state", "done")["state_next_en"] == FINAL_EN


ILLEGAL_APPLICATION_MOVES = [
    (current, target)
    for current in applications.STATUSES
    for target in applications.STATUSES
    if target not in applications.TRANSITIONS[current]
]


@pytest.mark.parametrize(("current", "target"), ILLEGAL_APPLICATION_MOVES)
def test_an_illegal_application_move_is_told_in_words_with_the_next_step(current, target):
    with pytest.raises(IllegalTransition) as refused:
        applications.check_transition(current, target)
    error = refused.value
    assert not raw_codes_in(error, applications.STATUSES), error.message_en
    assert applications.APPLICATION_STATES.words(current).en in error.message_en
    assert "Next:" in error.message_en and "下一步" in error.message_zh
    assert error.details["current"] == current and error.details["target"] == target  # for programs


def test_produced_to_handed_over_reads_as_words():
    """The issue's example: "produced" → "handed_over"."""
    with pytest.raises(IllegalTransition) as refused:
        applications.check_transition("produced", "handed_over")
    assert refused.value.message_en == (
        "The application is made; it cannot become handed over. "
        "Next: it goes to the outlet for collection or to EMS for posting"
    )


ORDER_CODES = [str(state) for state in transit.OrderState]


@pytest.mark.parametrize("source", list(transit.OrderState))
def test_top_up_order_refusals_use_words(source):
    for target in transit.OrderState:
        try:
            transit.check_transition(source, target)
        except transit.IllegalOrderTransition as error:
            assert not raw_codes_in(error, ORDER_CODES), error.message_en
            assert transit.ORDER_STATES.words(source).zh in error.message_zh
    written = TopUpNotWritable(order_no="T1", **transit.ORDER_STATES.fields("state", source))
    assert not raw_codes_in(written, ORDER_CODES), written.message_en


def test_card_and_grant_refusals_use_words():
    for state in cards.CardState:
        error = CardNotInUse(**cards.CARD_STATES.fields("state", state))
        assert not raw_codes_in(error, [str(s) for s in cards.CardState]), error.message_en
    active = FinancialAlreadyActivated(
        **cards.FINANCIAL_STATES.fields("status", FinancialStatus.TEMPORARY_LOSS)
    )
    assert (
        "temporarily reported lost" in active.message_en
        and "temporary_loss" not in active.message_en
    )
    revoked = RiderGrantNotActive(
        grant_id=3, **transit.GRANT_STATES.fields("state", GrantState.REVOKED)
    )
    assert revoked.message_en.endswith("is already revoked; it cannot be revoked")
    assert "已撤销" in revoked.message_zh
