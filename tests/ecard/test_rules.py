"""Pure rules: the e-card's status from the card's facts, channels, listing, password, masks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.directory.rules import packaged_banks
from yikatong.ecard import rules
from yikatong.ecard.errors import WeakEcardPassword
from yikatong.ecard.rules import CardFacts, ConsentFacts, EcardState, ListedState

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def card(state="in_use", hr_status="normal", end_reason=None, blocks=()):
    return CardFacts(card_no="C00000001", state=state, hr_status=hr_status,
                     end_reason=end_reason, hr_blocks=tuple(blocks))


@pytest.mark.parametrize("facts, application_open, state, reason, card_status", [
    # 同步申领: usable once applied for, before any card exists
    (None, True, EcardState.ACTIVE, "ok", "applied"),
    (None, False, EcardState.REVOKED, "no_card", "none"),
    (card("produced", "not_in_use"), False, EcardState.ACTIVE, "ok", "not_in_use"),
    (card(), False, EcardState.ACTIVE, "ok", "normal"),
    (card(hr_status="temporary_loss", blocks=[("temporary_loss", T0)]), False,
     EcardState.RESTRICTED, "card_lost", "temporary_loss"),
    (card(hr_status="formal_loss", blocks=[("formal_loss", T0)]), False,
     EcardState.RESTRICTED, "card_lost", "formal_loss"),
    # a freeze wins over a loss, whatever the HR status says first
    (card(hr_status="formal_loss", blocks=[("formal_loss", T0), ("freeze", T0)]), False,
     EcardState.SUSPENDED, "card_frozen", "formal_loss"),
    (card("retired", "retired", "deceased"), False, EcardState.REVOKED, "deceased", "retired"),
    (card("retired", "retired", "transferred_out"), False, EcardState.REVOKED,
     "transferred_out", "retired"),
    # back in Jiangsu and applying again: a new e-card is issued at once
    (card("retired", "retired", "transferred_out"), True, EcardState.ACTIVE, "ok", "applied"),
    (card("cancelled", "cancelled", "cancelled"), False, EcardState.REVOKED, "no_card",
     "cancelled"),
])
def test_status_follows_the_physical_card(facts, application_open, state, reason, card_status):
    status = rules.derive_status(revoked_reason=None, card=facts, application_open=application_open)
    assert (status.state, status.reason, status.card_status) == (state, reason, card_status)


def test_a_revoked_ecard_stays_revoked():
    status = rules.derive_status(revoked_reason="deceased", card=card(), application_open=True)
    assert status.state == EcardState.REVOKED and status.reason == "deceased"


def test_loss_start_is_the_latest_loss_in_force():
    later = T0 + timedelta(hours=2)
    status = rules.derive_status(revoked_reason=None, application_open=False, card=card(
        hr_status="formal_loss", blocks=[("temporary_loss", T0), ("formal_loss", later)]))
    assert status.loss_started_at == later


def consent(granted=T0 - timedelta(days=1), withdrawn=None, reauthorised=None):
    return ConsentFacts(granted_at=granted, withdrawn_at=withdrawn, reauthorised_at=reauthorised)


LOST = rules.derive_status(revoked_reason=None, application_open=False,
                           card=card(hr_status="temporary_loss", blocks=[("temporary_loss", T0)]))
ACTIVE = rules.derive_status(revoked_reason=None, application_open=False, card=card())


@pytest.mark.parametrize("status, given_consent, refusal", [
    (ACTIVE, None, "no_consent"),
    (ACTIVE, consent(), None),
    (ACTIVE, consent(withdrawn=T0), "no_consent"),
    (LOST, consent(), "needs_reauthorisation"),
    (LOST, consent(reauthorised=T0 - timedelta(seconds=1)), "needs_reauthorisation"),
    (LOST, consent(reauthorised=T0 + timedelta(seconds=1)), None),
    (LOST, consent(granted=T0 + timedelta(minutes=3)), None),  # agreeing after the loss counts
    (LOST, consent(reauthorised=T0 + timedelta(seconds=1), withdrawn=T0 + timedelta(1)),
     "no_consent"),
])
def test_channel_refusals(status, given_consent, refusal):
    assert rules.channel_refusal(status, given_consent) == refusal


def test_listing_for_offline_terminals():
    assert rules.listed_state(ACTIVE, []) == ListedState.CLEAR  # no consent is not suspension
    assert rules.listed_state(LOST, [consent()]) == ListedState.SUSPENDED
    assert rules.listed_state(LOST, [consent(), consent(reauthorised=T0 + timedelta(1))]) \
        == ListedState.CLEAR
    frozen = rules.derive_status(revoked_reason=None, application_open=False,
                                 card=card(hr_status="frozen", blocks=[("freeze", T0)]))
    assert rules.listed_state(frozen, [consent(reauthorised=T0 + timedelta(1))]) \
        == ListedState.SUSPENDED
    gone = rules.derive_status(revoked_reason="deceased", card=None, application_open=False)
    assert rules.listed_state(gone, [consent()]) == ListedState.REVOKED


def test_channels_are_the_seeds_list():
    codes = [c.code for c in rules.channel_catalogue(packaged_banks())]
    assert codes[:8] == ["official_app", "wechat_mini", "alipay_mini", "gov_service_platform",
                         "state_council_wechat", "zhangshang_12333", "unionpay_app",
                         "jiangsu_smart_hr"]
    banks = [c.bank_code for c in rules.channel_catalogue(packaged_banks()) if c.bank_code]
    assert banks == ["ICBC", "ABC", "CCB", "BOCOM", "BOC", "PSBC"]  # 四.15


@pytest.mark.parametrize("password, accepted", [
    ("739164", True), ("205813", True), ("123456", False), ("654321", False), ("000000", False),
    ("999999", False), ("121212", False), ("123123", False), ("12345", False),
    ("1234567", False), ("12a456", False), ("", False), ("７３９１６４", False),
    ("0013", False),
    ("900307", False),  # born 1990-03-07: yymmdd
    ("030790", False),  # mmddyy
    ("070013", False),  # the ID number's last six
])
def test_password_rules(password, accepted):
    check = lambda: rules.check_new_password(  # noqa: E731
        password, ssn="320402199003070013", birth_date=date(1990, 3, 7))
    if accepted:
        check()
    else:
        with pytest.raises(WeakEcardPassword):
            check()


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=6, max_size=6))
def test_only_six_ascii_digits_pass(text):
    try:
        rules.check_new_password(text)
    except WeakEcardPassword:
        return
    assert text.isascii() and text.isdigit()


@pytest.mark.parametrize("name, masked", [
    ("张三丰", "张*丰"), ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("王", "*"), ("", ""),
    ("Alice Smith", "A*********h"),
])
def test_name_mask(name, masked):
    assert rules.mask_name(name) == masked


def test_status_list_size_grows_in_whole_blocks():
    assert rules.list_size(0, 131_072) == 131_072
    assert rules.list_size(131_071, 131_072) == 131_072
    assert rules.list_size(131_072, 131_072) == 262_144
