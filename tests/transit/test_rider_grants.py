"""Rider categories set against a proof (grants.py): a citizen-card outlet grants a registered
person the student or disabled category, the card's file 0017 follows at its next online
contact and a real validator charges that category's fare; an expired or revoked grant is
rewritten back. Bad requests are refused with their code and change nothing; a retried grant
is one grant. A card that keeps refusing the rewrite is flagged after three refusals, listed for
staff, no longer sent the update, and tried again after a reset or a new grant."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import ONLY_ON_POSTGRES, wait_for_a_lock_wait
from tests.transit.conftest import COUNTER, E_WALLET, approved_applicant, phone, produced_card, psam
from tests.transit.test_rider_updates import file_0017, holder, relay, rewrites, top_up
from yikatong.audit.models import AuditRecord
from yikatong.chip.apps.purse import management_info
from yikatong.core.actor import Role
from yikatong.db.idempotency import IdempotencyRecord
from yikatong.events.models import OutboxEvent
from yikatong.transit import grants, riders, rules, service
from yikatong.transit.fare_config import default_fare_config
from yikatong.transit.fare_rules import RiderCategory
from yikatong.transit.models import RiderGrant, TransitWallet
from yikatong.transit.validator import Validator, bus, metro_entry, metro_exit

pytestmark = pytest.mark.db
API = "/api/v1/transit"
PUPIL_BORN, ADULT_BORN = date(2014, 9, 1), date(1980, 4, 4)
TODAY = date(2026, 3, 2)  # the clock fixture: 2026-03-02 09:30 in Changzhou
SCHOOL_YEAR_ENDS = date(2026, 7, 31)
ADULT_FILE, STUDENT_FILE = management_info("3040", "adult"), management_info("3040", "student")
DISABLED_FILE = management_info("3040", "disabled")
_terminals = iter(range(1, 1000))


@pytest.fixture
def counter(login):
    return login(Role.CITIZEN_OUTLET, username="smk-rider-desk", channel="citizen_outlet", branch_code="SMK-DIRECT-01")


def grant_body(person_id: int, category: str = "student", **fields) -> dict:
    proof = {"student": "student_status_certificate", "disabled": "disability_certificate"}.get(category, "x")
    body = {"person_id": person_id, "category": category, "proof_kind": proof,
            "proof_reference": "XJ3204022014090100123", "valid_until": SCHOOL_YEAR_ENDS.isoformat()}
    return {**body, **fields}


def grant(client, headers, body: dict, key: str = "grant-key-0001"):
    return client.post(f"{API}/rider-grants", json=body, headers={**headers, "Idempotency-Key": key})


def metro_ride(keystore, card, at: datetime):
    """Enter at 0101, leave at 0104 (4.00 CNY before discounts) half an hour later."""
    gate_in = Validator(psam(keystore, f"3040600{next(_terminals):05d}"), metro_entry("3040", "0101", "CZMETRO"))
    gate_out = Validator(psam(keystore, f"3040600{next(_terminals):05d}"), metro_exit("3040", "0104", "CZMETRO"))
    assert gate_in.tap(card.present(), at).accepted
    return gate_out.tap(card.present(), at + timedelta(minutes=30))


def counts(platform) -> tuple[int, int, int, int]:
    with platform.uow() as uow:
        return tuple(uow.session.execute(select(func.count()).select_from(table)).scalar_one()
                     for table in (RiderGrant, AuditRecord, IdempotencyRecord, OutboxEvent))


# --- the journey: grant → rewrite → fare → expiry / revocation → rewritten back ---------------


def test_a_student_grant_rewrites_the_card_the_metro_charges_half_and_expiry_rewrites_it_back(
        client, counter, login, wallet_platform, make_card, keystore, clock):
    pupil = holder(wallet_platform, PUPIL_BORN)
    card = make_card(person_id=pupil, birth_date=PUPIL_BORN)
    adult_ride = metro_ride(keystore, card, datetime(2026, 3, 1, 0, 0, tzinfo=UTC)) if top_up(
        wallet_platform, card).state == "done" else None
    assert adult_ride.accepted and adult_ride.amount == 380 and adult_ride.rider is RiderCategory.ADULT

    granted = grant(client, counter, grant_body(pupil))
    assert granted.status_code == 201, granted.text
    shown = granted.json()
    assert (shown["category"], shown["state"], shown["in_force"], shown["valid_from"]) == (
        "student", "active", True, TODAY.isoformat())
    assert shown["proof_reference"] == "*****************0123" and shown["outlet_code"] == "SMK-DIRECT-01"

    at_counter = top_up(wallet_platform, card)
    told = at_counter.rider_update
    assert at_counter.state == "done" and (told.before, told.after, told.written) == ("adult", "student", True)
    assert "中小学生" in told.zh and "student" in told.en and file_0017(card) == STUDENT_FILE
    ride = metro_ride(keystore, card, datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    assert ride.accepted and ride.rider is RiderCategory.STUDENT and ride.amount == 200  # 4.00 × 50%
    assert ride.decision.discount.rule_id == "discount.cz-metro-student"

    clock.set(datetime(2026, 7, 31, 15, 0, tzinfo=UTC))  # 23:00 on the last day: still a student
    assert service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update is None
    clock.set(datetime(2026, 7, 31, 16, 0, tzinfo=UTC))  # 00:00 on 1 August in Changzhou: it ended
    back = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update
    assert (back.before, back.after, back.written) == ("student", "adult", True) and file_0017(card) == ADULT_FILE
    counter = login(Role.CITIZEN_OUTLET, channel="citizen_outlet", branch_code="SMK-DIRECT-01")  # months later
    listed = client.get(f"{API}/rider-grants", params={"person_id": pupil}, headers=counter).json()
    assert [(g["state"], g["in_force"]) for g in listed] == [("expired", False)]
    assert [r.after["rider"] for r in rewrites(wallet_platform, card.asn)] == ["student", "adult"]

    # the next school year's certificate: the expired grant makes room for the new one
    renewed = grant(client, counter, grant_body(pupil, valid_until="2027-07-31"), key="grant-key-0002")
    assert renewed.status_code == 201, renewed.text
    states = [(g["id"], g["state"]) for g in client.get(f"{API}/rider-grants", params={"person_id": pupil},
                                                        headers=counter).json()]
    assert states == [(renewed.json()["id"], "active"), (shown["id"], "expired")]


def test_a_revoked_grant_is_rewritten_back_at_the_next_contact(client, counter, wallet_platform, make_card):
    pupil = holder(wallet_platform, PUPIL_BORN)
    card = make_card(person_id=pupil, birth_date=PUPIL_BORN)
    granted = grant(client, counter, grant_body(pupil)).json()
    assert service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update.written
    assert file_0017(card) == STUDENT_FILE

    revoked = client.post(f"{API}/rider-grants/{granted['id']}/revoke", json={"reason": "证明有误 recorded in error"},
                          headers=counter)
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["state"], revoked.json()["in_force"], revoked.json()["revoke_reason"]) == (
        "revoked", False, "证明有误 recorded in error")
    back = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update
    assert (back.before, back.after) == ("student", "adult") and file_0017(card) == ADULT_FILE
    again = client.post(f"{API}/rider-grants/{granted['id']}/revoke", json={"reason": "twice"}, headers=counter)
    assert again.status_code == 409 and again.json()["code"] == "transit_rider_grant_not_active"
    with wallet_platform.uow() as uow:
        audited = uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "transit_rider_grant")).scalars().all()
    assert [(a.action, a.reason) for a in audited] == [(grants.GRANTED, None),
                                                      (grants.REVOKED_ACTION, "证明有误 recorded in error")]
    assert audited[0].after["proof_reference"].endswith("0123") and "XJ32040220" not in str(audited[0].after)


def test_a_disabled_grant_without_an_end_rides_free(client, counter, wallet_platform, make_card, keystore):
    rider = holder(wallet_platform, ADULT_BORN)
    card = make_card(person_id=rider, birth_date=ADULT_BORN)
    body = grant_body(rider, "disabled", proof_reference="32040219800404123X42")
    del body["valid_until"]
    granted = grant(client, counter, body)
    assert granted.status_code == 201 and granted.json()["valid_until"] is None, granted.text
    assert top_up(wallet_platform, card).rider_update.after == "disabled" and file_0017(card) == DISABLED_FILE
    on_bus = Validator(psam(keystore, "304060000888"), bus("3040", "1", "CZBUS")).tap(
        card.present(), datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    underground = metro_ride(keystore, card, datetime(2026, 3, 3, 2, 0, tzinfo=UTC))
    for ride in (on_bus, underground):
        assert ride.accepted and ride.amount == 0 and ride.rider is RiderCategory.DISABLED
        assert ride.decision.discount.rule_id == "discount.cz-free-senior-disabled"
    assert card.balance == 2000


def test_a_student_card_without_a_grant_is_rewritten_to_what_the_registry_says(wallet_platform, make_card):
    """Every configured category is managed now: a card showing student with no grant behind it
    (written by hand, or a grant since ended) follows the registry."""
    card = make_card(person_id=holder(wallet_platform, PUPIL_BORN), birth_date=PUPIL_BORN, rider="student")
    told = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update
    assert (told.before, told.after, told.written) == ("student", "adult", True) and file_0017(card) == ADULT_FILE


def test_personalisation_writes_the_granted_category_into_a_new_card(platform, monkeypatch, tmp_path, keystore):
    """A pupil granted the student category before the card is made: production writes student
    into 0017 and the metro charges half."""
    from yikatong.chip import terminal
    from yikatong.chip.host import LoadHost
    from yikatong.chip.psam import Psam
    from yikatong.crypto.protocols import KeyStore

    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    pupil = approved_applicant(platform, PUPIL_BORN)
    with platform.uow() as uow:
        grants.grant_rider_category(uow=uow, actor=COUNTER, idempotency_key="issue-grant-1", person_id=pupil,
                                    category="student", proof_kind="student_card", proof_reference="S-2026-0042",
                                    valid_until=SCHOOL_YEAR_ENDS)
        uow.commit()
    reader = produced_card(platform)
    keys = platform.get(KeyStore)
    at = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    terminal.load(reader, LoadHost(keys), 1000, bytes.fromhex("304010000001"), at)
    gate_in = Validator(Psam(keys, terminal_id=bytes.fromhex("304060000991")), metro_entry("3040", "0101", "CZMETRO"))
    gate_out = Validator(Psam(keys, terminal_id=bytes.fromhex("304060000992")), metro_exit("3040", "0104", "CZMETRO"))
    gate_in.tap(reader, at + timedelta(minutes=5))
    out = gate_out.tap(reader, at + timedelta(minutes=35))
    assert out.accepted and out.rider is RiderCategory.STUDENT and out.amount == 200


# --- what a grant request may say -----------------------------------------------------------


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"category": "veteran"}, 422, "transit_rider_category_unknown"),
    ({"category": "adult"}, 422, "transit_rider_category_unknown"),
    ({"category": "senior_70"}, 422, "transit_rider_category_by_age"),
    ({"proof_kind": "disability_certificate"}, 422, "transit_rider_proof_kind"),
    ({"valid_until": None}, 422, "transit_rider_grant_needs_end"),
    ({"valid_until": TODAY.isoformat()}, 422, "transit_rider_grant_end_past"),
    ({"valid_until": "2025-07-31"}, 422, "transit_rider_grant_end_past"),
    ({"valid_until": "2027-03-04"}, 422, "transit_rider_grant_too_long"),  # 367 days: a mistyped year
    ({"person_id": 999_999}, 404, "person_not_found"),
    ({"proof_reference": ""}, 422, "invalid_input"),
    ({"person_id": 10**30}, 422, "invalid_input"),
])
def test_a_bad_grant_request_is_refused_with_its_code_and_changes_nothing(client, counter, wallet_platform,
                                                                         change, status, code):
    pupil = holder(wallet_platform, PUPIL_BORN)
    before = counts(wallet_platform)
    refused = grant(client, counter, {**grant_body(pupil), **change})
    assert refused.status_code == status and refused.json()["code"] == code, refused.text
    assert refused.json()["title"] and refused.json()["title_en"]
    assert "XJ3204022014090100123" not in refused.text
    assert counts(wallet_platform) == before


def test_wrong_roles_and_a_missing_idempotency_key_are_refused(client, counter, login, wallet_platform):
    pupil = holder(wallet_platform, PUPIL_BORN)
    others = [login(role, channel=channel, **({"person_id": pupil} if role is Role.HOLDER else {}))
              for role, channel in ((Role.HOLDER, "online_app"), (Role.SS_OUTLET, "outlet"),
                                    (Role.TRANSIT_OPERATOR, None))]
    before = counts(wallet_platform)
    no_key = client.post(f"{API}/rider-grants", json=grant_body(pupil), headers=counter)
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json()["title_en"]
    for someone in others:
        for method, path, body in (("POST", "rider-grants", grant_body(pupil)),
                                   ("GET", f"rider-grants?person_id={pupil}", None),
                                   ("POST", "rider-grants/1/revoke", {"reason": "no"}),
                                   ("GET", "rider-rewrites/refused", None),
                                   ("POST", f"rider-rewrites/{'0' * 20}/reset", None)):
            refused = client.request(method, f"{API}/{path}", json=body,
                                     headers={**someone, "Idempotency-Key": "role-key-0001"})
            assert refused.status_code == 403 and refused.json()["code"] == "forbidden", (path, refused.text)
    assert counts(wallet_platform) == before


def test_a_retried_grant_is_one_grant_and_a_second_active_one_is_refused(client, counter, wallet_platform):
    pupil = holder(wallet_platform, PUPIL_BORN)
    first = grant(client, counter, grant_body(pupil))
    retry = grant(client, counter, grant_body(pupil))
    assert first.status_code == retry.status_code == 201 and retry.json() == first.json()
    after_one = counts(wallet_platform)
    other_body = grant(client, counter, grant_body(pupil, valid_until="2026-06-30"))
    assert other_body.status_code == 409 and other_body.json()["code"] == "idempotency_key_reused"
    second = grant(client, counter, grant_body(pupil, valid_until="2026-06-30"), key="grant-key-0002")
    assert second.status_code == 409 and second.json()["code"] == "transit_rider_grant_exists", second.text
    assert counts(wallet_platform) == after_one
    assert [g["id"] for g in client.get(f"{API}/rider-grants", params={"person_id": pupil},
                                        headers=counter).json()] == [first.json()["id"]]


OVERTAKEN = dict(actor=COUNTER, idempotency_key="overtaken-1", category="student",
                 proof_kind="student_status_certificate", proof_reference="XJ3204022014090100123",
                 valid_until=SCHOOL_YEAR_ENDS)


def grants_of(platform, person_id: int) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(RiderGrant).where(
            RiderGrant.person_id == person_id)).scalar_one()


@ONLY_ON_POSTGRES
def test_a_retry_that_overtakes_the_first_try_answers_its_grant(wallet_platform):
    """The first try has written its grant but not committed when the retry (same key) arrives:
    the retry waits on the one-active index and then answers the first try's grant."""
    pupil = holder(wallet_platform, PUPIL_BORN)
    outcome = {}
    with wallet_platform.uow() as first, wallet_platform.uow() as retry:
        made = grants.grant_rider_category(uow=first, person_id=pupil, **OVERTAKEN)

        def retried():
            outcome["view"] = grants.grant_rider_category(uow=retry, person_id=pupil, **OVERTAKEN)
            retry.commit()

        thread = threading.Thread(target=retried)
        thread.start()
        wait_for_a_lock_wait(wallet_platform)  # the retry is at the index, not before it
        first.commit()
        thread.join(timeout=30)
    assert outcome["view"] == made and grants_of(wallet_platform, pupil) == 1


