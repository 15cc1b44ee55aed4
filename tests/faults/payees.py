"""People with cards and bank accounts, enrolled in a programme, seeded set-based (COPY) for the
benefits fault tests and bench/disbursement.py: a million through the people and card services
would take hours. What is written, per person n (1-based):

  persons             a valid GB 11643 ID number (320402 + birth date + sequence + check), a
                      Chinese name, born 1940-1943 (pension age), nationality CHN
  cards               one first card, `in_use`, at one of BANKS (dealt out in turn), a
                      Luhn-valid PAN on the bank's BIN, financial status `active`
                      (`inactive` for n % 50 == 7: the bank holds those payments; `closed` for
                      n % 500 == 3: the bank fails them `account_closed`)
  bank_accounts       the reference bank's account of the card, holder_ref = person id,
                      holder_name = the person's name (as card.produced tells the bank), status
                      `active` / `not_activated` / `closed` as above
  ledger_accounts     the account's customer account in the bank's ledger, balance 0
  benefit_account_map the person's ID→account entry (what the card events keep current)
  benefit_enrolments  enrolled in the programme from the period, a monthly amount between
                      1,800.00 and 4,800.00 CNY
  pension_eligibility (programme pension only) confirmed until 2027-06-30, status active
  except n % 1000 == 11 (with `no_card`): the person and the enrolment only, no card, account
  or map entry (the run fails the payment `no_card`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime

BANKS = ("ICBC", "ABC", "CCB", "BOCOM", "BOC", "JSB")
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
            "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
            "郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华建国文玉红梅志春海燕小金凤庆淑珍晓东德永生"
ISSUED = date(2024, 6, 1)
VALID_UNTIL = date(2034, 6, 1)


def schema_and_reference_data(platform) -> None:
    """The schema from the models (create_all: the branches' migrations 0018-0022 all follow
    0017 until the lead chains them, so `alembic upgrade head` has several heads) and the
    reference data `platform_setup.prepare` loads, the benefit programmes included."""
    import importlib

    from yikatong.core.actor import Actor
    from yikatong.db.registry import load_all_models
    from yikatong.platform_setup import REFERENCE_LOADERS

    load_all_models().create_all(platform.engine)
    loaders = [*REFERENCE_LOADERS, "yikatong.benefits.service:load_reference_data"]
    for spec in dict.fromkeys(loaders):
        module_name, _, function_name = spec.partition(":")
        loader = getattr(importlib.import_module(module_name), function_name, None)
        if loader is None:
            continue
        with platform.uow() as uow:
            loader(uow=uow, actor=Actor.system("setup"))
            uow.commit()


def kind_of(n: int, *, no_card: bool, held: bool = True) -> str:
    """What person n's account does with a payment: active (posted), inactive (held), closed
    (failed), none (no card: failed by the platform)."""
    if no_card and n % 1000 == 11:
        return "none"
    if held and n % 50 == 7:
        return "inactive"
    if n % 500 == 3:
        return "closed"
    return "active"


def _ssn(birth: date, sequence: int) -> str:
    from yikatong.people.rules import mod11_2_check_char

    body = f"320402{birth:%Y%m%d}{sequence:03d}"
    return body + mod11_2_check_char(body)


def _pan(bin_prefix: str, number: int) -> str:
    from stdnum import luhn

    body = f"{bin_prefix}{number:012d}"
    return body + luhn.calc_check_digit(body)


def _copy(connection, table: str, columns: list[str], rows) -> None:
    with connection.cursor() as cursor, \
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def plain_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://…) as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def seed(url: str, payees: int, *, programme: str, period: str, now: datetime,
         no_card: bool = True, held: bool = True, progress=lambda what: None) -> dict[str, int]:
    """Seed `payees` people (module docstring) into the PostgreSQL database at url; returns
    counts by kind and the total due (`due_fen`)."""
    import psycopg

    from yikatong.directory.rules import packaged_banks

    bins = {bank.code: bank.bin_prefixes[0] for bank in packaged_banks()}
    rng = random.Random(20261205)
    start = date(1940, 1, 1).toordinal()
    counts: dict[str, int] = defaultdict(int)
    people = []
    for n in range(1, payees + 1):
        birth = date.fromordinal(start + (n - 1) // 900)  # 900 a day
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        bank = BANKS[n % len(BANKS)]
        kind = kind_of(n, no_card=no_card, held=held)
        counts[kind] += 1
        people.append((n, name, _ssn(birth, (n - 1) % 900 + 1), "M" if n % 2 else "F", birth,
                       bank, _pan(bins[bank], n), f"B{n:08d}", kind,
                       rng.randrange(180000, 480001, 100)))
    carded = [person for person in people if person[8] != "none"]
    progress("people made in memory")
    with psycopg.connect(plain_url(url)) as connection:
        _copy(connection, "persons", ["id", "name", "ssn", "gender", "birth_date", "nationality",
                                      "had_provincial_card", "created_at", "updated_at", "version"],
              ((pid, name, ssn, gender, birth, "CHN", False, now, now, 1)
               for pid, name, ssn, gender, birth, *_ in people))
        progress("persons")
        _copy(connection, "cards", [
            "card_no", "person_id", "kind", "bank_code", "card_id_code", "chip_serial", "pan",
            "asn", "issue_date", "financial_valid_until", "state", "produced_at",
            "handed_over_at", "financial_status", "updated_at", "version"],
            ((card_no, pid, "first", bank, f"CID{pid:012d}", f"CS{pid:012d}", pan,
              f"ASN{pid:016d}", ISSUED, VALID_UNTIL, "in_use", now, now, kind, now, 1)
             for pid, _, _, _, _, bank, pan, card_no, kind, _ in carded))
        progress("cards")
        _copy(connection, "bank_accounts", [
            "bank_code", "pan", "card_no", "holder_ref", "holder_name", "status", "issue_date",
            "valid_until", "opened_at", "activated_at", "closed_at", "last_atc", "version"],
            ((bank, pan, card_no, str(pid), name, "not_activated" if kind == "inactive" else kind,
              ISSUED, VALID_UNTIL, now, None if kind == "inactive" else now,
              now if kind == "closed" else None, 0, 1)
             for pid, name, _, _, _, bank, pan, card_no, kind, _ in carded))
        progress("bank accounts")
        _copy(connection, "ledger_accounts", ["code", "kind", "currency", "allow_negative",
                                              "balance", "version", "created_at"],
              ((f"bank:{bank}:customer:{pan}", "liability", "CNY", False, 0, 1, now)
               for _, _, _, _, _, bank, pan, *_ in carded))
        progress("ledger accounts")
        _copy(connection, "benefit_account_map", ["person_id", "card_no", "bank_code", "pan",
                                                  "updated_at"],
              ((pid, card_no, bank, pan, now)
               for pid, _, _, _, _, bank, pan, card_no, _, _ in carded))
        progress("account map")
        _copy(connection, "benefit_enrolments", [
            "programme_code", "person_id", "monthly_fen", "start_period", "end_period", "facts",
            "source", "source_ref", "status", "created_by", "created_at", "updated_at"],
            ((programme, pid, monthly, period, None, "{}", "seed", f"seed-{pid}", "active",
              "seed", now, now)
             for pid, *_, monthly in people))
        progress("enrolments")
        if programme == "pension":
            _copy(connection, "pension_eligibility", [
                "person_id", "office_code", "since", "valid_until", "status", "created_at",
                "updated_at", "version"],
                ((pid, "CZ-SI", date(2003, 1, 1), date(2027, 6, 30), "active", now, now, 1)
                 for pid, *_ in people))
            progress("pension eligibility")
        with connection.cursor() as cursor:
            for table in ("persons", "cards", "bank_accounts", "ledger_accounts",
                          "benefit_enrolments"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")
    counts["payees"] = payees
    counts["due_fen"] = sum(person[-1] for person in people)
    return dict(counts)
