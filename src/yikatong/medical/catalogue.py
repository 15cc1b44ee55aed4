"""The medical insurance catalogue (医保目录) as versioned, effective-dated data.

A fee line is classed by the catalogue in force on its day: class A 甲 / B 乙 / C 丙, the price
limit per unit (最高支付限价 / 支付标准) and the 乙类 pre-self-pay ratio. The file
(`config/catalogue-changzhou.toml`) lists the whole first version and, for each later one, what
it adds or replaces and what it drops; it is validated strictly when loaded (an unknown key, a
ratio on a 甲 item, two versions with one date are `CatalogueInvalid`, naming the place).

Pure: no database, no clock. The service asks `default_catalogue_book().in_force(day)`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from yikatong.core.config_files import Name, Sourced, Strict, validate_toml
from yikatong.core.money import Fen
from yikatong.medical.errors import CatalogueInvalid, NoCatalogueInForce

DEFAULT_CATALOGUE_FILE = "catalogue-changzhou.toml"

ItemCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{9,50}$")]
Admdvs = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
FenLimit = Annotated[int, Field(strict=True, gt=0)]
Ratio = Annotated[int, Field(strict=True, ge=0, le=10_000)]

CLASS_NAMES = MappingProxyType({"A": ("甲类", "class A"), "B": ("乙类", "class B"),
                                "C": ("丙类", "class C")})
KIND_NAMES = MappingProxyType({"drug": ("药品", "drug"), "service": ("医疗服务项目", "medical service"),
                               "material": ("医用耗材", "medical material")})


class ItemEntry(Strict):
    code: ItemCode
    name: Name
    name_en: Name
    kind: Literal["drug", "service", "material"]
    item_class: Literal["A", "B", "C"] = Field(alias="class")
    unit: Name
    price_limit: FenLimit | None = None
    pre_self_pay_bp: Ratio = 0

    @model_validator(mode="after")
    def _ratio_only_for_b(self) -> ItemEntry:
        if self.item_class != "B" and self.pre_self_pay_bp:
            raise ValueError(f"{self.code}: only a 乙类 (B) item has a pre-self-pay ratio")
        return self


class VersionEntry(Strict):
    version: Annotated[str, StringConstraints(pattern=r"^\S{1,32}$")]
    effective_from: date
    provenance: Sourced
    items: tuple[ItemEntry, ...] = ()
    removed: tuple[ItemCode, ...] = ()


class CatalogueFile(Strict):
    region: Admdvs
    versions: tuple[VersionEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> CatalogueFile:
        days = [v.effective_from for v in self.versions]
        if days != sorted(days) or len(set(days)) != len(days):
            raise ValueError("versions must be in order of effective_from, one per date")
        names = [v.version for v in self.versions]
        if len(set(names)) != len(names):
            raise ValueError("version names must be unique")
        return self


@dataclass(frozen=True)
class CatalogueItem:
    code: str
    name: str
    name_en: str
    kind: str
    item_class: str  # A | B | C (rules.ItemClass values)
    unit: str
    price_limit: Fen | None  # per unit; None: no limit
    pre_self_pay_bp: int

    def limit_for(self, quantity: int) -> Fen | None:
        """The price limit of a line of `quantity` units (None: no limit)."""
        return None if self.price_limit is None else self.price_limit * quantity


@dataclass(frozen=True)
class Catalogue:
    """One version of the catalogue: every item in force from `effective_from`."""

    region: str
    version: str
    effective_from: date
    items: MappingProxyType  # code → CatalogueItem
    source: str
    confidence: str

    def get(self, code: str) -> CatalogueItem | None:
        return self.items.get(code)


@dataclass(frozen=True)
class CatalogueBook:
    """Every version, oldest first."""

    versions: tuple[Catalogue, ...]

    def in_force(self, day: date) -> Catalogue:
        """The version in force on `day`; NoCatalogueInForce before the first."""
        index = bisect_right([v.effective_from for v in self.versions], day) - 1
        if index < 0:
            raise NoCatalogueInForce(day=day.isoformat())
        return self.versions[index]

    def version(self, name: str) -> Catalogue | None:
        return next((v for v in self.versions if v.version == name), None)


def parse_catalogue(text: str, *, origin: str) -> CatalogueBook:
    """The book of versions in a catalogue file; CatalogueInvalid lists every problem."""
    parsed = validate_toml(CatalogueFile, text, origin=origin, invalid=CatalogueInvalid)
    items: dict[str, CatalogueItem] = {}
    versions = []
    for entry in parsed.versions:
        missing = [code for code in entry.removed if code not in items]
        if missing:
            raise CatalogueInvalid(origin=origin, problems=f"{entry.version}: removes unknown {missing}")
        for code in entry.removed:
            del items[code]
        for item in entry.items:
            items[item.code] = CatalogueItem(
                code=item.code, name=item.name, name_en=item.name_en, kind=item.kind,
                item_class=item.item_class, unit=item.unit, price_limit=item.price_limit,
                pre_self_pay_bp=item.pre_self_pay_bp)
        versions.append(Catalogue(
            region=parsed.region, version=entry.version, effective_from=entry.effective_from,
            items=MappingProxyType(dict(items)), source=entry.provenance.source,
            confidence=entry.provenance.confidence))
    return CatalogueBook(tuple(versions))


@cache
def default_catalogue_book() -> CatalogueBook:
    """The packaged Changzhou catalogue (an example default)."""
    text = resources.files("yikatong.medical").joinpath("config", DEFAULT_CATALOGUE_FILE).read_text("utf-8")
    return parse_catalogue(text, origin=DEFAULT_CATALOGUE_FILE)