@ONLY_ON_POSTGRES
def test_a_retry_whose_first_try_commits_just_after_its_replay_check_answers_its_grant(wallet_platform,
                                                                                          monkeypatch):
    """The first try commits between the retry's idempotency check and its look for an active
    grant: the retry finds the grant and then the key's answer."""
    pupil = holder(wallet_platform, PUPIL_BORN)
    with wallet_platform.uow() as first, wallet_platform.uow() as retry:
        made = grants.grant_rider_category(uow=first, person_id=pupil, **OVERTAKEN)
        checks = []

        def replay_then_the_first_commits(*args):
            answer = type(retry).replay(retry, *args)
            if not checks:
                first.commit()
            checks.append(answer)
            return answer

        monkeypatch.setattr(retry, "replay", replay_then_the_first_commits)
        answered = grants.grant_rider_category(uow=retry, person_id=pupil, **OVERTAKEN)
        retry.commit()
    assert answered == made and checks[0] is None and checks[1] is not None
    assert grants_of(wallet_platform, pupil) == 1


def test_a_grant_and_its_revocation_are_announced_without_the_proof(client, counter, wallet_platform):
    pupil = holder(wallet_platform, PUPIL_BORN)
    granted = grant(client, counter, grant_body(pupil)).json()
    client.post(f"{API}/rider-grants/{granted['id']}/revoke", json={"reason": "recorded in error"}, headers=counter)
    with wallet_platform.uow() as uow:
        events = uow.session.execute(select(OutboxEvent).where(OutboxEvent.aggregate_type == "transit_rider_grant")
                                     .order_by(OutboxEvent.seq)).scalars().all()
        announced = [(e.type, e.payload["category"], e.payload["granted"], e.payload["valid_until"]) for e in events]
        payloads = str([e.payload for e in events])
    assert announced == [(grants.GRANTED, "student", True, SCHOOL_YEAR_ENDS.isoformat()),
                         (grants.REVOKED_ACTION, "student", False, SCHOOL_YEAR_ENDS.isoformat())]
    assert "XJ3204022014090100123" not in payloads and "0100123" not in payloads


