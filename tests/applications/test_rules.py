"""Pure rules: transitions, channels, delivery, USCC, Luhn, simulated factory numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yikatong.applications import errors, rules
from yikatong.applications.protocols import CardFace, CardOrder, FactoryBatch
from yikatong.applications.reference import SimulatedCardFactory

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def uscc_check(body: str) -> str:
    """GB 32100-2015 §5: C18 = 31 − (Σ Ci·Wi mod 31), Wi = 3^(i−1) mod 31; 31 → '0'."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@pytest.mark.parametrize(("current", "target", "legal"), [
    ("submitted", "approved", True),
    ("submitted", "awaiting_identity_review", True),
    ("awaiting_identity_review", "submitted", True),
    ("awaiting_identity_review", "approved", False),
    ("approved", "in_production", True),
    ("in_production", "produced", True),
    ("in_production", "approved", True),          # factory failed the card
    ("produced", "ready_for_pickup", True),
    ("produced", "shipped", True),
    ("produced", "handed_over", False),           # must reach the holder's hands first
    ("ready_for_pickup", "handed_over", True),
    ("shipped", "handed_over", True),
    ("handed_over", "cancelled", False),
    ("rejected", "approved", False),
    ("cancelled", "submitted", False),
    ("submitted", "produced", False),
])
def test_transitions(current, target, legal):
    if legal:
        rules.check_transition(current, target)
    else:
        with pytest.raises(errors.IllegalTransition):
            rules.check_transition(current, target)


def test_open_and_closed_states_partition_the_machine():
    assert rules.CLOSED == {"handed_over", "cancelled", "rejected"}
    assert rules.OPEN | rules.CLOSED == set(rules.STATUSES)


# 四.5 and 四.8, one row per case.
@pytest.mark.parametrize(("kind", "channel", "reason", "provincial", "live", "error"), [
    ("first", "outlet", None, False, False, None),
    ("first", "outlet", None, True, False, None),      # old provincial card: exchange at outlet
    ("first", "online", None, False, False, None),
    ("first", "online", None, True, False, errors.ProvincialCardHolderMustVisitOutlet),
    ("first", "online", None, False, True, errors.OnlineFirstIssueOnly),
    ("replacement", "online", None, False, True, None),
    ("replacement", "outlet", None, False, True, None),
    ("exchange", "outlet", "info_change", False, True, None),
    ("exchange", "outlet", "damage", False, True, None),
    ("exchange", "outlet", "financial_expiry", False, True, None),
    ("exchange", "online", "damage", False, True, errors.ExchangeOnlyAtOutlet),
    ("exchange", "outlet", "bored", False, True, errors.UnknownExchangeReason),
    ("exchange", "outlet", None, False, True, errors.UnknownExchangeReason),
    ("first", "outlet", "damage", False, False, errors.ExchangeReasonWithoutExchange),
    ("replacement", "online", "info_change", False, True, errors.ExchangeReasonWithoutExchange),
])
def test_channel_rules(kind, channel, reason, provincial, live, error):
    call = dict(kind=kind, channel=channel, exchange_reason=reason,
                had_provincial_card=provincial, has_live_card=live)
    if error is None:
        rules.check_channel_rules(**call)
    else:
        with pytest.raises(error):
            rules.check_channel_rules(**call)


@pytest.mark.parametrize(("channel", "delivery", "outlet", "address", "ok"), [
    ("outlet", "pickup", "SS-TN-01", None, True),
    ("outlet", "ems_cod", None, "常州市天宁区示例路1号", False),   # EMS only for online
    ("online", "ems_cod", None, "常州市天宁区示例路1号", True),
    ("online", "ems_cod", None, None, False),                   # EMS needs an address
    ("online", "pickup", "SS-TN-01", None, True),
    ("online", "pickup", None, None, False),
    ("online", "drone", None, None, False),
])
def test_delivery(channel, delivery, outlet, address, ok):
    call = dict(channel=channel, delivery=delivery, pickup_outlet_code=outlet,
                mailing_address=address)
    if ok:
        rules.check_delivery(**call)
    else:
        with pytest.raises(errors.DeliveryNotAllowed):
            rules.check_delivery(**call)


