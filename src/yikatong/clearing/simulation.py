"""One day of transit in the city, end to end, with every fen reconciled (`ykt simulate day`).

1. N emulated cards are personalised: most of them ours (issuer 3040) under the platform's key
   store, some from other T-Union cities under their issuers' keys, which only the simulated
   national clearing house holds (plus the national purchase key every PSAM has).
2. Our cards are topped up through the transit top-up service when it is there (money through
   the acquirer and the ledger, tears at CREDIT FOR LOAD recovered at the next contact), else
   through the chip load host directly (the money is then posted here as cash at an outlet).
   Other cities' cards arrive loaded by their own issuers.
3. M taps are played in time order on the transit package's validators: buses of Changzhou,
   Jintan and Liyang, metro gates, transfers within the hour, other cities' cards here and our
   cards on Suzhou and Wuxi buses; some debits are torn (the card pulled away) and recovered
   when the passenger taps again.
4. Every validator's records are uploaded as a terminal batch (in shuffled order, one twice);
   the house sends our cards' records from other cities and answers for other issuers' cards;
   the day is reviewed (every tap re-rated, counters checked).
5. Checks: chip balances = shadow balances; top-ups = balances + fares; operators, issuers and
   the house are owed exactly what the validators charged; the reconciliation, the ledger's
   trial balance, no open exception, no balance disagreement.
"""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from yikatong.chip import terminal
from yikatong.chip.emulator import Card, TearPoint
from yikatong.chip.errors import TransactionInterrupted
from yikatong.chip.host import LoadHost
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.records import LoadRecord
from yikatong.clearing import (
    batches,
    day_review,
    fileformat,
    national_files,
    receive,
    reports,
    rules,
    shadow_balances,
    top_ups,
)
from yikatong.clearing.fileformat import BatchRecord, FileKind
from yikatong.clearing.national import NationalClearingHouse, issuer_id_of
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST, local_date
from yikatong.core.money import Fen
from yikatong.core.progress import SILENT, Progress
from yikatong.crypto.protocols import KeyStore
from yikatong.ledger import service as ledger
from yikatong.transit import rules as transit_rules
from yikatong.transit.fare_config import FareConfig
from yikatong.transit.validator import Place, TapRecord, Validator, bus, metro_entry, metro_exit

HOME = rules.HOME_CITY
BUS_LINES = (("1", "changwu", "CZBUS"), ("B1", "changwu", "CZBUS"), ("B2", "changwu", "CZBUS"),
             ("S101", "changwu", "CZBUS"), ("JT1", "jintan", "JTBUS"), ("LY1", "liyang", "LYBUS"))
METRO_OPERATOR = "CZMETRO"
REMOTE_BUSES = (("3050", "SZ1", "SZBUS"), ("3020", "WX1", "WXBUS"))  # our cards used elsewhere
VISITOR_CITIES = ("3050", "3020", "3010", "2900", "1000")  # where the other cards come from
TOP_UP_AMOUNTS = (2000, 3000, 5000, 10000)
OUTLET = Actor(user_id="sim-outlet-clerk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
               branch_code="SMK-DIRECT-01")
EXCHANGE = Actor.system("national-exchange")


@dataclass
class SimCard:
    asn: str
    issuer_city: str
    chip: Card
    reader: EmulatorReader
    free_at: datetime
    loaded: Fen = 0
    charged: Fen = 0

    @property
    def own(self) -> bool:
        return self.issuer_city == HOME

    def present(self) -> EmulatorReader:
        """The holder holds the card to a reader (power comes back after a tear)."""
        self.reader.insert(self.chip)
        self.reader.connect()
        return self.reader

    @property
    def balance(self) -> Fen:
        for df in self.chip.mf.walk():
            if df.purse is not None:
                return df.purse.balance
        raise ValueError("no purse on this chip")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DayReport:
    day: date
    database: str
    top_up_path: str
    cards_own: int = 0
    cards_visiting: int = 0
    top_ups: int = 0
    top_up_amount: Fen = 0
    top_up_tears: int = 0
    taps_played: int = 0
    taps_accepted: int = 0
    taps_refused: dict[str, int] = field(default_factory=dict)
    refusal_examples: dict[str, str] = field(default_factory=dict)  # reason → one refusal's text
    tears: int = 0
    tears_debited: int = 0  # the card had taken the money: the record came back at the retry
    fares_charged: Fen = 0
    files: list[batches.BatchResult] = field(default_factory=list)
    settlement: reports.SettlementReport | None = None
    review: day_review.ReviewResult | None = None
    house_positions: dict[tuple[str, str], Fen] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


