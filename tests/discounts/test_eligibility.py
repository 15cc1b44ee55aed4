"""Every eligibility condition the issue names (card kind, rider category, region, new holders,
and age) works for every campaign kind: a till's 满减, a voucher a holder claims, a voucher the
sponsor grants, a transit rebate. Table-driven: one row per condition, an eligible holder and one
refused, run on each kind. And what cannot apply is refused with a 4xx, never stored and ignored.

A card's kind is the partner bank whose co-branded social security card it is (cards.Card.
bank_code); the rider category is the registry's today for a till or a voucher, the one the
validator read for a tap; the region is the ID number's; a new holder's first card was issued
on or after the day; the age is on the day (the tap's, or today)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import date

import pytest
from sqlalchemy import select

from tests.banking.helpers import produce
from tests.discounts import test_rebates as _rebates
from tests.discounts.conftest import SPONSOR, TILL, holder, reduction_campaign
from tests.discounts.test_rebates import campaign as rebate_campaign
from tests.discounts.test_rebates import holder_card, ride_file, run
from yikatong.applications.reference import synthetic_photo
from yikatong.clearing import simulation
from yikatong.core.actor import Actor
from yikatong.discounts import errors, service
from yikatong.discounts.rebate_models import TransitRebate
from yikatong.people.samples import make_citizen_ssn
from yikatong.people.service import register_applicant

pytestmark = pytest.mark.db

world = _rebates.world  # the clearing tests' transit world (fixture): its platform serves every kind
ADMIN = Actor.system("eligibility-tests")
_serial = itertools.count(1)


@dataclass(frozen=True)
class Holder:
    bank: str = "ICBC"               # the card's kind
    region: str = "320402"           # the ID number's first six digits
    born: date = date(1985, 5, 1)
    issued: date = date(2026, 1, 5)  # the person's first (and only) card
    rider: str = "adult"             # what the transit card's file 0017 says


OLD, YOUNG = date(1950, 5, 1), date(1990, 5, 1)
CONDITIONS = {
    # condition: (eligibility, a holder who qualifies, one who does not)
    "card_kinds": ({"card_kinds": ["ICBC"]}, Holder(bank="ICBC"), Holder(bank="BOC")),
    "regions": ({"regions": ["3204"]}, Holder(region="320402"), Holder(region="110101")),
    "new_holders_since": ({"new_holders_since": "2026-02-01"}, Holder(issued=date(2026, 2, 20)),
                          Holder(issued=date(2025, 6, 1))),
    "min_age": ({"min_age": 60}, Holder(born=OLD), Holder(born=YOUNG)),
    "max_age": ({"max_age": 40}, Holder(born=YOUNG), Holder(born=OLD)),
    # the registry's category today: 70 and over is senior_70 (the card is adult: a tap pays)
    "rider_categories": ({"rider_categories": ["senior_70"]}, Holder(born=OLD), Holder(born=YOUNG)),
}
# For a tap the category is the one the validator read from the card (a student card pays a fare).
TAP_RIDER = ({"rider_categories": ["student"]}, Holder(rider="student"), Holder(rider="adult"))
KINDS = ("till", "claimed_voucher", "granted_voucher", "transit_rebate")


def person(platform, h: Holder) -> int:
    n = next(_serial)
    ssn = make_citizen_ssn(h.region, h.born, "F", seq=500 + 2 * (n % 240))
    name = "条件" + "".join("零一二三四五六七八九"[int(d)] for d in str(n))  # one person per name
    with platform.uow() as uow:
        outcome = register_applicant(
            uow=uow, actor=ADMIN, name=name, document_type="resident_id_card", document_number=ssn, gender="F",
            birth_date=h.born, nationality="CHN", phone="13812345678", document_valid_until=date(2036, 1, 1),
            as_of=date(2026, 3, 2), photo_jpeg=synthetic_photo(ssn))
        uow.commit()
    assert outcome.outcome == "new", outcome
    return outcome.person_id


def voucher_campaign(platform, code: str, eligibility: dict) -> None:
    with platform.uow() as uow:
        service.create_campaign(uow=uow, actor=SPONSOR, code=code, kind="tourism_voucher", name_zh="券", name_en="v",
                                budget_fen=100_000, starts_on=date(2026, 3, 1), ends_on=date(2026, 5, 31),
                                rule={"face_fen": 3_000}, eligibility=eligibility)


def benefits(world, kind: str, eligibility: dict, h: Holder) -> bool:
    """Whether holder `h` gets the campaign of `kind` with `eligibility` (a fresh campaign each)."""
    platform = world.platform
    code = f"E{next(_serial)}"
    person_id = person(platform, h)
    if kind == "transit_rebate":
        rebate_campaign(platform, code, eligibility=eligibility)
        card = _card_with_rider(world, h.rider)
        holder_card(world, person_id=person_id, bank_code=h.bank, issue_date=h.issued, card=card)
        view = run(platform, ride_file(world, (world.gate_in("0101"), world.gate_out("0104")), [(card, (8, 0))]))
        with platform.uow() as uow:
            granted = uow.session.execute(select(TransitRebate.amount).where(TransitRebate.campaign == code)).scalars()
            return any(granted) and view.amount > 0
    card = produce(platform, person_id=person_id, bank_code=h.bank, issue_date=h.issued)
    try:
        with platform.uow() as uow:
            if kind == "till":
                reduction_campaign(platform, code=code, eligibility=eligibility)
                service.redeem(uow=uow, actor=TILL, campaign_code=code, card_no=card.card_no, order_fen=20_000,
                               idempotency_key=f"k-{code}")
            elif kind == "claimed_voucher":
                voucher_campaign(platform, code, eligibility)
                service.claim_voucher(uow=uow, actor=holder(person_id), campaign_code=code, idempotency_key=code)
            else:
                voucher_campaign(platform, code, eligibility)
                service.grant_voucher(uow=uow, actor=SPONSOR, campaign_code=code, person_id=person_id,
                                      idempotency_key=code)
    except errors.NotEligible:
        return False
    return True


def _card_with_rider(world, rider: str):
    """One of our cards whose file 0017 carries `rider` (what a validator reads and charges by)."""
    made = simulation._personalisation
    simulation._personalisation = lambda *args: replace(made(*args), rider=rider)
    try:
        return world.card()
    finally:
        simulation._personalisation = made


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_each_condition_on_each_kind(world, kind, condition):
    eligibility, qualifies, refused = CONDITIONS[condition]
    if (kind, condition) == ("transit_rebate", "rider_categories"):
        eligibility, qualifies, refused = TAP_RIDER
    assert benefits(world, kind, eligibility, qualifies)
    assert not benefits(world, kind, eligibility, refused)


def test_a_grant_to_a_person_without_a_card_meets_only_conditions_without_one(world):
    platform = world.platform
    voucher_campaign(platform, "NOCARD-KIND", {"card_kinds": ["ICBC"]})
    voucher_campaign(platform, "NOCARD-AGE", {"min_age": 18})
    person_id = person(platform, Holder())
    with pytest.raises(errors.NotEligible), platform.uow() as uow:
        service.grant_voucher(uow=uow, actor=SPONSOR, campaign_code="NOCARD-KIND", person_id=person_id,
                              idempotency_key="g1")
    with platform.uow() as uow:
        assert service.grant_voucher(uow=uow, actor=SPONSOR, campaign_code="NOCARD-AGE", person_id=person_id,
                                     idempotency_key="g2").face_fen == 3_000


BASE = {"name_zh": "条件", "name_en": "conditions", "budget_fen": 100_000, "starts_on": "2026-03-01",
        "ends_on": "2026-03-31"}
REDUCTION = {"kind": "spend_reduction", "rule": {"tiers": [[10_000, 1_000]]}}
REBATE = {"kind": "transit_rebate", "rule": {"rate_bp": 5000}}
VOUCHER = {"kind": "tourism_voucher", "rule": {"face_fen": 3_000}}


REFUSED = [
    # where a tap was: the transit rule's, never eligibility, never another kind's rule
    ({**REBATE, "eligibility": {"modes": ["metro"]}}, "modes"),
    ({**REDUCTION, "eligibility": {"lines": ["1"]}}, "lines"),
    ({**VOUCHER, "eligibility": {"operators": ["CZBUS"]}}, "operators"),
    ({**REDUCTION, "rule": {"tiers": [[10_000, 1_000]], "modes": ["metro"]}}, "modes"),
    ({**VOUCHER, "rule": {"face_fen": 3_000, "tap_regions": ["3040"]}}, "tap_regions"),
    # the card kind is eligibility's, and a partner bank's code
    ({**REBATE, "rule": {"rate_bp": 5000, "card_kinds": ["social_security"]}}, "card_kinds"),
    ({**REDUCTION, "eligibility": {"card_kinds": ["social_security"]}}, "card_kinds"),
    ({**REDUCTION, "eligibility": {"bank_codes": ["ICBC"]}}, "bank_codes"),
    ({**VOUCHER, "eligibility": {"rider_categories": ["pensioner"]}}, "rider_categories"),
    ({**VOUCHER, "eligibility": {"regions": ["Changzhou"]}}, "regions"),
    ({**REBATE, "rule": {"rate_bp": 5000, "credit_to": "cash"}}, "credit_to"),
    ({**REBATE, "eligibility": {"unheard_of": True}}, "unheard_of"),
]


def test_what_cannot_apply_is_refused_not_stored(platform, client, login):
    sponsor = login(SPONSOR.role, branch_code="CZ-HRSS")
    for body, why in REFUSED:
        answer = client.post("/api/v1/discounts/campaigns", headers=sponsor, json={**BASE, "code": "BAD", **body})
        assert answer.status_code == 422, (why, answer.text)
        assert why in answer.text, (why, answer.text)
    assert client.get("/api/v1/discounts/campaigns/BAD", headers=sponsor).status_code == 404
    ok = client.post("/api/v1/discounts/campaigns", headers=sponsor, json={
        **BASE, "code": "OK", **REBATE, "rule": {"rate_bp": 5000, "modes": ["metro"], "credit_to": "account"},
        "eligibility": {"card_kinds": ["ICBC"], "rider_categories": ["student"], "regions": ["3204"]}})
    assert ok.status_code == 201, ok.text
    assert (ok.json()["rule"]["credit_to"], ok.json()["eligibility"]["card_kinds"]) == ("account", ["ICBC"])


@pytest.mark.parametrize("eligibility", [
    {"modes": ["metro"]}, {"card_kinds": ["NOPE"]}, {"bank_codes": ["ICBC"]}, {"rider_categories": ["pensioner"]},
    {"regions": ["32a4"]}, {"min_age": 70, "max_age": 60}, {"new_holders_since": "soon"},
])
def test_the_service_refuses_them_too(platform, eligibility):
    with pytest.raises(errors.CampaignInvalid), platform.uow() as uow:
        service.create_campaign(uow=uow, actor=SPONSOR, code="BAD", kind="spend_reduction", name_zh="x",
                                name_en="x", budget_fen=1_000, starts_on=date(2026, 3, 1),
                                ends_on=date(2026, 3, 31), rule={"tiers": [[10_000, 1_000]]},
                                eligibility=eligibility)
