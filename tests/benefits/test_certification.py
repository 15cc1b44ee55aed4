"""The pension's yearly confirmation through its service: each channel, the refusals, the
reminder, the lapse that suspends and the confirmation that resumes with back pay, and the
set-based seam the pension run asks. Real people with real cards; the clock moves."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.benefits.pension_helpers import (
    COUNTER,
    OFFICE,
    at,
    confirm,
    pensioner,
    self_service,
)
from tests.ecard.conftest import chip_directory, quick_argon2  # noqa: F401 - autouse fixtures
from yikatong.audit.models import AuditRecord
from yikatong.benefits import certification
from yikatong.benefits.certification_models import PensionCertification, PensionSuspension
from yikatong.cards import service as cards
from yikatong.cards.rules import BlockKind
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import Forbidden, InvalidInput
from yikatong.notices.models import SmsMessage

pytestmark = pytest.mark.db

TODAY = date(2026, 3, 2)  # the suite's clock


def payable(platform, person_id: int, period: str) -> str | None:
    with platform.uow() as uow:
        return certification.pension_payable(uow, person_id, period)


def view(platform, person_id: int):
    with platform.uow() as uow:
        return certification.eligibility_of(uow=uow, person_id=person_id)


def texts(platform, person_id: int, template: str) -> list[str]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(SmsMessage.text_zh).where(
            SmsMessage.person_id == person_id, SmsMessage.template == template)).scalars())


# ---------------------------------------------------------------------------------------
# Channels


def test_the_holder_confirms_with_the_card_at_a_self_service_machine(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    done = confirm(platform, self_service(person), person.person_id, "card", "kiosk-1",
                   card_no=person.card_no)
    assert (done.channel, done.card_no, done.certified_on) == ("card", person.card_no, TODAY)
    assert done.valid_until == date(2027, 3, 2) and not done.resumed
    assert view(platform, person.person_id).valid_until == date(2027, 3, 2)
    assert payable(platform, person.person_id, "2027-03") is None
    assert payable(platform, person.person_id, "2027-04") == "not_certified"


def test_the_holder_confirms_online_with_the_e_card(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    done = confirm(platform, person.actor, person.person_id, "ecard", "app-1")
    assert done.channel == "ecard" and done.card_no is None
    ecard_no = person.ecard().ecard_no
    with platform.uow() as uow:
        assert uow.session.get(PensionCertification, done.id).ecard_no == ecard_no


def test_an_outlet_confirms_at_the_counter_with_the_documents_seen(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    done = confirm(platform, COUNTER, person.person_id, "outlet", "counter-1",
                   documents="居民身份证原件 / ID card, original")
    assert (done.channel, done.outlet_code, done.recorded_by) == ("outlet", "SS-TN-01", "outlet-7")
    with platform.uow() as uow:
        audit = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "pension.certified")).scalar_one()
        assert audit.entity_id == str(person.person_id) and audit.actor_id == "outlet-7"


def test_the_counter_must_record_the_documents(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    with pytest.raises(InvalidInput):
        confirm(platform, COUNTER, person.person_id, "outlet", "counter-2", documents="  ")
    assert view(platform, person.person_id).valid_until == date(2026, 3, 20)  # nothing changed


def test_a_retried_request_answers_with_the_first_confirmation(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    first = confirm(platform, person.actor, person.person_id, "ecard", "app-same")
    again = confirm(platform, person.actor, person.person_id, "ecard", "app-same")
    assert again.id == first.id
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(PensionCertification)) == 1


# ---------------------------------------------------------------------------------------
# Refusals


def test_a_card_under_formal_loss_cannot_confirm(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    person.card_op(cards.report_loss, kind=str(BlockKind.FORMAL_LOSS))
    with pytest.raises(certification.CardNotUsableForCertification) as refused:
        confirm(platform, self_service(person), person.person_id, "card", "kiosk-lost",
                card_no=person.card_no)
    assert "formal loss" in refused.value.message_en
    assert view(platform, person.person_id).valid_until == date(2026, 3, 20)


def test_a_retired_card_cannot_confirm(platform):
    person = pensioner(platform, since=date(2025, 3, 20))
    person.card_op(cards.transfer_out, actor=COUNTER, destination_province="上海",
                   rule_note="上海：持新卡办理")
    with pytest.raises(certification.CardNotUsableForCertification) as refused:
        confirm(platform, self_service(person), person.person_id, "card", "kiosk-old",
                card_no=person.card_no)
    assert "retired" in refused.value.message_en


def test_another_persons_card_cannot_confirm(platform):
    person, other = (pensioner(platform, since=date(2025, 3, 20)) for _ in range(2))
    with pytest.raises(certification.CardNotUsableForCertification):
        confirm(platform, self_service(person), person.person_id, "card", "kiosk-x",
                card_no=other.card_no)


def test_an_e_card_without_consent_is_not_usable(platform):
    person = pensioner(platform, since=date(2025, 3, 20), consent=())
    with pytest.raises(certification.EcardNotUsableForCertification) as refused:
        confirm(platform, person.actor, person.person_id, "ecard", "app-none")
    assert "尚未授权任何渠道使用" in refused.value.message_zh  # not "unusable (usable)"


def test_who_may_confirm_for_whom(platform):
    person, other = (pensioner(platform, since=date(2025, 3, 20)) for _ in range(2))
    with pytest.raises(Forbidden):  # a holder only for themself
        confirm(platform, person.actor, other.person_id, "ecard", "app-other")
    with pytest.raises(certification.CertificationChannelRefused):  # the e-card is the holder's
        confirm(platform, COUNTER, person.person_id, "ecard", "counter-ecard")
    with pytest.raises(certification.CertificationChannelRefused):  # and the counter the outlet's
        confirm(platform, person.actor, person.person_id, "outlet", "app-outlet", documents="ID")
    with pytest.raises(certification.CertificationChannelRefused):
        confirm(platform, OFFICE, person.person_id, "outlet", "office-1", documents="ID")


def test_someone_without_a_pension_is_refused(platform):
    from tests.benefits.pension_helpers import holder_with_card

    person = holder_with_card(platform)
    with pytest.raises(certification.NotAPensioner):
        confirm(platform, person.actor, person.person_id, "ecard", "app-nobody")
    assert payable(platform, person.person_id, "2026-03") == "not_certified"


def test_only_the_social_insurance_agency_registers_pensioners(platform):
    from tests.benefits.pension_helpers import holder_with_card

    person = holder_with_card(platform)
    housing = Actor(user_id="hf", role=Role.PAYING_OFFICE, channel=Channel.AGENCY, branch_code="CZ-HF")
    with platform.uow() as uow, pytest.raises(Forbidden):
        certification.register_pensioner(uow=uow, actor=housing, person_id=person.person_id,
                                         since=date(2025, 1, 1))


# ---------------------------------------------------------------------------------------
# Reminder, lapse, resumption


def test_the_reminder_goes_thirty_days_ahead_once(platform, clock):
    person = pensioner(platform, since=date(2025, 4, 15))  # valid until 2026-04-15
    with platform.uow() as uow:
        assert certification.send_reminders(uow=uow, actor=OFFICE) == 0  # 44 days ahead
    clock.set(at(date(2026, 3, 16)))  # 30 days ahead
    with platform.uow() as uow:
        assert certification.send_reminders(uow=uow, actor=OFFICE) == 1
    clock.set(at(date(2026, 3, 23)))  # a week later: already texted for this window
    with platform.uow() as uow:
        assert certification.send_reminders(uow=uow, actor=OFFICE) == 0
    sent = texts(platform, person.person_id, "pension_certification_due")
    assert len(sent) == 1 and "2026-04-15" in sent[0]
    assert view(platform, person.person_id).due


def test_a_lapse_suspends_and_a_confirmation_resumes_with_the_months_paid_back(platform, clock):
    person = pensioner(platform, since=date(2025, 1, 10))  # valid until 2026-01-10
    assert payable(platform, person.person_id, "2026-01") is None
    assert payable(platform, person.person_id, "2026-02") == "not_certified"
    with platform.uow() as uow:
        assert certification.lapse_due(uow=uow, actor=OFFICE) == 1
    with platform.uow() as uow:
        assert certification.lapse_due(uow=uow, actor=OFFICE) == 0  # suspended once
    lapsed = view(platform, person.person_id)
    assert (lapsed.status, lapsed.suspended_from) == ("suspended", "2026-02")
    assert len(texts(platform, person.person_id, "pension_suspended")) == 1

    clock.set(at(date(2026, 4, 20)))
    done = confirm(platform, COUNTER, person.person_id, "outlet", "counter-back",
                   documents="居民身份证")
    assert done.resumed and done.back_pay_periods == ("2026-02", "2026-03", "2026-04")
    assert done.valid_until == date(2027, 4, 20)
    for period in ("2026-02", "2026-03", "2026-04", "2027-04"):
        assert payable(platform, person.person_id, period) is None
    resumed = view(platform, person.person_id)
    assert (resumed.status, resumed.suspended_from) == ("active", None)
    with platform.uow() as uow:
        assert certification.arrears(uow=uow) == {person.person_id: ["2026-02", "2026-03", "2026-04"]}
        assert certification.mark_back_paid(uow=uow, actor=OFFICE, person_id=person.person_id) == 1
    with platform.uow() as uow:
        assert certification.arrears(uow=uow) == {}
        suspension = uow.session.execute(select(PensionSuspension)).scalar_one()
        assert (suspension.back_pay_status, suspension.open_key) == ("paid", None)


def test_confirming_after_a_lapse_the_job_had_not_seen_still_pays_back(platform, clock):
    person = pensioner(platform, since=date(2025, 1, 10))
    done = confirm(platform, person.actor, person.person_id, "ecard", "app-late")
    assert done.resumed and done.back_pay_periods == ("2026-02", "2026-03")


def test_the_run_asks_for_a_whole_set_at_once(platform, clock, monkeypatch):
    ok = pensioner(platform, since=date(2025, 6, 1))
    lapsed = pensioner(platform, since=date(2025, 1, 10))
    from tests.benefits.pension_helpers import holder_with_card

    stranger = holder_with_card(platform)
    ids = [ok.person_id, lapsed.person_id, stranger.person_id, 10**9]
    with platform.uow() as uow:
        assert certification.payable_person_ids(uow, ids, "2026-03") == {ok.person_id}
        assert certification.payable_person_ids(uow, ids, "2026-01") == {ok.person_id, lapsed.person_id}
        assert certification.payable_person_ids(uow, [], "2026-03") == set()
    monkeypatch.setattr(certification, "SCAN_ABOVE", 1)  # the large-run path: one scan
    with platform.uow() as uow:
        assert certification.payable_person_ids(uow, ids, "2026-01") == {ok.person_id, lapsed.person_id}
        for person_id in ids:
            assert (person_id in certification.payable_person_ids(uow, ids, "2026-03")) is (
                certification.pension_payable(uow, person_id, "2026-03") is None)


def test_the_office_lists_who_is_due_suspended_and_active(platform, clock):
    due = pensioner(platform, since=date(2025, 3, 20))
    suspended = pensioner(platform, since=date(2025, 1, 10))
    active = pensioner(platform, since=date(2025, 12, 1))
    with platform.uow() as uow:
        def ids(status):
            return [v.person_id for v in certification.pensioners(uow=uow, actor=OFFICE, status=status)]

        assert ids("due") == [due.person_id]
        assert ids("suspended") == [suspended.person_id]
        assert ids("active") == [active.person_id]
        listed = certification.pensioners(uow=uow, actor=OFFICE)
        assert all("*" in v.ssn_masked for v in listed)  # masked in the list


def test_people_enrolled_in_the_pension_are_followed_from_their_first_month(platform):
    from tests.benefits.pension_helpers import holder_with_card
    from yikatong.benefits import service as benefits

    person = holder_with_card(platform)
    with platform.uow() as uow:
        benefits.enrol(uow=uow, actor=OFFICE, programme_code="pension", person_id=person.person_id,
                       monthly_fen=300_000, start_period="2025-11", end_period=None,
                       source="office", source_ref="retirement-1")
        uow.commit()
    with platform.uow() as uow:
        assert certification.follow_enrolled_pensioners(uow=uow, actor=OFFICE) == 1
    with platform.uow() as uow:
        assert certification.follow_enrolled_pensioners(uow=uow, actor=OFFICE) == 0
    followed = view(platform, person.person_id)
    assert (followed.since, followed.valid_until) == (date(2025, 11, 1), date(2026, 11, 1))
    assert payable(platform, person.person_id, "2026-11") is None
