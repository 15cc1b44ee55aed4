"""Hypothesis: whatever happens to the physical card, in whatever order, the status lists the
offline terminals get (kept up to date by events) say what the e-card's derived status says,
and a code verifies online exactly when the holder could still use the e-card somewhere."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.applications.conftest import ADMIN, OUTLET, new_applicant
from tests.cards.conftest import hand_over, produce
from tests.ecard.conftest import PASSWORD, Holder, status_lists, verify

from yikatong.cards import service as cards
from yikatong.cards.jobs import expire_temporary_losses
from yikatong.core.errors import DomainError
from yikatong.ecard import rules, status_list
from yikatong.ecard.models import Ecard
from yikatong.people.service import register_applicant

pytestmark = pytest.mark.db



def registered_person(platform) -> int:
    """A person on record (people service), without going through an application."""
    applicant = new_applicant()
    with platform.uow() as uow:
        outcome = register_applicant(
            uow=uow, actor=OUTLET, name=applicant.name, document_type=applicant.document_type,
            document_number=applicant.document_number, gender=applicant.gender,
            birth_date=applicant.birth_date, nationality=applicant.nationality,
            document_valid_until=applicant.document_valid_until,
            photo_jpeg=applicant.photo_jpeg, as_of=date(2026, 3, 2))
        uow.commit()
    return outcome.person_id

STEPS = st.lists(st.sampled_from([
    "temporary_loss", "formal_loss", "unblock", "freeze", "unfreeze", "reauthorise",
    "grant_wechat", "withdraw_wechat", "eight_days_pass", "minute_passes",
]), min_size=1, max_size=8)


def step(person: Holder, clock, name: str) -> None:
    if name in ("temporary_loss", "formal_loss"):
        person.card_op(cards.report_loss, kind=name)
    elif name == "unblock":
        person.card_op(cards.unblock)
    elif name in ("freeze", "unfreeze"):
        operation = cards.freeze if name == "freeze" else cards.unfreeze
        kwargs = {"reason_code": "check"} if name == "freeze" else {}
        person.card_op(operation, actor=ADMIN, **kwargs)
    elif name == "reauthorise":
        person.reauthorise("official_app", PASSWORD)
    elif name == "grant_wechat":
        person.grant("wechat_mini")
    elif name == "withdraw_wechat":
        person.withdraw("wechat_mini")
    else:
        clock.advance(hours=192) if name == "eight_days_pass" else clock.advance(minutes=1)
        expire_temporary_losses(person.platform)  # the cards job records what time ended


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_terminals_and_online_checks_agree_with_the_derived_status(platform, clock, steps):
    person_id = registered_person(platform)
    card_no = produce(platform, person_id=person_id).card_no
    hand_over(platform, card_no)
    person = Holder(platform, person_id, None, None, card_no)
    person.grant("official_app")
    person.set_password()
    for name in steps:
        clock.advance(seconds=1)
        try:
            step(person, clock, name)
        except DomainError:
            pass  # refused (e.g. unblock when not lost): nothing changed, the invariant holds
        view = person.ecard()
        with platform.uow() as uow:
            ecard = uow.session.execute(select(Ecard).where(Ecard.person_id == person_id)).scalar()
            consents = [rules.ConsentFacts(c.granted_at, c.withdrawn_at, c.reauthorised_at)
                        for c in ecard.consents]
            mirrored = ecard.listed_state
        status = rules.EcardStatus(rules.EcardState(view.state), view.card_no, view.card_status,
                                   view.loss_started_at, view.reason)
        assert mirrored == rules.listed_state(status, consents)
        suspension = status_lists(platform)[0]["credentialSubject"]["encodedList"]
        assert status_list.bit_is_set(suspension, view.status_index) == (mirrored == "suspended")
    if view.usable_channels:
        shown = person.qr(view.usable_channels[0])
        assert verify(platform, shown).valid
    clock.advance(timedelta(seconds=1))
