"""Display names for the address codes (GB/T 2260) ID numbers carry, current and retired.

The national administrative division codes come from python-stdnum's `cn/loc` table (every
code since 1980 with the years it was in force, kept up to date with that library), so a valid
number from anywhere in China is named: an ID number's address code is where the number was
first assigned and never changes, so retired codes stay valid for life. A code the table lacks
is reported as a warning by the ID check, never as a rejection.
"""

from __future__ import annotations

import re
from functools import cache

from stdnum import numdb

# Residence permits of Hong Kong, Macao and Taiwan residents carry these prefixes (Taiwan's
# 830000 is no GB/T 2260 code: the permit scheme chose it).
PERMIT_REGIONS: dict[str, str] = {"810000": "香港特别行政区", "820000": "澳门特别行政区",
                                  "830000": "台湾地区"}

_PERIOD = re.compile(r"^\[(\d{4})?-(\d{4})?\]")


def is_known_province(code: str) -> bool:
    return _province(code[:2]) is not None


def region_name(code: str) -> str | None:
    """The full display name of a 6-digit address code (province, city, county; a retired
    county with the years it existed), or None when the county is not a known code."""
    if code in PERMIT_REGIONS:
        return PERMIT_REGIONS[code]
    province, county = _province(code[:2]), _division(code)
    if province is None or county is None:
        return None
    if code.endswith("0000"):
        return province
    return province + _city(code) + county


def partial_region_name(code: str) -> str | None:
    """The province (and city) part of a code, for display when the county is unknown."""
    province = _province(code[:2])
    return None if province is None else province + _city(code)


def _city(code: str) -> str:
    """The prefecture-level city of a county code ("常州市"), or "" for a city-level code, a
    municipality's districts (市辖区) and codes whose city is not a known division."""
    if code.endswith("00"):
        return ""
    city = _division(code[:4] + "00")
    return "" if city is None or city.startswith("市辖区") else city


@cache
def _province(prefix: str) -> str | None:
    return _lookup(prefix + "0000").get("province")


@cache
def _division(code: str) -> str | None:
    names = _lookup(code).get("county")
    return _display(names) if names else None


def _lookup(code: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for _part, properties in numdb.get("cn/loc").info(code):
        found.update(properties)
    return found


def _display(names: str) -> str:
    """'[1983-2001]郊区,[2002-]新北区' → '新北区（原郊区）'; '[1983-2015]戚墅堰区' →
    '戚墅堰区（1983–2015）': the newest name, with the years when it is retired."""
    periods = []
    for entry in names.split(","):
        match = _PERIOD.match(entry)
        start, end = (match.group(1), match.group(2)) if match else (None, None)
        periods.append((entry[match.end():] if match else entry, start, end))
    name, start, end = periods[-1]
    if end:
        return f"{name}（{start or ''}–{end}）"
    earlier = [old for old, _s, _e in periods[:-1] if old != name]
    return f"{name}（原{'、'.join(earlier)}）" if earlier else name