# --- a card that keeps refusing the rewrite ---------------------------------------------------


def refusing_card(wallet_platform, make_card, counter_grant):
    """A pupil granted student whose card's maintenance key is not ours: it answers 6988."""
    pupil = holder(wallet_platform, PUPIL_BORN)
    card = make_card(person_id=pupil, birth_date=PUPIL_BORN)
    purse_df = next(df for df in card.chip.mf.walk() if df.purse is not None)
    purse_df.key("maintenance", 1).value = bytes(range(16))
    return card, counter_grant(pupil)


def sent_instructions(card) -> list[int]:
    """Record the INS byte of every command sent to the card from now on."""
    sent, transmit = [], card.reader.transmit

    def recording(apdu: bytes) -> bytes:
        sent.append(apdu[1])
        return transmit(apdu)

    card.reader.transmit = recording
    return sent


def wallet(platform, asn: str) -> TransitWallet:
    with platform.uow() as uow:
        return uow.session.execute(select(TransitWallet).where(TransitWallet.asn == asn)).scalar_one()


def flags(platform, asn: str) -> list[AuditRecord]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_id == asn, AuditRecord.action.in_((riders.REFUSED_ACTION, riders.RESET_ACTION)))
            .order_by(AuditRecord.seq)).scalars())


def test_three_refusals_flag_the_card_for_staff_and_stop_the_attempts_until_reset(client, counter, wallet_platform,
                                                                                make_card):
    card, granted = refusing_card(wallet_platform, make_card,
                                  lambda person: grant(client, counter, grant_body(person)).json())
    refused_list = lambda: client.get(f"{API}/rider-rewrites/refused", headers=counter).json()  # noqa: E731
    for attempt in (1, 2):
        told = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update
        assert not told.written and "6988" in told.zh and "outlet" in told.en
        assert wallet(wallet_platform, card.asn).rider_rewrite["refusals"] == attempt and refused_list() == []
    third = top_up(wallet_platform, card)
    assert third.state == "done" and "请到市民卡网点" in third.rider_update.zh
    [flagged] = refused_list()
    assert (flagged["asn"], flagged["on_card"], flagged["wanted"], flagged["refusals"], flagged["status"]) == (
        card.asn, "adult", "student", 3, "6988")
    assert flagged["card_no"] == card.card_no and flagged["last_seen_channel"] == "citizen_outlet"
    assert [f.action for f in flags(wallet_platform, card.asn)] == [riders.REFUSED_ACTION]

    sent = sent_instructions(card)
    fourth = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update
    assert not fourth.written and "请到市民卡网点" in fourth.zh and "outlet" in fourth.en
    assert 0xD6 not in sent  # no UPDATE BINARY any more
    assert wallet(wallet_platform, card.asn).rider_rewrite["refusals"] == 3
    assert len(flags(wallet_platform, card.asn)) == 1 and file_0017(card) == ADULT_FILE

    reset = client.post(f"{API}/rider-rewrites/{card.asn}/reset", headers=counter)
    assert reset.status_code == 200 and reset.json()["wanted"] == "student", reset.text
    assert refused_list() == [] and [f.action for f in flags(wallet_platform, card.asn)] == [
        riders.REFUSED_ACTION, riders.RESET_ACTION]
    not_flagged = client.post(f"{API}/rider-rewrites/{card.asn}/reset", headers=counter)
    assert not_flagged.status_code == 404 and not_flagged.json()["code"] == "transit_rider_rewrite_not_refused"
    sent.clear()
    service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert 0xD6 in sent and wallet(wallet_platform, card.asn).rider_rewrite["refusals"] == 1  # a fresh count

    # flagged again, then the grant is revoked: the flag goes with it, the card already shows adult
    for _ in (2, 3):
        service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert len(refused_list()) == 1
    revoked = client.post(f"{API}/rider-grants/{granted['id']}/revoke", json={"reason": "left school"},
                          headers=counter)
    assert revoked.status_code == 200 and refused_list() == []
    assert service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update is None


