"""What the operation fault tests (test_operations.py) need in their template database, seeded
in-process with the domains' own test helpers and the key store the killed processes use:

* a card in use at ICBC, activated, for a formal loss at the bank's branch;
* a transit card (chip image in the chip store) read at the counter, for a cash top-up;
* a terminal file of bus taps by four of our cards, loaded at the outlet, for a clearing upload;
* an insured employee's outpatient visit at a Level 3 hospital, registered (2201) and its fee
  lines uploaded (2204), for a 2207 settlement;
* a 满减 campaign with a merchant enrolled and a holder with a card, for a till's redemption.

`seed(url, folder)` returns the facts the doors need (card numbers, the visit, the file's
path); the chip images and the clearing file are written under `folder`.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from yikatong.core.actor import Actor

SYSTEM = Actor.system("fault-tests")


def seed(url: str, folder: Path) -> dict:
    from tests.faults import payees
    from yikatong.core.settings import Settings
    from yikatong.platform import Platform

    folder.mkdir(parents=True, exist_ok=True)
    platform = Platform(Settings(database_url=url, key_store_path=str(folder / "keystore.json"),
                                 chip_store_path=str(folder / "chips")))
    payees.schema_and_reference_data(platform)
    facts = {
        "loss": seed_loss(platform),
        "top_up": seed_top_up(platform),
        "upload": seed_upload(platform, folder),
        "settle": seed_settle(platform),
        "redeem": seed_redeem(platform),
    }
    platform.engine.dispose()
    return facts


def seed_loss(platform) -> dict:
    from tests.cards.conftest import person_with_card

    _, _, card_no = person_with_card(platform, name="赵挂失", activate=True)
    return {"card_no": card_no}


def seed_top_up(platform) -> dict:
    """A card registered in use with its chip personalised under the platform's keys."""
    from tests.transit.conftest import SS_COUNTER
    from yikatong.applications.rules import luhn_complete
    from yikatong.cards import service as cards
    from yikatong.chip.emulator import Card
    from yikatong.chip.image import CardPersonalisation, personalise
    from yikatong.chip.protocols import ChipStore
    from yikatong.crypto.protocols import KeyStore

    n = 7001
    data = CardPersonalisation(
        card_no=f"T{n:08d}", card_id_code=f"320400D156000005C320{n:012d}", ssn="320402199001011234",
        name="钱充值", gender="2", nation="01", birthplace="320402", birth_date=date(1985, 5, 5),
        issue_date=date(2026, 3, 1), expiry_date=date(2036, 3, 1), region_code="320400",
        pan=luhn_complete(f"621226{n:09d}"), pan_sequence=1, pan_expiry=date(2036, 3, 31),
        asn=f"0310400000{n:010d}", purse_algorithm="SM4")
    with platform.uow() as uow:
        cards.register_produced_card(
            uow=uow, actor=SYSTEM, application_id=None, person_id=9_000_001, kind="first",
            bank_code="ICBC", card_no=data.card_no, card_id_code=data.card_id_code,
            chip_serial=f"CHIP{n:012d}", pan=data.pan, asn=data.asn, issue_date=data.issue_date)
        uow.commit()
    with platform.uow() as uow:
        cards.hand_over(uow=uow, actor=SS_COUNTER, card_no=data.card_no)
        uow.commit()
    platform.get(ChipStore).save(Card(personalise(data, platform.get(KeyStore))))
    return {"card_no": data.card_no, "asn": data.asn}


def seed_upload(platform, folder: Path) -> dict:
    """Four of our cards loaded at the outlet (posted to the float) and tapped on a bus: the
    validator's file, written to `folder`."""
    from tests.clearing.conftest import World, at
    from yikatong.clearing.national import NationalClearingHouse
    from yikatong.crypto.protocols import KeyStore

    keystore = platform.get(KeyStore)
    world = World(platform, keystore, NationalClearingHouse(folder / "national", clock=platform.clock))
    bus = world.bus("15")
    charged = 0
    for number in range(4):
        card = world.card(balance=5_000)
        for trip in range(3):
            charged += world.tap(bus, card, at(7 + trip * 4, 5 * number)).amount
    path = folder / "terminal-file.txt"
    content = world.terminal_file(bus)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return {"path": str(path), "charged": charged}


def seed_settle(platform) -> dict:
    """An insured employee with 500.00 in the personal account, an outpatient visit registered
    with four fee lines uploaded; the 2206 pre-settlement is what the 2207 must answer."""
    from tests.medical.conftest import HOSPITAL, institution, insured
    from yikatong.medical import visits
    from yikatong.medical.visits import FeeInput

    # a chief physician's consultation, a statin, a blood count and vitamin C (classes B, B, A, C)
    lines = [FeeInput("1", "001102000030000", 1, 4_000), FeeInput("2", "XC10AAA040A001010100345", 2, 3_500),
             FeeInput("3", "002101000010000", 1, 2_000, amount=2_000),
             FeeInput("4", "XA11GAV010A001010109999", 1, 1_500)]

    _, person_id, card_no = insured(platform, credit=50_000, name="孙结算")
    today = platform.clock.now()

    def msgid(n: int) -> str:
        return f"{HOSPITAL}{today:%Y%m%d%H%M%S}{n:04d}"

    with platform.uow() as uow:
        visit = visits.register(uow=uow, actor=institution(), msgid=msgid(1), cert_type="03",
                                cert_no=card_no, dept="心内科")
    with platform.uow() as uow:
        visits.upload_fees(uow=uow, actor=institution(), msgid=msgid(2), mdtrt_id=visit.mdtrt_id,
                           lines=lines)
    with platform.uow() as uow:
        preview = visits.pre_settle(uow=uow, actor=institution(), mdtrt_id=visit.mdtrt_id,
                                    cert_type="03", cert_no=card_no)
    return {"fixmedins_code": HOSPITAL, "msgid": msgid(3), "mdtrt_id": visit.mdtrt_id,
            "cert_type": "03", "cert_no": card_no, "person_id": person_id,
            "preview": preview.setlinfo}


def seed_redeem(platform) -> dict:
    """A campaign running today (10.00 off from 100.00, 30.00 off from 200.00), one merchant
    enrolled, one holder with a card."""
    from tests.discounts.conftest import SPONSOR, card_holder
    from yikatong.core.clock import local_date
    from yikatong.discounts import service

    person_id, card = card_holder(platform, name="李优惠")
    today = local_date(platform.clock.now())
    with platform.uow() as uow:
        service.create_campaign(
            uow=uow, actor=SPONSOR, code="FAULT1", kind="spend_reduction", name_zh="满减",
            name_en="reduction", budget_fen=100_000, starts_on=today - timedelta(days=1),
            ends_on=today + timedelta(days=60), rule={"tiers": [[10_000, 1_000], [20_000, 3_000]]},
            eligibility={}, holder_limit_count=3)
    with platform.uow() as uow:
        service.enrol_merchant(uow=uow, actor=SPONSOR, code="FAULT1", merchant_code="M-CZ-0001")
    return {"campaign_code": "FAULT1", "card_no": card.card_no, "person_id": person_id}