@pytest.mark.parametrize("body", ["91320400MA1M9XK3P", "91110000600037341", "Y1320400MA1M0000A",
                                  "12320400466285765", "5132040050000123X"])
def test_uscc_valid_when_check_character_computed(body):
    code = body + uscc_check(body)
    assert rules.check_uscc(code.lower()) == code


@pytest.mark.parametrize("body", ["91320400MA1M9XK3P", "91110000600037341"])
def test_uscc_wrong_check_character(body):
    good = uscc_check(body)
    wrong = next(c for c in USCC_ALPHABET if c != good)
    with pytest.raises(errors.InvalidUscc) as caught:
        rules.check_uscc(body + wrong)
    assert caught.value.http_status == 422


@pytest.mark.parametrize("code", ["", "9132040", "91320400MA1M9XK3PI1",      # length
                                  "91320400MA1M9XK3PI", "91320400MA1M9XK3PO",   # I/O not allowed
                                  "913204A0MA1M9XK3P1",                         # region not digits
                                  "91\u0663\u0662\u0660\u0664\u0660\u0660MA1M9XK3P1"])  # not ASCII digits
def test_uscc_malformed(code):
    with pytest.raises(errors.InvalidUscc):
        rules.check_uscc(code)


def test_employer_needs_a_credential():
    assert rules.check_employer_credential(uscc=None, authorisation_letter_ref="WT-2026-001") is None
    with pytest.raises(errors.MissingEmployerCredential):
        rules.check_employer_credential(uscc=None, authorisation_letter_ref="  ")


@pytest.mark.parametrize(("pan", "ok"), [
    ("6217000000000000004", True),    # domain-rules §2 test vector
    ("6217000000000000005", False),
    ("621700000000004", False),       # too short
    ("62170000000000000A4", False),
])
def test_pan(pan, ok):
    assert rules.pan_is_valid(pan) is ok


def _order(application_id: int, bins=("621226",)) -> CardOrder:
    from datetime import date

    face = CardFace(bank_code="ICBC", bank_name="中国工商银行常州分行", bank_hotline="95588",
                    name="王晓明", ssn="320402199003070013", person_code="x",
                    issue_date=date(2026, 3, 2), issuing_seal="seal", hr_hotline="12333",
                    photo_jpeg=None)
    return CardOrder(application_id=application_id, face=face, bin_prefixes=bins)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=10**8 - 1), min_size=2, max_size=40),
       st.sampled_from(["621226", "622848", "6217", "62"]))
def test_simulated_factory_mints_valid_unique_numbers(ids, bin_prefix):
    factory = SimulatedCardFactory()
    batch_id = factory.submit_batch(FactoryBatch(
        reference="PB1", orders=tuple(_order(i, (bin_prefix,)) for i in sorted(ids))))
    cards = factory.results(batch_id).produced
    assert len(cards) == len(ids)
    for card in cards:
        assert rules.produced_card_problems(card_no=card.card_no, card_id_code=card.card_id_code,
                                            asn=card.asn, pan=card.pan) == []
        assert card.pan.startswith(bin_prefix) and len(card.pan) == 19
        assert card.card_id_code.startswith("320400D156")
    for attribute in ("card_no", "card_id_code", "chip_serial", "asn", "pan"):
        assert len({getattr(c, attribute) for c in cards}) == len(ids)


def test_simulated_factory_is_asynchronous_and_reports_failures():
    factory = SimulatedCardFactory(polls_before_ready=2, fail_application_ids=frozenset({2}))
    batch = FactoryBatch(reference="PB7", orders=(_order(1), _order(2)))
    batch_id = factory.submit_batch(batch)
    assert factory.submit_batch(batch) == batch_id              # a retried submit dedupes
    assert [factory.results(batch_id).complete for _ in range(2)] == [False, False]
    done = factory.results(batch_id)
    assert done.complete
    assert [c.application_id for c in done.produced] == [1]
    assert [f.application_id for f in done.failed] == [2]