def test_a_relayed_contact_counts_each_refusal_once_although_each_round_replays_it(wallet_platform, make_card):
    def granted(person):
        with wallet_platform.uow() as uow:
            view = grants.grant_rider_category(uow=uow, actor=COUNTER, idempotency_key=f"relay-{person}",
                                               person_id=person, category="student", proof_kind="student_card",
                                               proof_reference="S-0001", valid_until=SCHOOL_YEAR_ENDS)
            uow.commit()
        return view

    card, _ = refusing_card(wallet_platform, make_card, granted)
    app = phone(card.person_id)
    for attempt in (1, 2, 3):
        reading = relay(wallet_platform, app, card.present(), "read")
        assert reading.state == "done", reading.problem
        assert reading.result["rider_update"]["written"] is False
        assert wallet(wallet_platform, card.asn).rider_rewrite["refusals"] == attempt
    assert wallet(wallet_platform, card.asn).rider_refused_at is not None
    assert len(flags(wallet_platform, card.asn)) == 1
    sent = sent_instructions(card)
    paid = service.create_top_up(platform=wallet_platform, actor=app, idempotency_key=f"nfc-{card.asn}",
                                 asn=card.asn, amount=1000, payer=E_WALLET)
    written = relay(wallet_platform, app, card.reader, "top_up", paid.order_no)
    assert written.state == "done" and written.result["state"] == "done", written.problem
    assert 0xD6 not in sent and "outlet" in written.result["rider_update"]["en"]


