from __future__ import annotations

import pytest
from sqlalchemy import func, select

from yikatong.audit.models import AuditRecord
from yikatong.directory import service
from yikatong.directory.errors import UnknownBank
from yikatong.directory.models import Bank, Outlet
from yikatong.directory.rules import OUTLET_KINDS, packaged_reference

# The seed, 四.10 (names, in order) and 四.16 (hotlines), 四.15 (e-card sync banks).
SEED_BANKS = [
    ("ICBC", "中国工商银行常州分行", "95588", True),
    ("ABC", "中国农业银行常州分行", "95599", True),
    ("CCB", "中国建设银行常州分行", "95533", True),
    ("BOCOM", "中国交通银行常州分行", "95559", True),
    ("BOC", "中国银行常州分行", "95566", True),
    ("JSB", "江苏银行常州分行", "95319", False),
    ("JNRCB", "江南农村商业银行", "96008", False),
    ("PSBC", "中国邮政储蓄银行常州分行", "95580", True),
    ("NJCB", "南京银行常州分行", "95302", False),
    ("SZB", "苏州银行常州分行", "96067", False),
    ("CEB", "中国光大银行常州分行", "95595", False),
    ("CMBC", "中国民生银行常州分行", "95568", False),
    ("CMB", "招商银行常州分行", "95555", False),
    ("CIB", "兴业银行常州分行", "95561", False),
    ("CITIC", "中信银行常州分行", "95558", False),
]


def _counts(platform) -> tuple[int, int, int]:
    with platform.uow() as uow:
        return tuple(uow.session.execute(select(func.count()).select_from(m)).scalar_one()
                     for m in (Bank, Outlet, AuditRecord))


@pytest.mark.db
def test_load_is_idempotent_and_matches_the_seed(platform, admin_actor):
    with platform.uow() as uow:
        first = service.load_reference_data(uow=uow, actor=admin_actor)
    assert first.inserted == len(SEED_BANKS) + len(packaged_reference()["outlets"])
    after_first = _counts(platform)
    with platform.uow() as uow:
        second = service.load_reference_data(uow=uow, actor=admin_actor)
    assert not second.changed
    assert _counts(platform) == after_first
    with platform.uow() as uow:
        banks = service.list_banks(uow=uow)
    assert [(b.code, b.name_zh, b.hotline, b.ecard_channel) for b in banks] == SEED_BANKS


@pytest.mark.db
def test_lookups_before_and_after_load_agree(platform, admin_actor):
    with platform.uow() as uow:
        before = (service.get_bank(uow=uow, bank_code="JNRCB"), service.list_outlets(uow=uow))
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=admin_actor)
    with platform.uow() as uow:
        after = (service.get_bank(uow=uow, bank_code="JNRCB"), service.list_outlets(uow=uow))
    assert before == after
    assert before[0].hotline == "96008"


@pytest.mark.db
@pytest.mark.parametrize("code", ["HSBC", "icbc", ""])
def test_unknown_bank(platform, admin_actor, code):
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=admin_actor)
    with platform.uow() as uow, pytest.raises(UnknownBank) as caught:
        service.get_bank(uow=uow, bank_code=code)
    assert caught.value.http_status == 422 and caught.value.code == "unknown_bank"


def test_every_outlet_kind_has_examples_and_only_direct_outlets_refund():
    outlets = _packaged_outlets()
    assert {o.kind for o in outlets} == set(OUTLET_KINDS)
    assert {o.kind for o in outlets if o.refunds_transit_balance} == {"citizen_outlet_direct"}
    assert all(o.bank_code for o in outlets if o.kind == "bank_branch")


def _packaged_outlets():
    from yikatong.directory.rules import packaged_outlets

    return packaged_outlets()


def test_bins_are_marked_as_example_defaults():
    from importlib import resources

    text = resources.files("yikatong.directory").joinpath("reference_data.toml").read_text()
    assert "example default – not official policy" in text


def test_hotlines():
    numbers = {k: v["number"] for k, v in service.hotlines().items()}
    assert numbers == {"hr": "12333", "medical": "12393", "transit": "0519-85175888"}


@pytest.mark.db
def test_public_api_needs_no_login(client):
    banks = client.get("/api/v1/directory/banks")
    assert banks.status_code == 200
    assert [b["code"] for b in banks.json()] == [code for code, *_ in SEED_BANKS]
    assert {b["code"] for b in banks.json() if b["ecard_channel"]} == {
        "ICBC", "ABC", "CCB", "BOCOM", "BOC", "PSBC"}
    direct = client.get("/api/v1/directory/outlets", params={"kind": "citizen_outlet_direct"})
    assert direct.status_code == 200 and direct.json()
    assert all(o["refunds_transit_balance"] for o in direct.json())
    bad = client.get("/api/v1/directory/outlets", params={"kind": "kiosk"})
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_outlet_kind"
    hotlines = client.get("/api/v1/directory/hotlines").json()
    assert hotlines["hr"]["number"] == "12333"
