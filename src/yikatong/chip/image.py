"""Chip images: a card's whole stored state, and personalisation from the registry.

`personalise(card_data, keystore)` derives the card's own keys from the issuer's master keys
(with the factors the key store names for each master) and lays out the three applications.
The derived keys live only in the chip image, as on a physical chip: the platform database
never holds them. A `ChipImage` serialises to JSON (`to_json` / `from_json`); the
`ChipStore` keeps one per card so a card used today is the same card tomorrow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from yikatong.chip.apps import debit, directory, purse, social
from yikatong.chip.secure import debit_factors, purse_factors, social_factors
from yikatong.chip.state import ChipModel, DedicatedFile, KeyEntry
from yikatong.core.errors import InvalidInput
from yikatong.crypto.protocols import KeyStore

IMAGE_FORMAT = 1
# TS 3B (direct), T0 68 (TB1, TC1, 8 historical bytes), TB1 00, TC1 00, "JSCZ-YKT".
ATR = bytes.fromhex("3B680000") + b"JSCZ-YKT"


class ChipImage(ChipModel):
    format: Literal[1] = IMAGE_FORMAT
    card_no: str
    atr: bytes
    mf: DedicatedFile

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> ChipImage:
        return cls.model_validate_json(text)


@dataclass(frozen=True)
class CardPersonalisation:
    """What the registry knows about a card at the end of production.

    Dates are calendar dates; codes are digit strings: `region_code` and `birthplace` are
    6-digit administrative division codes (GB/T 2260), `nation` a 2-digit ethnicity code
    (GB/T 3304), `gender` "1" male / "2" female (GB/T 2261.1). `asn` is the 20-digit T-Union
    application serial number, `issuer_id` the 16-hex-digit issuer ID of file 0015.
    `key_versions` pins a master-key version per purpose (default: the active one).
    `purse_algorithm` picks the e-purse profile ("SM4" or "3DES"). `rider` is the holder's
    transit rider category written to file 0017 (one of `purse.RIDER_CODES`; the fare rules
    decide it, e.g. `transit.service.rider_category_at_issue`).
    """

    card_no: str
    card_id_code: str
    ssn: str
    name: str
    gender: str
    nation: str
    birthplace: str
    birth_date: date
    issue_date: date
    expiry_date: date
    region_code: str
    pan: str
    pan_sequence: int
    pan_expiry: date
    asn: str
    # File 0015's expiry, which validators check; None: `expiry_date` (EF05's). Personalised
    # cards carry their own (cards.validity): the debit's 10 years end neither (seed 二.2).
    transit_expiry: date | None = None
    issuer_id: str = purse.CHANGZHOU_ISSUER_ID.hex().upper()
    key_versions: Mapping[str, int] = field(default_factory=dict)
    purse_algorithm: str = "SM4"
    pin: str = field(default="123456", repr=False)
    holder_name_latin: str = debit.NO_NAME  # EMV 5F20 "SURNAME/GIVEN"; default no name (docs.md)
    overdraft_limit: int | None = None  # None: the issuing city's rule (purse.OVERDRAFT_BY_CITY)
    rider: str = "adult"

    def __post_init__(self) -> None:
        checks = [
            ("card_no", r"[0-9A-Z]{9}", "9 个字母或数字", "9 letters or digits"),
            ("card_id_code", r"[0-9A-Fa-f]{32}", "32 位十六进制", "32 hex digits"),
            ("ssn", r"\d{17}[\dX]", "18 位社会保障号码", "an 18-character social security number"),
            ("gender", r"[129]", "性别代码 1/2/9", "gender code 1, 2 or 9"),
            ("nation", r"\d{2}", "2 位民族代码", "a 2-digit ethnicity code"),
            ("birthplace", r"\d{6}", "6 位行政区划代码", "a 6-digit division code"),
            ("region_code", r"\d{6}", "6 位行政区划代码", "a 6-digit division code"),
            ("pan", r"\d{13,19}", "13–19 位卡号", "a 13–19 digit PAN"),
            ("asn", r"\d{20}", "20 位应用序列号", "a 20-digit application serial number"),
            ("issuer_id", r"[0-9A-Fa-f]{16}", "16 位十六进制发卡机构标识", "a 16-hex-digit issuer ID"),
            ("pin", r"\d{4,12}", "4–12 位数字密码", "a PIN of 4 to 12 digits"),
        ]
        for name, pattern, zh, en in checks:
            if not re.fullmatch(pattern, getattr(self, name), re.ASCII):  # \d: 0-9 only
                raise InvalidInput(reason_zh=f"{name} 应为{zh}", reason_en=f"{name} must be {en}")
        if not 0 <= self.pan_sequence <= 99:
            raise InvalidInput(reason_zh="卡序列号应为 0–99", reason_en="pan_sequence must be 0..99")
        if self.rider not in purse.RIDER_CODES:
            known = "/".join(purse.RIDER_CODES)
            raise InvalidInput(reason_zh=f"乘客类别应为 {known}", reason_en=f"rider must be one of {known}")
        if self.purse_algorithm.upper() not in ("SM4", "3DES"):
            raise InvalidInput(reason_zh="钱包算法应为 SM4 或 3DES", reason_en="purse_algorithm must be SM4 or 3DES")
        try:
            social.split_name(self.name)
            debit.check_holder_name(self.holder_name_latin)
        except ValueError:
            raise InvalidInput(reason_zh="姓名无法写入芯片", reason_en="the name does not fit the chip") from None


@dataclass(frozen=True, repr=False)
class CardKey:
    """One derived card key with the version and algorithm of its master."""

    value: bytes
    version: int
    alg_id: int

    def entry(self, usage: str, index: int, tries_left: int | None = None) -> KeyEntry:
        return KeyEntry(usage=usage, index=index, version=self.version, alg_id=self.alg_id,
                        value=self.value, tries_left=tries_left)

    def __repr__(self) -> str:
        return f"CardKey(version={self.version}, alg_id=0x{self.alg_id:02X}, value=<hidden>)"


@dataclass(frozen=True)
class CardKeys:
    issuer_auth: CardKey
    national_read: CardKey
    social_maintenance: CardKey
    load: CardKey
    purchase: CardKey
    tac: CardKey
    purse_maintenance: CardKey
    debit_ac: CardKey


def card_factor_values(data: CardPersonalisation) -> dict[str, bytes]:
    """Every diversification factor value of this card, by the key store's factor names."""
    return {
        **purse_factors(bytes.fromhex(data.issuer_id), bytes.fromhex(data.asn)),
        **social_factors(bytes.fromhex(data.card_id_code)),
        **debit_factors(data.pan, data.pan_sequence),
    }