# --- the pure rules ---------------------------------------------------------------------------


@pytest.mark.no_db
@pytest.mark.parametrize(("reference", "masked"), [
    ("XJ3204022014090100123", "*****************0123"), ("S-0001", "****01"), ("abc", "***"), ("", ""),
])
def test_a_proof_reference_is_shown_masked(reference, masked):
    assert rules.mask_proof_reference(reference) == masked


@pytest.mark.no_db
def test_of_several_grants_the_card_carries_the_one_charged_least():
    fares = default_fare_config()
    assert rules.preferred_rider({RiderCategory.STUDENT, RiderCategory.DISABLED}, fares) is RiderCategory.DISABLED
    assert rules.preferred_rider({RiderCategory.STUDENT}, fares) is RiderCategory.STUDENT
    assert rules.preferred_rider(set(), fares) is None
    assert [r.value for r in rules.grantable_riders(fares)] == ["student", "disabled"]


@pytest.mark.no_db
@pytest.mark.parametrize(("on", "in_force"), [
    (TODAY - timedelta(days=1), False), (TODAY, True), (SCHOOL_YEAR_ENDS, True),
    (SCHOOL_YEAR_ENDS + timedelta(days=1), False),
])
def test_a_grant_is_in_force_from_its_first_to_its_last_day(on, in_force):
    assert rules.grant_in_force(TODAY, SCHOOL_YEAR_ENDS, on) is in_force
    assert rules.grant_in_force(TODAY, None, on) is (on >= TODAY)