# --- the network ------------------------------------------------------------------------------


def city_places(fares: FareConfig) -> dict[str, Place]:
    """Every validator's place by key: the city's bus lines, each metro station's entry and
    exit gates, and buses in Suzhou and Wuxi (where our cards travel)."""
    places = {f"bus:{line}": bus(HOME, line, operator, region) for line, region, operator in BUS_LINES}
    for station in fares.metros[HOME].network.stations:
        places[f"in:{station.code}"] = metro_entry(HOME, station.code, METRO_OPERATOR)
        places[f"out:{station.code}"] = metro_exit(HOME, station.code, METRO_OPERATOR)
    for city, line, operator in REMOTE_BUSES:
        places[f"remote:{line}"] = bus(city, line, operator)
    return places


def terminal_ids(places: dict[str, Place]) -> dict[str, str]:
    """A PSAM terminal number per place: city code, 01 bus or 02 metro, a serial."""
    return {key: f"{place.city}{1 if place.mode == 'bus' else 2:02d}{number:06d}"
            for number, (key, place) in enumerate(sorted(places.items()), start=1)}


def _validators(places: dict[str, Place], keystore: KeyStore, fares: FareConfig) -> dict[str, Validator]:
    # Every T-Union PSAM holds the national purchase key: ours (the platform's key store) serves
    # here for the other cities' terminals too.
    return {key: Validator(Psam(keystore, terminal_id=bytes.fromhex(terminal_id)), places[key], fares=fares)
            for key, terminal_id in terminal_ids(places).items()}


# --- cards ------------------------------------------------------------------------------------


def _personalisation(number: int, run: int, city: str, day: date, algorithm: str) -> CardPersonalisation:
    return CardPersonalisation(
        card_no=f"S{number:08d}", card_id_code=f"{city}00D156000005C{run % 1000:03d}{number:012d}",
        ssn=f"32040219{80 + number % 20:02d}0101{number % 1000:03d}X", name="模拟乘客", gender="1" if number % 2 else "2",
        nation="01", birthplace="320402", birth_date=date(1980 + number % 20, 1, 1),
        issue_date=day - timedelta(days=30), expiry_date=day + timedelta(days=3650), region_code="320400",
        pan=f"621483{run % 10_000:04d}{number:08d}", pan_sequence=1, pan_expiry=day + timedelta(days=3650),
        asn=f"{city}{run:06d}{number:010d}", issuer_id=issuer_id_of(city), purse_algorithm=algorithm,
        key_versions={} if city == HOME else {p: 1 for p in ("load", "purchase", "tac", "app_maintenance")},
    )


def new_card(number: int, *, city: str, day: date, keystore: KeyStore, house: NationalClearingHouse,
             run: int = 0, algorithm: str = "SM4", free_at: datetime | None = None) -> SimCard:
    """An emulated card of `city`: ours under the platform's key store, another city's under
    its issuer's keys (which only the house holds) and the national purchase key."""
    keys = keystore if city == HOME else house.issuer_keys(city, keystore)
    data = _personalisation(number, run, city, day, algorithm)
    chip = Card(personalise(data, keys))
    reader = EmulatorReader(chip)
    reader.connect()
    return SimCard(data.asn, city, chip, reader,
                   free_at or datetime.combine(day, time(6, 0), tzinfo=CST))


