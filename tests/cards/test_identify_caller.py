"""12333: the caller's identity questions (cards.service.identify_caller, rules.caller_answers_match)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.cards.conftest import PHONE, act, person_with_card, row_counts
from yikatong.audit.models import AuditRecord
from yikatong.cards import service
from yikatong.cards.errors import CallerNotIdentified, IdentityQuestionMissing
from yikatong.cards.rules import caller_answers_match
from yikatong.people.samples import make_citizen_ssn

pytestmark = pytest.mark.db


def identify(platform, **answers):
    return act(platform, service.identify_caller, actor=PHONE, **answers)


def test_name_and_phone_digits_find_the_callers_cards_and_are_audited(platform):
    ssn, person_id, card_no = person_with_card(platform)
    caller = identify(platform, id_number=ssn, name="王小明", phone_last4="5678")
    assert (caller.person_id, [card.card_no for card in caller.cards]) == (person_id, [card_no])
    with platform.uow() as uow:
        record = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "person.caller_identified",
            AuditRecord.entity_id == str(person_id))).scalar_one()
    assert record.after["questions"] == ["id_number", "name", "phone_last4"]
    assert record.after["channel"] == "phone_12333"


def test_the_card_number_answers_the_second_question(platform):
    ssn, _person_id, card_no = person_with_card(platform)
    caller = identify(platform, id_number=ssn, name="王小明", card_no=card_no.lower())
    assert caller.cards[0].card_no == card_no


@pytest.mark.parametrize("answers", [
    {"name": "王大明", "phone_last4": "5678"},          # wrong name
    {"name": "王小明", "phone_last4": "5679"},          # wrong digits
    {"name": "王小明", "card_no": "T99999999"},         # a card not theirs
    {"name": "王小明", "phone_last4": "5678", "card_no": "T99999999"},  # one of two wrong
])
def test_any_wrong_answer_is_one_refusal_and_changes_nothing(platform, answers):
    ssn, _person_id, _card_no = person_with_card(platform)
    before = row_counts(platform)
    with pytest.raises(CallerNotIdentified):
        identify(platform, id_number=ssn, **answers)
    assert row_counts(platform) == before


def test_an_unknown_id_number_is_the_same_refusal(platform):
    with pytest.raises(CallerNotIdentified):
        identify(platform, id_number=make_citizen_ssn("320402", date(1970, 1, 1), "F", seq=8),
                 name="王小明", phone_last4="5678")


def test_the_second_question_is_required(platform):
    ssn, _person_id, _card_no = person_with_card(platform)
    with pytest.raises(IdentityQuestionMissing):
        identify(platform, id_number=ssn, name="王小明", phone_last4=" ")


@pytest.mark.no_db
def test_no_phone_on_file_cannot_answer_by_digits():
    assert not caller_answers_match(name_on_file="王小明", phone_on_file=None, card_nos=[],
                                    name="王小明", phone_last4="0000", card_no=None)
    assert caller_answers_match(name_on_file="王小明", phone_on_file="139 1234 5678",
                                card_nos=[], name=" 王小明 ", phone_last4="5678", card_no=None)
