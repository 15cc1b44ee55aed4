"""The e-card follows the physical card through the real cards and applications services:
sync issuance, consent, losses and re-authorisation, unblock, replacement, exchange,
transfer out, death, freeze; QR codes verified online and by an offline terminal."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from tests.applications.conftest import ADMIN, pickup, walk_to_hand_over
from tests.cards.conftest import PHONE, bank_branch, produce
from tests.cards.conftest import hand_over as hand_over_card
from tests.ecard.conftest import (
    Holder,
    ecard_count,
    new_card_by_application,
    redeem,
    status_lists,
    terminal,
    verify,
)

from yikatong.audit.models import AuditRecord
from yikatong.cards import service as cards
from yikatong.core.actor import Actor, Channel, Role
from yikatong.crypto.protocols import KeyStore
from yikatong.ecard import service, status_list
from yikatong.ecard.errors import ConsentNotGiven, EcardRefused, NotLost
from yikatong.ecard.jobs import sync_from_outbox
from yikatong.ecard.tokens import TokenRejected

pytestmark = pytest.mark.db


def refused_reason(call) -> str:
    with pytest.raises((EcardRefused, TokenRejected)) as caught:
        call()
    return caught.value.details["reason"]


def bit(platform, purpose: str, index: int) -> bool:
    credential = next(c for c in status_lists(platform)
                      if c["credentialSubject"]["statusPurpose"] == purpose)
    return status_list.bit_is_set(credential["credentialSubject"]["encodedList"], index)


def test_applying_for_the_card_creates_the_ecard_at_once(platform, applied):
    person = applied()
    ecard = person.ecard()
    assert (ecard.state, ecard.card_status, ecard.card_no) == ("active", "applied", None)
    assert len(ecard.ecard_no) == 16 and ecard_count(platform) == 1
    assert not ecard.usable_channels  # issued to the channels, usable after consent (四.15)
    person.grant("wechat_mini")
    person.set_password()
    assert person.ecard().usable_channels == ("wechat_mini",)
    assert verify(platform, person.qr("wechat_mini")).valid  # before the card is even made
    card_no = walk_to_hand_over(platform, person.application_id).card_no
    after = person.ecard()
    assert (after.ecard_no, after.card_no, after.card_status) == (ecard.ecard_no, card_no, "normal")
    # The outbox catch-up sees the same events the bus delivered and applies none twice.
    assert sync_from_outbox(platform) > 0 and ecard_count(platform) == 1
    with platform.uow() as uow:
        actions = uow.session.execute(select(AuditRecord.action).where(
            AuditRecord.entity_type == "ecard", AuditRecord.entity_id == ecard.ecard_no)
            .order_by(AuditRecord.seq)).scalars().all()
    assert actions[0] == "ecard.created" and "ecard.rebound" in actions


def test_a_holder_acting_before_the_event_arrives_gets_the_ecard_on_the_spot(platform, applied):
    """A busy dispatcher may deliver the application event seconds late; the holder's consent
    issues the e-card itself, and the late event then finds it and adds no second one."""
    hooks = list(platform.after_commit)
    platform.after_commit.clear()  # events stay in the outbox, as behind a busy dispatcher
    person = applied()
    assert ecard_count(platform) == 0
    person.grant("alipay_mini")
    assert ecard_count(platform) == 1 and person.ecard().usable_channels == ("alipay_mini",)
    platform.after_commit.extend(hooks)
    assert sync_from_outbox(platform) >= 0 and ecard_count(platform) == 1


def test_a_refused_application_revokes_the_ecard_of_a_person_without_card(platform, applied):
    from yikatong.applications import service as applications

    person = applied()
    index = person.ecard().status_index
    with platform.uow() as uow:
        applications.reject(uow=uow, actor=ADMIN, application_id=person.application_id,
                            reason="照片不合格")
    assert person.ecard().state == "revoked" and bit(platform, "revocation", index)


def test_qr_online_and_offline_then_loss_reauthorisation_and_unblock(platform, holder, clock):
    person = holder(consent=("official_app", "wechat_mini"))
    index = person.ecard().status_index
    token = person.qr()
    shown = verify(platform, token)
    assert shown.valid and shown.card_status == "normal"
    offline = terminal(platform)
    assert offline.verify(token, now=clock.now()).status_index == index
    assert redeem(platform, token).valid
    assert refused_reason(lambda: redeem(platform, token)) == "replayed"
    assert refused_reason(lambda: offline.verify(token, now=clock.now())) == "replayed"

    before_loss = person.qr()
    clock.advance(seconds=5)
    person.card_op(cards.report_loss, kind="temporary_loss")
    ecard = person.ecard()
    assert (ecard.state, ecard.card_status, ecard.usable_channels) == (
        "restricted", "temporary_loss", ())
    assert refused_reason(lambda: person.qr()) == "needs_reauthorisation"
    assert verify(platform, before_loss).reason == "suspended"
    assert refused_reason(lambda: redeem(platform, before_loss)) == "suspended"
    assert offline.check(before_loss, now=clock.now())  # it still holds the old list
    offline.refresh(status_lists(platform), now=clock.now())
    assert refused_reason(lambda: offline.check(before_loss, now=clock.now())) == "suspended"
    assert bit(platform, "suspension", index)

    clock.advance(minutes=1)
    person.reauthorise("official_app")  # the phone was not lost
    ecard = person.ecard()
    assert ecard.state == "restricted" and ecard.usable_channels == ("official_app",)
    assert refused_reason(lambda: person.qr("wechat_mini")) == "needs_reauthorisation"
    again = person.qr()
    offline.refresh(status_lists(platform), now=clock.now())
    assert verify(platform, again).valid and offline.verify(again, now=clock.now())
    assert not bit(platform, "suspension", index)

    clock.advance(minutes=1)  # a formal loss is a new report: consent must follow it
    person.card_op(cards.report_loss, kind="formal_loss")
    assert person.ecard().usable_channels == ()
    clock.advance(minutes=1)
    person.card_op(cards.unblock)  # the card was found: everything back, no new consent
    ecard = person.ecard()
    assert (ecard.state, set(ecard.usable_channels)) == ("active", {"official_app", "wechat_mini"})
    assert verify(platform, person.qr("wechat_mini")).valid
    with pytest.raises(NotLost):
        person.reauthorise()


def test_formal_loss_at_a_bank_branch_and_unblock_there(platform, holder, clock):
    """The issue's end-to-end case: formal loss at a bank branch → HR status lost → e-card
    refused → QR verification refused until the holder re-authorises; unblock → all usable."""
    person = holder(consent=("official_app", "bank_icbc"))
    shown = person.qr()
    branch = bank_branch("ICBC", "ICBC-CZ-001")
    person.card_op(cards.report_loss, actor=branch, kind="formal_loss")
    with platform.uow() as uow:
        assert cards.get_card(uow=uow, card_no=person.card_no).hr_status == "formal_loss"
    assert person.ecard().state == "restricted"
    assert refused_reason(lambda: person.qr()) == "needs_reauthorisation"
    assert verify(platform, shown).reason == "suspended"
    assert refused_reason(lambda: redeem(platform, shown)) == "suspended"
    clock.advance(seconds=1)
    person.reauthorise()
    assert verify(platform, shown).valid and verify(platform, person.qr()).valid
    assert refused_reason(lambda: person.qr("bank_icbc")) == "needs_reauthorisation"
    person.card_op(cards.unblock, actor=branch)
    after = person.ecard()
    assert (after.state, set(after.usable_channels)) == ("active", {"official_app", "bank_icbc"})


def test_twelve_three_temporary_loss_ends_by_itself_after_seven_days(platform, holder, clock):
    person = holder(consent=("alipay_mini",))
    person.card_op(cards.report_loss, actor=PHONE, kind="temporary_loss")
    assert person.ecard().state == "restricted"
    clock.advance(hours=168)
    assert person.ecard().state == "active"  # derived on read, before any job records it
    assert person.ecard().usable_channels == ("alipay_mini",)


def test_replacement_rebinds_the_same_ecard_without_a_new_application(platform, holder, clock):
    person = holder()
    before = person.ecard()
    person.card_op(cards.report_loss, kind="formal_loss")
    new_card = new_card_by_application(person, pickup(kind="replacement"))
    after = person.ecard()
    assert ecard_count(platform) == 1
    assert (after.ecard_no, after.status_index) == (before.ecard_no, before.status_index)
    assert (after.card_no, after.state, after.card_status) == (new_card, "active", "normal")
    assert after.usable_channels == ("official_app",)  # the consent carried over
    assert verify(platform, person.qr()).valid


def test_exchange_rebinds_the_same_ecard(platform, holder):
    person = holder()
    ecard_no = person.ecard().ecard_no
    smk = Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                branch_code="SMK-DIRECT-01")
    with platform.uow() as uow:
        cards.record_wallet_refund(uow=uow, actor=smk, card_no=person.card_no, refunded_fen=0)
        uow.commit()
    new_card = new_card_by_application(person, pickup(kind="exchange", exchange_reason="damage"))
    after = person.ecard()
    assert (after.ecard_no, after.card_no, after.state) == (ecard_no, new_card, "active")
    assert ecard_count(platform) == 1


@pytest.mark.parametrize("leave", ["transfer_out", "death"])
def test_cancelling_the_card_revokes_the_ecard(platform, holder, clock, leave):
    person = holder()
    ecard = person.ecard()
    shown = person.qr()
    offline = terminal(platform)
    if leave == "transfer_out":
        person.card_op(cards.transfer_out, actor=ADMIN, destination_province="31",
                       rule_note="上海：转入后换发上海卡")
    else:
        person.card_op(cards.retire_deceased, actor=ADMIN, note="户籍注销")
    revoked = person.ecard()
    reason = "transferred_out" if leave == "transfer_out" else "deceased"
    assert (revoked.state, revoked.reason, revoked.ecard_no) == ("revoked", reason, ecard.ecard_no)
    assert revoked.revoked_at is not None and not revoked.usable_channels
    assert bit(platform, "revocation", ecard.status_index)
    assert not bit(platform, "suspension", ecard.status_index)
    assert verify(platform, shown).reason == "revoked"
    offline.refresh(status_lists(platform), now=clock.now())
    assert refused_reason(lambda: offline.verify(shown, now=clock.now())) == "revoked"
    assert refused_reason(lambda: person.qr()) == reason
    assert refused_reason(lambda: person.grant("wechat_mini")) == reason


def test_freeze_suspends_and_cannot_be_reauthorised_away(platform, holder):
    person = holder()
    person.card_op(cards.freeze, actor=ADMIN, reason_code="fraud_check")
    assert person.ecard().state == "suspended"
    assert refused_reason(lambda: person.reauthorise()) == "card_frozen"
    assert bit(platform, "suspension", person.ecard().status_index)
    person.card_op(cards.unfreeze, actor=ADMIN)
    assert person.ecard().state == "active" and verify(platform, person.qr()).valid


def test_an_expired_financial_function_does_not_stop_the_ecard(platform, clock):
    """domain-rules §8; a card entered without an application still gets its e-card."""
    card = produce(platform, person_id=4242, issue_date=date(2015, 1, 10))
    hand_over_card(platform, card.card_no)
    with platform.uow() as uow:
        view = cards.get_card(uow=uow, card_no=card.card_no)
        assert view.financial_valid_until < clock.now().date()
    person = Holder(platform, 4242, None, None, card.card_no)
    assert person.ecard().state == "active"
    person.grant("unionpay_app")
    assert person.ecard().usable_channels == ("unionpay_app",)


def test_withdrawing_consent_blocks_that_channel_only(platform, holder):
    person = holder(consent=("official_app", "bank_icbc", "zhangshang_12333"))
    person.withdraw("bank_icbc")
    assert set(person.ecard().usable_channels) == {"official_app", "zhangshang_12333"}
    assert refused_reason(lambda: person.qr("bank_icbc")) == "no_consent"
    assert verify(platform, person.qr("zhangshang_12333")).valid
    with pytest.raises(ConsentNotGiven):
        person.withdraw("bank_icbc")
    person.grant("bank_icbc")
    assert person.channel("bank_icbc").usable


def test_expired_and_forged_codes_are_refused(platform, holder, clock):
    from yikatong.crypto.sm2 import Sm2Signer, generate_keypair
    from yikatong.ecard.tokens import TokenClaims, issue_token, read_genuine

    person = holder()
    token = person.qr()
    offline = terminal(platform)
    clock.advance(seconds=60)
    assert verify(platform, token).reason == "expired"
    assert refused_reason(lambda: redeem(platform, token)) == "expired"
    assert refused_reason(lambda: offline.verify(token, now=clock.now())) == "expired"
    keys = service.verifiers(platform.get(KeyStore))
    genuine = read_genuine(token, keys)
    forged = issue_token(Sm2Signer(generate_keypair()[0]), TokenClaims(
        key_version=genuine.key_version, status_index=genuine.status_index,
        ecard_no=genuine.ecard_no, issued_at=clock.now().replace(microsecond=0),
        valid_for=timedelta(seconds=60), nonce=b"12345678"))
    result = verify(platform, forged)
    assert (result.genuine, result.valid, result.reason, result.name_masked) == (
        False, False, "forged", None)
    assert refused_reason(lambda: redeem(platform, forged)) == "forged"
    assert refused_reason(lambda: offline.verify(forged, now=clock.now())) == "forged"


def test_concurrent_redemptions_use_a_code_once(platform, holder):
    import threading

    person = holder()
    token = person.qr()
    outcomes: list[str] = []

    def use() -> None:
        try:
            redeem(platform, token)
            outcomes.append("ok")
        except TokenRejected as error:
            outcomes.append(error.details["reason"])
        except Exception as error:  # SQLite may report the writer lock instead
            outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1
