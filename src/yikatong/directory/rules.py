"""The packaged reference data and the pure facts derived from it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

OUTLET_KINDS: dict[str, tuple[str, str]] = {
    "ss_outlet": ("社会保障卡服务网点", "social-security card service outlet"),
    "citizen_outlet_direct": ("市民卡直营网点", "citizen-card outlet, directly run"),
    "citizen_outlet_partner": ("市民卡网点（合作）", "citizen-card outlet, partner-run"),
    "bank_branch": ("合作银行网点", "partner bank branch"),
    "self_service": ("市民卡自助充值平台", "citizen-card self-service machine"),
}

# Only the directly-run citizen-card outlets refund a transit balance (四.13).
TRANSIT_REFUND_OUTLET_KINDS = frozenset({"citizen_outlet_direct"})
# Every citizen-card outlet, directly run or partner-run, checks proofs for rider categories.
CITIZEN_OUTLET_KINDS = frozenset({"citizen_outlet_direct", "citizen_outlet_partner"})


@dataclass(frozen=True)
class BankView:
    code: str
    name_zh: str
    short_name_zh: str
    name_en: str
    hotline: str
    bin_prefixes: tuple[str, ...]
    ecard_channel: bool


@dataclass(frozen=True)
class OutletView:
    code: str
    kind: str
    name: str
    district: str
    bank_code: str | None

    @property
    def refunds_transit_balance(self) -> bool:
        return self.kind in TRANSIT_REFUND_OUTLET_KINDS


@cache
def packaged_reference() -> dict:
    """reference_data.toml as shipped with the package."""
    text = resources.files("yikatong.directory").joinpath("reference_data.toml").read_text("utf-8")
    return tomllib.loads(text)


def packaged_banks() -> list[BankView]:
    return [
        BankView(code=b["code"], name_zh=b["name_zh"], short_name_zh=b["short_name_zh"],
                 name_en=b["name_en"], hotline=b["hotline"],
                 bin_prefixes=tuple(b["bin_prefixes"]), ecard_channel=b["ecard_sync"])
        for b in packaged_reference()["banks"]
    ]


def packaged_outlets() -> list[OutletView]:
    return [
        OutletView(code=o["code"], kind=o["kind"], name=o["name"], district=o["district"],
                   bank_code=o.get("bank_code"))
        for o in packaged_reference()["outlets"]
    ]


def service_hotlines() -> dict[str, dict[str, str]]:
    """12333 (HR), 12393 (medical), 0519-85175888 (transit/citizen card), from the seed (四.16)."""
    return {name: dict(entry) for name, entry in packaged_reference()["hotlines"].items()}


def bin_matches(pan: str, bank: BankView) -> bool:
    """Whether an account number starts with one of the bank's (example) BIN prefixes."""
    return any(pan.startswith(prefix) for prefix in bank.bin_prefixes)
