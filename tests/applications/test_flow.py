"""Service-level flows against the database: intake to a card in hand, and every refusal."""

from __future__ import annotations

import dataclasses
import threading
from datetime import date

import pytest
from sqlalchemy import func, inspect, select

from tests.applications.conftest import ADMIN, OUTLET, new_applicant, pickup, walk_to_hand_over
from tests.applications.test_rules import uscc_check
from tests.conftest import ONLY_ON_POSTGRES, overtake
from yikatong.applications import errors, production, rules, service
from yikatong.applications.models import Application
from yikatong.applications.protocols import CardFactory
from yikatong.applications.reference import SimulatedCardFactory
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import DomainError

pytestmark = pytest.mark.db


def count(platform, model) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_first_issue_from_counter_to_card_in_hand(platform, apply):
    from yikatong.cards.service import get_card

    app = apply()
    assert (app.status, app.kind, app.mode, app.channel) == ("submitted", "first", "self", "outlet")
    done = walk_to_hand_over(platform, app.id)
    assert done.status == "handed_over"
    assert done.issue_date == date(2026, 3, 2)   # the clock's date in Changzhou (CST)
    with platform.uow() as uow:
        card = get_card(uow=uow, card_no=done.card_no)
        actions = uow.session.execute(
            select(AuditRecord.action).where(AuditRecord.entity_type == "application",
                                             AuditRecord.entity_id == str(app.id))
            .order_by(AuditRecord.seq)).scalars().all()
    assert card.state == "in_use" and card.pan == done.pan and card.person_id == done.person_id
    assert actions == ["application.submit", "application.approve",
                       "application.production_start", "application.produced",
                       "application.ready_for_pickup", "application.hand_over"]


def test_free_of_charge_no_fee_anywhere(platform, apply):
    """四.1: applying, replacing and exchanging are free: no fee column, nothing charged."""
    columns = {c.key for c in inspect(Application).columns}
    assert not {c for c in columns if "fee" in c or "amount" in c or "charge" in c}
    app = apply()
    with platform.uow() as uow:
        record = uow.session.execute(
            select(AuditRecord).where(AuditRecord.action == "application.submit",
                                      AuditRecord.entity_id == str(app.id))).scalar_one()
    assert record.after["fee"] == "free"


def test_agent_application_records_both_documents(platform, apply):
    agent = service.AgentData(name="代办人", document_type="resident_id_card",
                              document_number="32040419851120002X")
    app = apply(agent=agent)
    assert app.mode == "agent" and app.agent["document_number"] == "32040419851120002X"
    assert app.document_number != app.agent["document_number"]


@pytest.mark.parametrize("number", ["320402199003070014", "12345", "32040219900230001X"])
def test_agent_with_malformed_document_is_refused_and_nothing_changes(platform, apply, number):
    before = count(platform, Application), count(platform, AuditRecord)
    agent = service.AgentData(name="代办人", document_type="resident_id_card",
                              document_number=number)
    with pytest.raises(DomainError) as caught:
        apply(agent=agent)
    assert caught.value.http_status == 422
    assert (count(platform, Application), count(platform, AuditRecord)) == before


def test_unknown_bank_and_bad_pickup_outlet(platform, apply):
    before = count(platform, Application), count(platform, AuditRecord)
    with pytest.raises(DomainError) as caught:
        apply(choice=pickup(bank="HSBC"))
    assert caught.value.code == "unknown_bank"
    with pytest.raises(errors.PickupOutletNotAllowed):
        apply(choice=pickup(bank="ICBC", outlet="CCB-CZ-001"))   # another bank's branch
    assert apply(choice=pickup(bank="CCB", outlet="CCB-CZ-001")).pickup_outlet_code == "CCB-CZ-001"
    assert count(platform, Application) == before[0] + 1


def test_one_open_application_and_one_live_card(platform, apply):
    person = new_applicant()
    first = apply(person)
    with pytest.raises(errors.OpenApplicationExists):
        apply(person)
    walk_to_hand_over(platform, first.id)
    with pytest.raises(errors.LiveCardExists):
        apply(person)