def _make_cards(count: int, run: int, day: date, keystore: KeyStore, house: NationalClearingHouse,
                rng: random.Random, progress: Progress) -> list[SimCard]:
    advance = progress.stage("personalising cards / 个人化卡片", count)
    visitors = max(1, count // 7) if count >= 4 else 0
    cards = []
    for number in range(1, count + 1):
        city = VISITOR_CITIES[number % len(VISITOR_CITIES)] if number > count - visitors else HOME
        start = datetime.combine(day, time(6, 0), tzinfo=CST) + timedelta(minutes=rng.uniform(0, 180))
        cards.append(new_card(number, city=city, day=day, keystore=keystore, house=house, run=run,
                              algorithm="3DES" if number % 5 == 0 else "SM4", free_at=start))
        advance(1)
    return cards


# --- top-ups ----------------------------------------------------------------------------------


def _transit_top_up_service():
    """The transit package's counter top-up, when it has landed; None otherwise."""
    try:
        from yikatong.transit import service as transit
    except ImportError:
        return None
    return getattr(transit, "top_up_at_terminal", None)


def _top_up(platform, cards: list[SimCard], day: date, keystore: KeyStore, house: NationalClearingHouse,
            report: DayReport, rng: random.Random, progress: Progress, direct_loads: list[LoadRecord]) -> None:
    top_up_at_terminal = _transit_top_up_service() if report.top_up_path == "transit" else None
    advance = progress.stage("topping up / 充值", len(cards))
    outlet_terminal = bytes.fromhex(f"{HOME}10000001")
    for number, card in enumerate(cards):
        when = datetime.combine(day, time(5, 30), tzinfo=CST) + timedelta(seconds=number * 7)
        amount = rng.choice(TOP_UP_AMOUNTS)
        tear = rng.choice([TearPoint.BEFORE_COMMIT, TearPoint.AFTER_COMMIT]) if rng.random() < 0.1 else None
        if not card.own:  # loaded at home by its own issuer: nothing we see
            host = LoadHost(house.issuer_keys(card.issuer_city, keystore))
            terminal.load(card.present(), host, amount, bytes.fromhex(f"{card.issuer_city}10000001"), when)
        elif top_up_at_terminal is not None:
            _top_up_through_transit(platform, top_up_at_terminal, card, amount, when, tear, report)
        else:
            direct_loads.append(_top_up_directly(keystore, card, amount, outlet_terminal, when, tear, report))
        card.loaded += amount
        if card.own:
            report.top_ups += 1
            report.top_up_amount += amount
        advance(1)
    if direct_loads:
        post_cash_top_ups(platform, direct_loads)


def _top_up_through_transit(platform, top_up_at_terminal, card: SimCard, amount: Fen, when: datetime,
                            tear: TearPoint | None, report: DayReport) -> None:
    from yikatong.transit import service as transit
    from yikatong.transit.errors import TopUpNotWritten
    from yikatong.transit.protocols import Payer, PayerKind

    if tear:
        card.chip.arm_tear(tear, ins=0x52)  # the card leaves during CREDIT FOR LOAD
    try:
        top_up_at_terminal(platform=platform, reader=card.present(), actor=OUTLET,
                           idempotency_key=f"sim-{card.asn}-{when:%Y%m%d}", amount=amount,
                           payer=Payer(PayerKind.CASH, "till SMK-DIRECT-01"), when=when)
    except TopUpNotWritten:
        report.top_up_tears += 1
        transit.contact(platform=platform, reader=card.present(), actor=OUTLET, when=when + timedelta(seconds=5))
    finally:
        card.chip.disarm_tear()


def _top_up_directly(keystore: KeyStore, card: SimCard, amount: Fen, terminal_id: bytes, when: datetime,
                     tear: TearPoint | None, report: DayReport) -> LoadRecord:
    """A load through the chip load host; a torn one is settled by the terminal at the retry
    (the card's own proof says whether it credited), so the card is loaded exactly once."""
    load_terminal = terminal.Terminal(Psam(keystore, terminal_id=terminal_id), host=LoadHost(keystore))
    try:
        if tear:
            card.chip.arm_tear(tear, ins=0x52)
        return load_terminal.load(card.present(), amount, when)
    except TransactionInterrupted:
        report.top_up_tears += 1
    finally:
        card.chip.disarm_tear()
    return load_terminal.load(card.present(), amount, when + timedelta(seconds=5))


def post_cash_top_ups(platform, loads: list[LoadRecord]) -> None:
    """Without the top-up service, the money the outlet took is posted here: cash in the till,
    money on cards (the float clearing later pays fares from)."""
    post_cash(platform, total=sum(load.amount for load in loads), count=len(loads),
              request_id=f"simulation:direct-loads:{loads[0].asn}:{loads[0].counter}")


def post_cash(platform, *, total: Fen, count: int, request_id: str) -> None:
    """`count` top-ups of `total` fen taken in cash at the outlet: the till against the float."""
    till = transit_rules.outlet_till(OUTLET.branch_code or "SMK")
    with platform.uow() as uow:
        for code in (till, transit_rules.WALLET_FLOAT):
            kind, allow_negative = transit_rules.account_settings(code)
            ledger.open_account(uow=uow, code=code, kind=kind, allow_negative=allow_negative)
        ledger.post(uow=uow, request_id=request_id,
                    kind="simulation.cash_top_ups", legs=[(till, total), (transit_rules.WALLET_FLOAT, -total)],
                    memo=f"{count} top-ups through the chip load host")
        uow.audit(actor=OUTLET, action="simulation.cash_top_ups", entity_type="ledger", entity_id=till,
                  after={"loads": count, "amount": total})
        uow.commit()


# --- taps -------------------------------------------------------------------------------------


def journey(places: dict[str, Place], rng: random.Random, *, travels: bool) -> list[tuple[float, str]]:
    """A trip as (minutes after its start, place key) steps: a bus, two buses, the metro, or a
    bus and the metro either way (transfers within the hour); with `travels`, sometimes a bus
    in another city."""
    buses = [key for key in places if key.startswith("bus:")]
    stations = [key[3:] for key in places if key.startswith("in:")]
    a, b = rng.sample(stations, 2)
    shape = rng.random()
    if travels and shape < 0.06:
        return [(0, rng.choice([key for key in places if key.startswith("remote:")]))]
    if shape < 0.45:
        return [(0, rng.choice(buses))]
    if shape < 0.62:
        first, second = rng.sample(buses, 2)
        return [(0, first), (rng.uniform(10, 50), second)]
    if shape < 0.82:
        return [(0, f"in:{a}"), (rng.uniform(8, 40), f"out:{b}")]
    ride = rng.uniform(10, 35)
    if shape < 0.92:
        return [(0, rng.choice(buses)), (ride, f"in:{a}"), (ride + rng.uniform(8, 35), f"out:{b}")]
    return [(0, f"in:{a}"), (ride, f"out:{b}"), (ride + rng.uniform(4, 20), rng.choice(buses))]


def _plan(cards: list[SimCard], taps: int, day: date, places: dict[str, Place],
          rng: random.Random) -> list[tuple[datetime, SimCard, str]]:
    """`taps` taps of whole journeys, each card's in its own time order, all sorted by time."""
    closing = datetime.combine(day, time(22, 30), tzinfo=CST)
    journeys_per_card = max(1.0, taps / max(1, len(cards)) / 1.7)
    mean_gap = max(3.0, 900 / journeys_per_card - 30)
    plan: list[tuple[datetime, SimCard, str]] = []
    active = list(cards)
    while len(plan) < taps and active:
        card = rng.choice(active)
        steps = journey(places, rng, travels=card.own)
        start = card.free_at
        if start + timedelta(minutes=steps[-1][0]) > closing:
            active.remove(card)
            continue
        for minutes, key in steps:
            plan.append((start + timedelta(minutes=minutes), card, key))
        card.free_at = start + timedelta(minutes=steps[-1][0] + rng.uniform(0.5, 1.5) * mean_gap)
    plan.sort(key=lambda step: step[0])
    return [(when.replace(microsecond=0), card, key) for when, card, key in plan[:taps]]


def _play(plan, validators: dict[str, Validator], report: DayReport, charged: dict,
          rng: random.Random, progress: Progress) -> None:
    advance = progress.stage("tapping / 刷卡", len(plan))
    refused: dict[str, int] = defaultdict(int)
    for when, card, key in plan:
        validator = validators[key]
        torn = rng.random() < 0.03
        if torn:
            card.chip.arm_tear(rng.choice([TearPoint.BEFORE_COMMIT, TearPoint.AFTER_COMMIT]), ins=0x54)
        result = validator.tap(card.present(), when)
        card.chip.disarm_tear()
        if torn and not result.accepted and result.refusal.reason == "card_removed":
            report.tears += 1
            result = validator.tap(card.present(), when + timedelta(seconds=4))  # the passenger taps again
            report.tears_debited += int(result.recovered)
        report.taps_played += 1
        if result.accepted:
            report.taps_accepted += 1
            card.charged += result.amount
            place = validator.place
            charged[(place.city, place.operator, card.issuer_city)] += result.amount
        else:
            refused[str(result.refusal.reason)] += 1
            report.refusal_examples.setdefault(str(result.refusal.reason), result.refusal.en)
        advance(1)
    report.taps_refused = dict(sorted(refused.items()))
    report.fares_charged = sum(charged.values())


# --- uploads and the house --------------------------------------------------------------------


def record_at(record: TapRecord, place: Place) -> BatchRecord:
    """The file record of a validator's record: its place, and the card kind and rider the
    validator read from the card at that tap."""
    return fileformat.record_of(record, city=place.city, operator=place.operator, mode=place.mode.value,
                                tap=place.kind.value, line=place.line, station=place.station, region=place.region,
                                card_kind=record.card_kind.value if record.card_kind else "",
                                rider=record.rider.value if record.rider else "")


def terminal_file(validator: Validator, records: list[BatchRecord], *, file_id: str, created: datetime) -> str:
    """A validator's batch file of its drained records (docs/clearing-batch-format.md)."""
    return fileformat.render_records(FileKind.TERMINAL, file_id, validator.terminal_id, records, created=created,
                                     operator=validator.place.operator, terminal_id=validator.terminal_id)


def _upload_terminals(platform, validators: dict[str, Validator], day: date, run: int,
                      house: NationalClearingHouse, report: DayReport, rng: random.Random,
                      progress: Progress) -> Check:
    """Every validator of the city uploads its batch (in no particular order, one of them twice);
    the other cities' validators upload to their own centres, which pass our cards' records
    to the house."""
    uploads = []
    for validator in validators.values():
        records = [record_at(r, validator.place) for r in validator.drain()]
        if not records:
            continue
        if validator.place.city != HOME:
            house.collect(records)
            continue
        content = terminal_file(validator, records, file_id=f"{validator.terminal_id}-{day:%Y%m%d}-{run:06d}",
                                created=datetime.combine(day, time(23, 0), tzinfo=CST))
        uploads.append((validator.place.operator, content))
    rng.shuffle(uploads)
    advance = progress.stage("uploading batches / 上传批次", len(uploads) + 1)
    first = None
    for operator, content in uploads:
        actor = Actor(user_id=f"sim-{operator}", role=Role.TRANSIT_OPERATOR, channel=Channel.PARTNER_API,
                      branch_code=operator)
        result = receive.upload_batch(platform=platform, actor=actor, content=content)
        report.files.append(result)
        first = first or (actor, content, result)
        advance(1)
    if first is None:
        return Check("re-upload is idempotent / 重复上传幂等", True, "no batch to re-upload")
    again = receive.upload_batch(platform=platform, actor=first[0], content=first[1])
    advance(1)
    same = again.replayed and again.as_dict() == first[2].as_dict()
    return Check("re-upload is idempotent / 重复上传幂等", same,
                 f"{first[2].file_id}: {'the same answer, nothing cleared twice' if same else 'a different answer'}")


def _upload_top_ups(platform, direct_loads: list[LoadRecord], by_asn: dict[str, SimCard], day: date, run: int,
                    report: DayReport) -> None:
    if report.top_up_path == "transit":
        with platform.uow() as uow:
            result = top_ups.import_top_ups(uow=uow, actor=EXCHANGE, keystore=platform.get(KeyStore))
            uow.commit()
        if result is not None:
            report.files.append(result)
        return
    if not direct_loads:
        return
    terminal_id = direct_loads[0].terminal_id
    records = [fileformat.record_of(load, city=HOME, operator="SMKOUTLET") for load in direct_loads]
    content = fileformat.render_records(FileKind.TERMINAL, f"{terminal_id}-{day:%Y%m%d}-{run:06d}", terminal_id,
                                        records, created=datetime.combine(day, time(23, 0), tzinfo=CST),
                                        operator="SMKOUTLET", terminal_id=terminal_id)
    report.files.append(receive.upload_batch(platform=platform, actor=EXCHANGE, content=content))


def _exchange_with_house(platform, house: NationalClearingHouse, report: DayReport) -> None:
    """Files both ways: our cards' records from elsewhere come in (we answer with an ACK);
    other issuers' records go out (the house answers with verdicts)."""
    incoming = house.send()
    if incoming is not None:
        result = receive.upload_batch(platform=platform, actor=EXCHANGE, content=incoming.read_bytes())
        report.files.append(result)
        with platform.uow() as uow:
            ack = national_files.file_content(uow=uow, file_id=result.acknowledgement or "")
        ack_path = house.directory / f"{result.acknowledgement}.txt"
        ack_path.write_text(ack, encoding="utf-8")
        house.receive_ack(ack_path)
    with platform.uow() as uow:
        file_id = national_files.export_national(uow=uow, actor=EXCHANGE)
        uow.commit()
    if file_id is not None:
        with platform.uow() as uow:
            outgoing = house.directory / f"{file_id}.txt"
            outgoing.write_text(national_files.file_content(uow=uow, file_id=file_id), encoding="utf-8")
        verdicts = house.receive(outgoing)
        report.files.append(receive.upload_batch(platform=platform, actor=EXCHANGE, content=verdicts.read_bytes()))
    report.house_positions = house.positions()


# --- checks -------------------------------------------------------------------------------------


def _checks(platform, cards: list[SimCard], charged: dict, report: DayReport) -> list[Check]:
    checks = []
    with platform.uow() as uow:
        shadows = {card.asn: shadow_balances.shadow_balance(uow=uow, asn=card.asn) for card in cards if card.own}
        reconciliation = reports.reconcile(uow=uow, day=report.day)
        settlement = reports.settlement_report(uow=uow, day=report.day)
        exceptions = reports.list_exceptions(uow=uow, open_only=True, limit=50)
        disagreements = shadow_balances.balance_disagreements(uow=uow)
        trial = ledger.trial_balance(uow=uow)
    report.settlement = settlement
    own = [card for card in cards if card.own]
    wrong = [card.asn for card in own if shadows[card.asn] != card.balance]
    checks.append(Check("chip balances = shadow balances / 卡内余额 = 影子余额", not wrong,
                        f"{len(own) - len(wrong)} of {len(own)} cards agree" + (f"; not: {wrong[:5]}" if wrong else "")))
    loaded = sum(c.loaded for c in own)
    fares = sum(c.charged for c in own)
    balances = sum(c.balance for c in own)
    checks.append(Check("top-ups = balances + fares / 充值 = 余额 + 车费", loaded == balances + fares,
                        f"{loaded} = {balances} + {fares} fen"))
    by_operator = defaultdict(int)
    for (city, operator, _issuer), amount in charged.items():
        by_operator[(city, operator)] += amount
    checks.append(Check("operators are owed what validators charged / 运营方应收 = 闸机实收",
                        {k: v for k, v in by_operator.items() if v}
                        == {k: v for k, v in settlement.by_operator().items() if v},
                        ", ".join(f"{op}@{city} {amount}" for (city, op), amount in sorted(by_operator.items()))))
    visiting = defaultdict(int)
    for (city, _operator, issuer_city), amount in charged.items():
        if city == HOME and issuer_city != HOME:
            visiting[issuer_city] += amount
    receivable = {issuer[4:8]: amount for issuer, amount in settlement.by_issuer().items() if issuer[4:8] != HOME}
    from_house = {payer: amount for (payer, payee), amount in report.house_positions.items() if payee == HOME}
    checks.append(Check("other issuers owe their cards' fares, as the house says / 外地发卡方应付 = 清分中心",
                        {k: v for k, v in visiting.items() if v} == {k: v for k, v in receivable.items() if v}
                        == {k: v for k, v in from_house.items() if v},
                        f"visiting cards {dict(visiting)}; receivable {receivable}; house {from_house}"))
    elsewhere = defaultdict(int)
    for (city, _operator, issuer_city), amount in charged.items():
        if city != HOME and issuer_city == HOME:
            elsewhere[city] += amount
    to_house = {payee: amount for (payer, payee), amount in report.house_positions.items() if payer == HOME}
    checks.append(Check("our cards elsewhere are owed through the house / 本地卡异地消费 = 清分中心",
                        {k: v for k, v in elsewhere.items() if v} == {k: v for k, v in to_house.items() if v}, f"validators {dict(elsewhere)}; house {to_house}"))
    checks.append(Check("reconciliation / 对账", reconciliation.ok,
                        f"{len(reconciliation.cards)} cards, {len(reconciliation.card_mismatches)} off; "
                        f"{len(reconciliation.accounts)} accounts, "
                        f"{sum(not a.agrees for a in reconciliation.accounts)} off; "
                        f"records {reconciliation.records_total} = report {reconciliation.report_total} fen"))
    checks.append(Check("no open exception / 无未结异常", not exceptions,
                        "; ".join(f"{e.reason} {e.asn}: {e.en}" for e in exceptions[:3]) or "none"))
    checks.append(Check("no balance disagreement / 无余额差异", not disagreements,
                        ", ".join(f"{d.asn} {d.difference:+}" for d in disagreements[:5]) or "none"))
    checks.append(Check("ledger trial balance / 总账试算平衡", trial.balanced,
                        f"debits {trial.total_debits} = credits {trial.total_credits} fen"))
    return checks


# --- the day ------------------------------------------------------------------------------------


def simulate_day(platform, *, cards: int, taps: int, day: date | None = None, seed: int = 20260302,
                 exchange_dir: str | Path | None = None, top_up_path: str = "auto",
                 progress: Progress | None = None) -> DayReport:
    """Play one day (see the module docstring) on `platform`'s database and return what happened
    and the checks. The day's other traffic in the same database would show in the checks:
    use a database of its own."""
    if cards < 1 or taps < 0:
        raise ValueError("at least one card, and no negative number of taps")
    progress = progress or SILENT
    rng = random.Random(seed)
    run = rng.randrange(1_000_000)
    day = day or local_date(platform.clock.now())
    if top_up_path == "auto":
        top_up_path = "transit" if _transit_top_up_service() is not None else "direct"
    keystore: KeyStore = platform.get(KeyStore)
    fares = receive.fares_of(platform)
    directory = Path(exchange_dir) if exchange_dir else Path(tempfile.mkdtemp(prefix="ykt-national-"))
    house = NationalClearingHouse(directory, seed=b"simulated issuers %d" % seed, clock=platform.clock)
    report = DayReport(day=day, database=platform.engine.url.render_as_string(), top_up_path=top_up_path)
    sim_cards = _make_cards(cards, run, day, keystore, house, rng, progress)
    report.cards_own = sum(card.own for card in sim_cards)
    report.cards_visiting = len(sim_cards) - report.cards_own
    direct_loads: list[LoadRecord] = []
    _top_up(platform, sim_cards, day, keystore, house, report, rng, progress, direct_loads)
    places = city_places(fares)
    validators = _validators(places, keystore, fares)
    charged: dict[tuple[str, str, str], Fen] = defaultdict(int)
    _play(_plan(sim_cards, taps, day, places, rng), validators, report, charged, rng, progress)
    by_asn = {card.asn: card for card in sim_cards}
    idempotent = _upload_terminals(platform, validators, day, run, house, report, rng, progress)
    _upload_top_ups(platform, direct_loads, by_asn, day, run, report)
    _exchange_with_house(platform, house, report)
    with platform.uow() as uow:
        report.review = day_review.review_day(uow=uow, actor=EXCHANGE, day=day, fares=fares)
        uow.commit()
    report.checks = [*_checks(platform, sim_cards, charged, report), idempotent]
    return report

