"""Enrolments (seam 3), the reference paying office's lists, the ID→account map."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.benefits.conftest import SI_OFFICE, TALENT_OFFICE, payee
from tests.cards.conftest import act, hand_over, produce
from yikatong.benefits import accounts, paying_office, service
from yikatong.benefits.errors import InvalidEnrolment, NotYourProgramme
from yikatong.benefits.models import AccountMapEntry

pytestmark = pytest.mark.db


def enrol(platform, actor, programme, person_id, **kw):
    values = {"monthly_fen": None, "start_period": "2026-11", "end_period": None, "source": "office",
              "source_ref": f"{programme}-{person_id}"} | kw
    return act(platform, service.enrol, actor=actor, programme_code=programme, person_id=person_id,
               **values)


def test_enrol_is_idempotent_by_source_ref_and_checked(platform):
    _, person_id, _ = payee(platform)
    first = enrol(platform, SI_OFFICE, "work_injury", person_id, monthly_fen=88000, source_ref="case-1")
    again = enrol(platform, SI_OFFICE, "work_injury", person_id, monthly_fen=99000, source_ref="case-1")
    assert first == again and first.end_period == "2026-11"  # one-off: one period
    with pytest.raises(NotYourProgramme):
        enrol(platform, TALENT_OFFICE, "work_injury", person_id, source_ref="case-2")
    with pytest.raises(InvalidEnrolment):
        enrol(platform, SI_OFFICE, "unemployment", person_id, start_period="2026-11",
              end_period="2026-10", source_ref="case-3")


def test_the_reference_office_applies_the_programme_rules(platform):
    _, young, _ = payee(platform)                       # born 1985: 41 in 2026
    _, person_id, _ = payee(platform)
    enrol(platform, SI_OFFICE, "unemployment", person_id, facts={"contribution_years": 3},
          start_period="2026-01")
    enrol(platform, SI_OFFICE, "unemployment", young, facts={"contribution_years": 0.5})
    with platform.uow() as uow:
        december = paying_office.compute_payee_list(uow=uow, programme_code="unemployment", period="2026-12")
        next_year = paying_office.compute_payee_list(uow=uow, programme_code="unemployment", period="2027-01")
    assert [row.amount_fen for row in december] == [224100]  # 90% of the minimum wage
    assert next_year == []  # 3 years' contributions: 12 months, Jan–Dec 2026
    enrol(platform, TALENT_OFFICE, "qclc", young, facts={"degree": "master", "residence": "320402"})
    with platform.uow() as uow:
        # over the talent programmes' age limit (35): not on the list
        assert paying_office.compute_payee_list(uow=uow, programme_code="qclc", period="2026-11") == []


def test_stop_payments_ends_enrolments_from_the_day(platform):
    ssn, person_id, _ = payee(platform)
    enrol(platform, SI_OFFICE, "unemployment", person_id, facts={"contribution_years": 12},
          start_period="2026-06")
    ended = act(platform, service.stop_payments, actor=SI_OFFICE, person_id=person_id,
                from_day=date(2026, 9, 1), reason="deceased")
    assert [(e.status, e.end_period) for e in ended] == [("ended", "2026-08")]
    with platform.uow() as uow:
        assert paying_office.compute_payee_list(uow=uow, programme_code="unemployment", period="2026-09") == []
        assert [r.id_number for r in paying_office.compute_payee_list(
            uow=uow, programme_code="unemployment", period="2026-08")] == [ssn]


def test_the_account_map_follows_card_events_and_rebuilds_alike(platform):
    _, person_id, old_card = payee(platform)
    with platform.uow() as uow:
        assert accounts.account_of(uow=uow, person_id=person_id).card_no == old_card
    new_card = produce(platform, person_id=person_id, kind="exchange", predecessor=old_card).card_no
    with platform.uow() as uow:  # produced, not handed over: the card in use stays the account
        assert accounts.account_of(uow=uow, person_id=person_id).card_no == old_card
    hand_over(platform, new_card)
    with platform.uow() as uow:
        assert accounts.account_of(uow=uow, person_id=person_id).card_no == new_card
        incremental = {(e.person_id, e.card_no, e.pan) for e in uow.session.execute(
            select(AccountMapEntry)).scalars()}
    with platform.uow() as uow:
        assert accounts.rebuild(uow=uow) == len(incremental)
        uow.commit()
    with platform.uow() as uow:
        rebuilt = {(e.person_id, e.card_no, e.pan) for e in uow.session.execute(
            select(AccountMapEntry)).scalars()}
    assert rebuilt == incremental


def test_the_programmes_load_once_with_their_sources(platform):
    from yikatong.benefits.models import Programme
    from yikatong.core.actor import Actor

    with platform.uow() as uow:
        assert service.load_reference_data(uow=uow, actor=Actor.system("setup")) == 6
    with platform.uow() as uow:
        assert service.load_reference_data(uow=uow, actor=Actor.system("setup")) == 0
        rows = {p.code: p for p in uow.session.execute(select(Programme)).scalars()}
    assert set(rows) == {"pension", "unemployment", "work_injury", "housing_fund", "youth_talent", "qclc"}
    assert rows["youth_talent"].office_code == "CZ-TALENT" and rows["youth_talent"].rules["age_max"] == 35
    assert all(p.source for p in rows.values())
