"""The benefits' data files: the programmes (config/programmes-changzhou.toml) and the
public holidays (config/holidays-cn.toml), read and checked whole."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

from yikatong.benefits.errors import InvalidProgrammes
from yikatong.benefits.rules import Calendar

CONFIG = Path(__file__).parent / "config"
PROGRAMMES_FILE = CONFIG / "programmes-changzhou.toml"
HOLIDAYS_FILE = CONFIG / "holidays-cn.toml"
SCHEDULES = ("monthly", "one_off")
COMMON_KEYS = ("code", "office_code", "name_zh", "name_en", "schedule", "pay_day", "payer_code",
               "sourced")


@dataclass(frozen=True)
class ProgrammeSpec:
    code: str
    office_code: str
    name_zh: str
    name_en: str
    schedule: str
    pay_day: int
    payer_code: str
    source: str
    rules: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProgrammeBook:
    version: str
    batch_rows: int
    retry_limit: int
    programmes: dict[str, ProgrammeSpec]


def parse_programmes(text: str, *, origin: str = "programmes") -> ProgrammeBook:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidProgrammes(origin=origin, problems=f"not valid TOML: {error}") from error
    problems: list[str] = []
    programmes: dict[str, ProgrammeSpec] = {}
    for index, entry in enumerate(data.get("programme", [])):
        where = f"programme[{index}]"
        missing = [key for key in COMMON_KEYS if key not in entry]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if entry["schedule"] not in SCHEDULES:
            problems.append(f"{where}: schedule must be one of {SCHEDULES}")
        if not 1 <= int(entry["pay_day"]) <= 28:
            problems.append(f"{where}: pay_day must be 1..28")
        if entry["code"] in programmes:
            problems.append(f"{where}: code {entry['code']} twice")
        sourced = entry["sourced"]
        if not sourced.get("source") or sourced.get("confidence") not in ("H", "M", "L"):
            problems.append(f"{where}: sourced needs source and confidence H/M/L")
        rules = {key: value for key, value in entry.items() if key not in COMMON_KEYS}
        programmes[entry["code"]] = ProgrammeSpec(
            code=entry["code"], office_code=entry["office_code"], name_zh=entry["name_zh"],
            name_en=entry["name_en"], schedule=entry["schedule"], pay_day=int(entry["pay_day"]),
            payer_code=entry["payer_code"], source=str(sourced.get("source", ""))[:400],
            rules=rules)
    meta = data.get("meta", {})
    if int(meta.get("batch_rows", 0)) < 1:
        problems.append("meta.batch_rows must be at least 1")
    if problems:
        raise InvalidProgrammes(origin=origin, problems="; ".join(problems))
    return ProgrammeBook(version=str(meta.get("version", "")), batch_rows=int(meta["batch_rows"]),
                         retry_limit=int(meta.get("retry_limit", 3)), programmes=programmes)


@lru_cache(maxsize=1)
def packaged_programmes() -> ProgrammeBook:
    return parse_programmes(PROGRAMMES_FILE.read_text(encoding="utf-8"), origin=PROGRAMMES_FILE.name)


def parse_calendar(text: str) -> Calendar:
    data = tomllib.loads(text)

    def days(key: str) -> frozenset[date]:
        return frozenset(d for d in data.get(key, []) if isinstance(d, date))

    return Calendar(holidays=days("holidays"), working_weekends=days("working_weekends"))


@lru_cache(maxsize=1)
def packaged_calendar() -> Calendar:
    return parse_calendar(HOLIDAYS_FILE.read_text(encoding="utf-8"))