def derive_card_keys(data: CardPersonalisation, keystore: KeyStore) -> CardKeys:
    """The card's own keys, diversified from the masters (SM4 except the purse profile)."""
    factors = card_factor_values(data)
    purse_alg = data.purse_algorithm.upper()

    def derive(purpose: str, algorithm: str) -> CardKey:
        master = keystore.get(purpose, version=data.key_versions.get(purpose), algorithm=algorithm)
        return CardKey(master.card_key(factors), master.version, master.alg_id)

    keys = CardKeys(
        issuer_auth=derive("external_auth", "SM4"),
        national_read=derive("national_read", "SM4"),
        social_maintenance=derive("app_maintenance", "SM4"),
        load=derive("load", purse_alg),
        purchase=derive("purchase", purse_alg),
        tac=derive("tac", purse_alg),
        purse_maintenance=derive("app_maintenance", purse_alg),
        debit_ac=derive("debit_ac", "SM4"),
    )
    # The card reports one key version (of DLK/DPK) and clearing looks the TAC master up by
    # it, so the e-purse keys of one card must share their version.
    if len({keys.load.version, keys.purchase.version, keys.tac.version, keys.purse_maintenance.version}) > 1:
        raise InvalidInput(
            reason_zh="钱包密钥（圈存、消费、TAC、应用维护）版本必须一致",
            reason_en="the e-purse keys (load, purchase, TAC, maintenance) must share one version",
        )
    return keys


def build_image(data: CardPersonalisation, keys: CardKeys) -> ChipImage:
    """Lay out the chip with given card keys (tests use fixed keys from the vectors)."""
    transit, bank = purse.build_purse_df(data, keys), debit.build_debit_df(data, keys)
    entries = directory.entries_for([bank, transit])  # the debit first (priority 1)
    applications = [transit, bank, directory.build_pse(entries), directory.build_ppse(entries)]
    return ChipImage(card_no=data.card_no, atr=ATR, mf=social.build_mf(data, keys, applications))


def personalise(card_data: CardPersonalisation, keystore: KeyStore) -> ChipImage:
    """The chip image of a newly produced card (keys derived from the issuer's masters)."""
    return build_image(card_data, derive_card_keys(card_data, keystore))