def test_two_outlets_racing_for_the_same_person(platform):
    """Two counters submit the same person at once: exactly one application survives."""
    person = new_applicant()
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def submit(outlet: str) -> None:
        actor = Actor(user_id=f"op-{outlet}", role=Role.SS_OUTLET, channel=Channel.OUTLET,
                      branch_code=outlet)
        barrier.wait()
        try:
            with platform.uow() as uow:
                outcomes.append(service.submit_at_outlet(
                    uow=uow, actor=actor, applicant=person, choice=pickup(outlet=outlet)))
        except Exception as error:  # noqa: BLE001 - the loser's error is the point
            outcomes.append(error)

    threads = [threading.Thread(target=submit, args=(o,)) for o in ("SS-TN-01", "SS-ZL-01")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [o for o in outcomes if isinstance(o, service.ApplicationView)]
    losers = [o for o in outcomes if not isinstance(o, service.ApplicationView)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    # Which guard stops the loser depends on where the race is lost: the application's
    # unique open_person_id, or the person record / audit chain people writes first.
    assert getattr(losers[0], "code", None) in ("open_application_exists", "concurrent_change")
    assert count(platform, Application) == 1


def test_database_refuses_a_second_open_application_row(platform, apply):
    """The guard behind the race: open_person_id is unique, closed rows (NULL) never clash."""
    app = apply()
    with platform.uow() as uow:
        row = uow.session.get(Application, app.id)
        clone = {c.key: getattr(row, c.key) for c in inspect(Application).columns
                 if c.key not in ("id", "version")}
    with platform.uow() as uow, pytest.raises(errors.OpenApplicationExists) as caught:
        uow.session.add(Application(**clone))
        service._flush_guarded(uow, app.person_id)
    assert caught.value.details["application_id"] == app.id
    with platform.uow() as uow:       # closed copies (open_person_id NULL) coexist
        uow.session.add_all([Application(**clone | {"open_person_id": None, "status": "cancelled"})
                             for _ in range(2)])
        uow.commit()
    assert count(platform, Application) == 3


def test_idempotent_submit(platform, apply):
    person = new_applicant()
    first = apply(person, key="k-1")
    again = apply(person, key="k-1")
    assert again.id == first.id and count(platform, Application) == 1


@ONLY_ON_POSTGRES
def test_a_retry_whose_first_try_commits_just_after_its_key_check_answers_that_application(platform, apply,
                                                                                            monkeypatch):
    """The first try commits after the retry looked up the key: the retry then finds the person's
    open application, which is its own first try's, and answers it."""
    person = new_applicant()
    from yikatong.db.uow import UnitOfWork

    first_try, replay = [], UnitOfWork.replay

    def check_then_the_first_try_lands(uow, *args):
        answer = replay(uow, *args)
        if not first_try:
            monkeypatch.setattr(UnitOfWork, "replay", replay)
            first_try.append(apply(person, key="k-race"))
        return answer

    monkeypatch.setattr(UnitOfWork, "replay", check_then_the_first_try_lands)
    retried = apply(person, key="k-race")
    assert retried.id == first_try[0].id and count(platform, Application) == 1


@ONLY_ON_POSTGRES
def test_a_retry_that_overtakes_the_first_try_answers_that_application(platform, apply, monkeypatch):
    """A registered person: the first try has added its application but not committed when the
    retry comes; the retry waits at the one-open-application index, then answers the first's."""
    from yikatong.db.uow import UnitOfWork

    person = new_applicant()
    with platform.uow() as uow:  # registered by an application that was then rejected
        service.reject(uow=uow, actor=OUTLET, application_id=apply(person).id, reason="照片不合格")
    holding, commit_allowed, remember = threading.Event(), threading.Event(), UnitOfWork.remember

    def remember_then_wait(uow, *args):
        remember(uow, *args)
        if threading.current_thread().name == "first try":
            holding.set()  # the application added, not committed
            assert commit_allowed.wait(timeout=20)

    monkeypatch.setattr(UnitOfWork, "remember", remember_then_wait)
    outcome = overtake(platform, lambda: apply(person, key="k-overtaken").id, holding, commit_allowed)
    assert isinstance(outcome["first try"], int) and outcome["retry"] == outcome["first try"], outcome
    assert count(platform, Application) == 2


def test_reject_and_cancel_close_the_application(platform, apply):
    person = new_applicant()
    app = apply(person)
    with platform.uow() as uow:
        service.reject(uow=uow, actor=OUTLET, application_id=app.id, reason="原件不清晰")
    with pytest.raises(errors.IllegalTransition):
        with platform.uow() as uow:
            service.approve(uow=uow, actor=OUTLET, application_id=app.id)
    again = apply(person)                # rejected is closed: the person may apply again
    with platform.uow() as uow:
        cancelled = service.cancel(uow=uow, actor=OUTLET, application_id=again.id, reason="本人撤回")
    assert cancelled.status == "cancelled"
    with platform.uow() as uow:
        assert service.open_applications_for(uow=uow, person_id=app.person_id) == []


def test_replacement_after_formal_loss_and_unblock_cancels_it(platform, apply):
    from yikatong.cards.service import get_card, report_loss, unblock

    person = new_applicant()
    first = walk_to_hand_over(platform, apply(person).id)
    with pytest.raises(DomainError) as caught:
        apply(person, pickup(kind="replacement"))
    assert "replacement" in caught.value.code
    online = Actor(user_id="h", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                   person_id=first.person_id)
    with platform.uow() as uow:
        report_loss(uow=uow, actor=online, card_no=first.card_no, kind="formal_loss")
        uow.commit()
    replacement = apply(person, pickup(kind="replacement"))
    assert replacement.predecessor_card_no == first.card_no
    with platform.uow() as uow:
        service.approve(uow=uow, actor=OUTLET, application_id=replacement.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:       # the lost card turns up: unblock online, same channel
        outcome = unblock(uow=uow, actor=online, card_no=first.card_no)
        uow.commit()
    with platform.uow() as uow:
        cancelled = service.get_application(uow=uow, actor=ADMIN, application_id=replacement.id)
        new_card = get_card(uow=uow, card_no=cancelled.card_no)
    assert cancelled.status == "cancelled" and new_card.state == "cancelled"
    assert outcome.cancelled_replacements == (cancelled.card_no,)


def test_exchange_needs_the_transit_refund_first(platform, apply):
    from yikatong.cards.errors import WalletRefundNotAllowed
    from yikatong.cards.service import get_card, record_wallet_refund

    person = new_applicant()
    first = walk_to_hand_over(platform, apply(person).id)
    exchange = pickup(kind="exchange", exchange_reason="damage")
    with pytest.raises(DomainError) as caught:
        apply(person, exchange)
    assert caught.value.code == "transit_balance_not_refunded"
    direct = Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                   branch_code="SMK-DIRECT-01")
    partner = Actor(user_id="smk-p", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                    branch_code="SMK-PARTNER-01")
    with platform.uow() as uow, pytest.raises(WalletRefundNotAllowed):  # only direct outlets refund
        record_wallet_refund(uow=uow, actor=partner, card_no=first.card_no, refunded_fen=0)
    with platform.uow() as uow:
        record_wallet_refund(uow=uow, actor=direct, card_no=first.card_no, refunded_fen=0)
        uow.commit()
    with pytest.raises(DomainError) as caught:   # unreadable is only for a damage exchange
        apply(person, pickup(kind="exchange", exchange_reason="info_change", card_unreadable=True))
    assert caught.value.code == "invalid_input"
    unreadable = apply(person, pickup(kind="exchange", exchange_reason="damage",
                                      card_unreadable=True))
    with platform.uow() as uow:       # not held back; cancel it and go the refunded way
        service.cancel(uow=uow, actor=OUTLET, application_id=unreadable.id, reason="卡可读")
    app = apply(person, exchange)
    assert app.predecessor_card_no == first.card_no
    done = walk_to_hand_over(platform, app.id)
    with platform.uow() as uow:
        assert get_card(uow=uow, card_no=first.card_no).state == "retired"
        assert get_card(uow=uow, card_no=done.card_no).state == "in_use"


def test_factory_failure_returns_the_application_to_approved(platform, apply):
    app = apply()
    with platform.uow() as uow:
        service.approve(uow=uow, actor=OUTLET, application_id=app.id)
    factory = SimulatedCardFactory(fail_application_ids=frozenset({app.id}), polls_before_ready=1)
    outcome = production.run_production(uows=platform.uow, actor=ADMIN, factory=factory)
    assert outcome.complete and outcome.failures[0][0] == app.id
    assert outcome.batch.produced == 0 and outcome.batch.failed == 1
    with platform.uow() as uow:
        assert service.get_application(uow=uow, actor=ADMIN, application_id=app.id).status == "approved"
    again = production.run_production(uows=platform.uow, actor=ADMIN,
                                      factory=platform.get(CardFactory))
    assert len(again.produced_card_nos) == 1
    # A second collect of a finished batch changes nothing.
    repeat = production.collect_production_batch(uows=platform.uow, actor=ADMIN,
                                                 factory=platform.get(CardFactory),
                                                 batch_id=again.batch.id)
    assert repeat.complete and repeat.batch.produced == 1


def test_a_batch_the_factory_forgot_is_handed_over_again_and_collected(platform, apply):
    """A factory that does not know the batch any more (the simulated one keeps batches in
    memory: a restart, or another process) is given it again under the same reference, and
    the collect completes; it answered 503 card_factory_unavailable for good before (the
    contract sweep on the seeded population met it)."""
    kept, cancelled = apply(), apply()
    for app in (kept, cancelled):
        with platform.uow() as uow:
            service.approve(uow=uow, actor=OUTLET, application_id=app.id)
    with platform.uow() as uow:
        batch = production.start_production_batch(uow=uow, actor=ADMIN, factory=SimulatedCardFactory())
    with platform.uow() as uow:
        service.cancel(uow=uow, actor=OUTLET, application_id=cancelled.id, reason="changed mind")
    restarted = SimulatedCardFactory()
    outcome = production.collect_production_batch(uows=platform.uow, actor=ADMIN, factory=restarted,
                                                  batch_id=batch.id)
    assert outcome.complete and outcome.batch.produced == 1 and outcome.failures == ()
    [order] = restarted.received[f"SIM-PB{batch.id:06d}"].orders  # the cancelled one not again
    assert order.application_id == kept.id
    with platform.uow() as uow:
        assert service.get_application(uow=uow, actor=ADMIN, application_id=kept.id).status == "produced"


def test_nothing_to_produce(platform):
    with pytest.raises(errors.NothingToProduce), platform.uow() as uow:
        production.start_production_batch(uow=uow, actor=ADMIN, factory=SimulatedCardFactory())


def test_chip_personalisation_through_the_chip_package(platform, apply, chip_directory):
    """Production personalises the chip under the platform's key store and keeps it in the
    chip store; the emulated card answers with the registry's numbers."""
    from yikatong.chip.protocols import ChipStore

    app = apply()
    with platform.uow() as uow:
        service.approve(uow=uow, actor=OUTLET, application_id=app.id)
    outcome = production.run_production(uows=platform.uow, actor=ADMIN,
                                        factory=platform.get(CardFactory),
                                        personalise=production.chip_personaliser(platform))
    [card_no] = outcome.produced_card_nos
    assert (chip_directory / f"{card_no}.json").is_file()
    card = platform.get(ChipStore).load(card_no)
    assert card.card_no == card_no


def test_employer_batch_mixed_rows(platform):
    employer = Actor(user_id="hr-acme", role=Role.EMPLOYER_AGENT, channel=Channel.EMPLOYER,
                     account_id=7, employer_uscc="91320400MA1M9XK3P" + uscc_check("91320400MA1M9XK3P"))
    agent = service.AgentData(name="单位经办人", document_type="resident_id_card",
                              document_number="320411200106150034")
    repeat = new_applicant()
    rows = [
        service.EmployeeRow(new_applicant(), pickup()),
        service.EmployeeRow(new_applicant(document_number="320402199003070014"), pickup()),
        service.EmployeeRow(new_applicant(), pickup(bank="HSBC")),
        service.EmployeeRow(repeat, pickup()),
        service.EmployeeRow(repeat, pickup()),
        service.EmployeeRow(new_applicant(photo_jpeg=None), pickup()),
    ]
    before = count(platform, Application)
    batch = service.submit_employer_batch(
        uows=platform.uow, actor=employer, employer_name="常州示例科技有限公司", agent=agent,
        employees=rows, authorisation_letter_ref="WT-2026-0001")
    outcome = [(r.accepted, r.code) for r in batch.rows]
    assert outcome == [(True, None), (False, "invalid_id_number"), (False, "unknown_bank"),
                       (True, None), (False, "open_application_exists"),
                       (False, "photo_required")]
    assert (batch.accepted, batch.rejected) == (2, 4)
    assert count(platform, Application) == before + 2
    with platform.uow() as uow:
        stored = service.get_employer_batch(uow=uow, actor=employer, batch_id=batch.id)
        modes = {a.mode for a in service.list_applications(uow=uow)}
    assert stored == batch and modes == {"employer"}


def test_employer_batch_with_bad_uscc_records_nothing(platform):
    employer = Actor(user_id="hr-acme", role=Role.EMPLOYER_AGENT, channel=Channel.EMPLOYER, account_id=7)
    agent = service.AgentData(name="经办人", document_type="resident_id_card",
                              document_number="320411200106150034")
    before = count(platform, AuditRecord)
    with pytest.raises(errors.InvalidUscc):
        service.submit_employer_batch(
            uows=platform.uow, actor=employer, employer_name="x", agent=agent,
            employees=[service.EmployeeRow(new_applicant(), pickup())],
            uscc="91320400MA1M9XK3P0")
    assert count(platform, AuditRecord) == before and count(platform, Application) == 0


def test_manual_identity_review_holds_the_application(platform, apply):
    from yikatong.people.service import resolve_review

    person = new_applicant(birth=date(1985, 11, 20), gender="F", name="李静")
    first = apply(person)
    # Same name, birth date and gender under another ID number: people routes it to review.
    held = apply(new_applicant(birth=date(1985, 11, 20), gender="F", name="李静"))
    assert held.status == "awaiting_identity_review" and held.person_id is None
    with platform.uow() as uow, pytest.raises(errors.IdentityReviewOpen):
        service.resolve_identity_review(uow=uow, actor=OUTLET, application_id=held.id)
    from yikatong.people.service import approve_review

    maker = Actor(user_id="maker", role=Role.SS_OUTLET, channel=Channel.OUTLET)
    checker = Actor(user_id="checker", role=Role.SS_OUTLET, channel=Channel.OUTLET)
    with platform.uow() as uow:
        resolve_review(uow=uow, actor=maker, review_id=held.identity_review_id,
                       resolution="merge", reason="同一人，新旧证件")
        uow.commit()
    with platform.uow() as uow:  # the merge attaches to an existing person: a second operator
        approve_review(uow=uow, actor=checker, review_id=held.identity_review_id)
        uow.commit()
    with platform.uow() as uow, pytest.raises(errors.OpenApplicationExists):
        service.resolve_identity_review(uow=uow, actor=OUTLET, application_id=held.id)
    stranger = apply(new_applicant()).person_id  # anyone the review did not settle on
    with platform.uow() as uow, pytest.raises(errors.NotTheReviewedPerson):
        service.resolve_identity_review(uow=uow, actor=OUTLET, application_id=held.id,
                                        person_id=stranger)
    with platform.uow() as uow:
        service.cancel(uow=uow, actor=OUTLET, application_id=first.id, reason="重复")
    with platform.uow() as uow:
        resumed = service.resolve_identity_review(uow=uow, actor=OUTLET, application_id=held.id)
    assert resumed.status == "submitted" and resumed.person_id == first.person_id


def _correct_name(platform, person_id: int, name: str) -> None:
    from yikatong.people.service import approve_correction, propose_correction

    maker = Actor(user_id="maker", role=Role.SS_OUTLET, channel=Channel.OUTLET)
    checker = Actor(user_id="checker", role=Role.SS_OUTLET, channel=Channel.OUTLET)
    with platform.uow() as uow:
        correction = propose_correction(uow=uow, actor=maker, person_id=person_id,
                                        changes={"name": name}, reason="户籍更名")
        uow.commit()
    with platform.uow() as uow:
        approve_correction(uow=uow, actor=checker, correction_id=correction.id)
        uow.commit()


def test_corrected_printed_data_opens_an_exchange(platform, apply):
    from yikatong.applications.jobs import exchange_on_printed_data_change
    from yikatong.cards.service import record_wallet_refund

    done = walk_to_hand_over(platform, apply(new_applicant()).id)
    with platform.uow() as uow:
        record_wallet_refund(uow=uow, actor=ADMIN, card_no=done.card_no, refunded_fen=0)
        uow.commit()
    _correct_name(platform, done.person_id, "张更名")
    assert exchange_on_printed_data_change(platform) == 1
    assert exchange_on_printed_data_change(platform) == 0      # the cursor moved on
    with platform.uow() as uow:
        [opened] = service.open_applications_for(uow=uow, person_id=done.person_id)
    assert (opened.kind, opened.exchange_reason, opened.channel) == ("exchange", "info_change",
                                                                      "outlet")
    assert opened.applicant_name == "张更名" and opened.predecessor_card_no == done.card_no
    assert opened.bank_code == done.bank_code


def test_an_exchange_for_a_passport_holder_records_the_passport(platform, apply):
    from yikatong.applications.jobs import exchange_on_printed_data_change
    from yikatong.cards.service import record_wallet_refund

    foreigner = new_applicant(name="Anna Berg", document_type="passport",
                              document_number="P9876543", nationality="SWE",
                              document_valid_until=None)
    done = walk_to_hand_over(platform, apply(foreigner).id)
    with platform.uow() as uow:
        record_wallet_refund(uow=uow, actor=ADMIN, card_no=done.card_no, refunded_fen=0)
        uow.commit()
    _correct_name(platform, done.person_id, "Anna Berg-Lund")
    assert exchange_on_printed_data_change(platform) == 1
    with platform.uow() as uow:
        [opened] = service.open_applications_for(uow=uow, person_id=done.person_id)
    assert (opened.document_type, opened.document_number) == ("passport", "P9876543")


def test_correction_without_a_transit_refund_is_skipped_and_audited(platform, apply):
    from yikatong.applications.jobs import exchange_on_printed_data_change

    done = walk_to_hand_over(platform, apply(new_applicant()).id)
    _correct_name(platform, done.person_id, "王未退")
    assert exchange_on_printed_data_change(platform) == 1
    with platform.uow() as uow:
        assert service.open_applications_for(uow=uow, person_id=done.person_id) == []
        skipped = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "application.auto_exchange_skipped")).scalar_one()
    assert "transit_balance_not_refunded" in skipped.reason


class _SloppyFactory(SimulatedCardFactory):
    """Returns a malformed card number for one order and a foreign BIN for another."""

    def __init__(self, bad: int, foreign_bin: int) -> None:
        super().__init__()
        self.bad, self.foreign_bin = bad, foreign_bin

    def _mint(self, application_id, bin_prefixes):
        card = super()._mint(application_id, bin_prefixes)
        if application_id == self.bad:
            return dataclasses.replace(card, card_no="bad-no")
        if application_id == self.foreign_bin:
            return dataclasses.replace(card, pan=rules.luhn_complete("999999" + card.pan[6:18]))
        return card


def test_malformed_factory_numbers_are_refused_and_unlisted_bins_only_warned(platform, apply):
    ids = [apply().id for _ in range(3)]
    for application_id in ids:
        with platform.uow() as uow:
            service.approve(uow=uow, actor=OUTLET, application_id=application_id)
    outcome = production.run_production(uows=platform.uow, actor=ADMIN,
                                        factory=_SloppyFactory(bad=ids[0], foreign_bin=ids[1]))
    assert [a for a, _ in outcome.failures] == [ids[0]]
    assert "card_no" in outcome.failures[0][1]
    assert len(outcome.produced_card_nos) == 2 and len(outcome.warnings) == 1
    with platform.uow() as uow:
        statuses = [service.get_application(uow=uow, actor=ADMIN, application_id=i).status
                    for i in ids]
    assert statuses == ["approved", "produced", "produced"]
