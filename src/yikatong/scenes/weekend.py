"""A weekend in the city, end to end, with every fen and every entry reconciled (`ykt simulate weekend`).

Two days on the injectable clock, through the parts issue 15 built, each called where its real
caller would call it:

1. Friday evening: N people are registered, each with a card in use (chip personalised under the
   platform's keys, the T-Union wallet loaded at an outlet, the bank account opened, activated
   and paid in at the reference bank); some opt in to the reader card. Three campaigns open: a
   merchant 满减 with a budget meant to run out, a tourism voucher (granted to some holders) and
   a metro rebate. Some holders buy the city tourism pass from the bank account.
2. Each day:
   * day tickets bought online from the bank account (some with a voucher) for the day;
   * the Dinosaur Park's gate asks online (`tourism.service.admit`); its ticket office sells from
     the wallet at a venue terminal (a T-Union purchase, `tourism.gate_api.wallet_sale`);
   * Tianmu Lake's gate works OFF LINE: it takes the signed allow-list in the morning and at noon
     (`tourism.allow_list`), decides every tap itself (tickets, passes, seniors free), queues
     the entries and uploads them in the evening (`tourism.service.record_entries`), once more
     by mistake (all duplicates);
   * on Saturday morning a pass holder formally reports the card lost: the online gate refuses
     it at once, the offline gate once its list is refreshed, the library kiosk with a screen
     message;
   * library kiosks speak SIP2 over loopback TCP to the platform's SIP2 server (login, patron
     status, checkout, renewal, checkin, end session);
   * merchant tills ask the 满减 before charging until the budget runs out (a few refunds);
   * holders ride the metro; the operator uploads the validators' files, clearing settles them,
     the rebate run credits the wallets, written at the next contact (Sunday evening);
   * unused tickets for Sunday are refunded on Saturday evening (the voucher comes back);
   * on Saturday the Dinosaur Park's office also sells, from the wallet, the city pass (by the
     card centre's desk) and a ticket for Sunday that is given back unused on Sunday morning
     (a pending wallet credit, written at the card's next contact).
   In the evening the venue terminal's purchase file goes to the clearing.
3. The statement day (the first of the next month): each campaign's month is settled; the
   weekend's passes are settled per venue (split by the entries on passes), then the pass of a
   holder who never went is refunded (its split reversed).
4. The checks: bank balances = deposits − ticket payments + refunds; sales by payment = the
   tickets the venues report, day by day; wallet sales = what the clearing owes the venue
   operators, the wallet refund = the credit written on the chip, the passes' shares per venue =
   the entries on passes, in the ledger and in each venue's statement; chip balances = loads −
   venue purchases − fares + rebates and venue refunds written; entries let in
   (online and offline) = entries recorded = entries the venues report, the second upload all
   duplicates; a campaign's budget spent = redemptions − reversals, never over budget, the
   statements = what the merchants and venue operators redeemed; the rebates = the sponsor's
   receivable = the wallet credits; open loans = checkouts − checkins, reader by reader; the
   ledger's trial balance.
"""

from __future__ import annotations

import calendar
import itertools
import random
import secrets
import socket
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST
from yikatong.core.errors import DomainError
from yikatong.core.money import Fen
from yikatong.core.progress import SILENT, Progress

SYSTEM = Actor(user_id="sim-weekend", role=Role.ADMIN, channel=Channel.SYSTEM)
OUTLET = Actor(user_id="sim-outlet", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01")
SMK_COUNTER = Actor(user_id="sim-smk-counter", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                    branch_code="SMK-TN-01")
TELLER = Actor(user_id="sim-icbc-teller", role=Role.BANK, channel=Channel.BANK_BRANCH, bank_code="ICBC",
               branch_code="ICBC-CZ-001")
LIBRARIAN = Actor(user_id="sim-librarian", role=Role.LIBRARIAN, channel=Channel.LIBRARY, branch_code="CZLIB")
METRO = Actor(user_id="sim-op-CZMETRO", role=Role.TRANSIT_OPERATOR, channel=Channel.PARTNER_API,
              branch_code="CZMETRO")
SPONSOR = "CZ-HRSS"
HOME = "3040"
LIBRARY = "CZLIB"
KIOSK_LOGIN = "sim-kiosk-czlib-01"
MERCHANTS = ("M-WKD-01", "M-WKD-02", "M-WKD-03")
MJ, TOUR, METRO_CAMPAIGN = "WKD-MJ", "WKD-TOUR", "WKD-METRO"
MJ_TIERS = [[10_000, 1_000], [20_000, 3_000]]
VOUCHER_FACE = 3_000
DEPOSIT = 200_000          # fen paid in at the bank
WALLET = 50_000            # fen loaded on the wallet
PASS = "CZ-PASS-228"


def staff(operator: str) -> Actor:
    return Actor(user_id=f"sim-{operator.lower()}", role=Role.VENUE_OPERATOR, channel=Channel.VENUE,
                 branch_code=operator)


def till(merchant: str) -> Actor:
    return Actor(user_id=f"sim-till-{merchant.lower()}", role=Role.MERCHANT, channel=Channel.MERCHANT,
                 branch_code=merchant)


def holder(person_id: int) -> Actor:
    return Actor(user_id=f"sim-holder{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_PORTAL,
                 person_id=person_id)


@dataclass
class Visitor:
    person_id: int
    born: date
    card_no: str
    pan: str
    asn: str
    reader: object            # EmulatorReader of the card's chip
    senior: bool
    reader_no: str | None = None
    voucher: str | None = None
    pass_no: str | None = None
    bank_paid: Fen = 0
    bank_refunded: Fen = 0
    wallet_spent: Fen = 0
    fares: Fen = 0
    rebates_written: Fen = 0
    venue_refunds_written: Fen = 0   # a wallet ticket's refund written on the chip
    lost: bool = False
    stays_home: bool = False         # bought the pass and never goes (refunded after the settlement)
    ecard_consent: bool = False
    loans: set[str] = field(default_factory=set)

    def present(self):
        self.reader.connect()
        return self.reader


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class WeekendReport:
    saturday: date
    database: str
    people: int = 0
    readers: int = 0
    passes: int = 0
    tickets_bank: int = 0
    tickets_wallet: int = 0
    sales_bank_fen: Fen = 0
    sales_wallet_fen: Fen = 0
    voucher_discount_fen: Fen = 0
    refunds: int = 0
    refunds_fen: Fen = 0
    passes_wallet: int = 0
    wallet_refunds: int = 0
    wallet_refunds_fen: Fen = 0
    venue_refunds_written_fen: Fen = 0
    pass_split: dict[str, Fen] = field(default_factory=dict)   # venue -> fen, the settlement's
    pass_split_moved_fen: Fen = 0
    pass_split_reversed_fen: Fen = 0
    entries_online: int = 0
    entries_offline: int = 0
    entries_refused: Counter = field(default_factory=Counter)
    list_refreshes: int = 0
    reuploaded_duplicates: int = 0
    ecard_entries: int = 0
    sale_refusals: Counter = field(default_factory=Counter)
    lost_card_refusals: dict[str, str] = field(default_factory=dict)
    checkouts: int = 0
    checkins: int = 0
    renewals: int = 0
    kiosk_refusals: Counter = field(default_factory=Counter)
    sip2_messages: int = 0
    till_redemptions: int = 0
    till_discount_fen: Fen = 0
    till_refunds: int = 0
    till_refunded_fen: Fen = 0
    till_refusals: Counter = field(default_factory=Counter)
    vouchers_granted: int = 0
    metro_rides: int = 0
    fares_fen: Fen = 0
    rebates_fen: Fen = 0
    rebates_written_fen: Fen = 0
    rebates_waiting_fen: Fen = 0
    statements: list[tuple[str, str, str, Fen]] = field(default_factory=list)  # campaign, payee, period, net
    campaigns: list[tuple[str, Fen, Fen]] = field(default_factory=list)          # code, budget, spent
    venue_days: list[tuple[str, date, int, Fen, Fen, Fen, int]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


# --- a library kiosk speaking SIP2 ----------------------------------------------------------------

# Fixed-field widths of the responses the kiosk reads (after the two-character code).
_RESPONSE_FIXED = {"94": 1, "24": 14 + 3 + 18, "12": 4 + 18, "10": 4 + 18, "30": 4 + 18, "36": 1 + 18,
                   "98": 6 + 3 + 3 + 18 + 4, "64": 14 + 3 + 18 + 24}


class Kiosk:
    """A self-service kiosk: SIP2 lines over TCP with sequence numbers and checksums (AY/AZ)."""

    def __init__(self, port: int, clock, *, location: str = "CZLIB-KIOSK-01") -> None:
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.clock, self.location = clock, location
        self._sequence = itertools.count()
        self._buffer = b""
        self.messages = 0

    def close(self) -> None:
        self.socket.close()

    def ask(self, code: str, fixed: list[str], fields: list[tuple[str, str]]) -> tuple[str, dict[str, list[str]]]:
        from yikatong.library.sip2 import codec

        sequence = next(self._sequence) % 10
        self.socket.sendall(codec.encode(code, fixed, fields, sequence=sequence, error_detection=True))
        while b"\r" not in self._buffer:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError("the SIP2 server closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\r")
        self.messages += 1
        az = line.rfind(b"AZ")
        if az < 0 or not codec.checksum_ok(line[:az + 2], line[az + 2:]):
            raise ValueError(f"bad checksum in {line!r}")
        ay = line.rfind(b"AY", 0, az)
        if ay < 0 or int(line[ay + 2:az]) != sequence:
            raise ValueError(f"sequence {sequence} not answered in {line!r}")
        text = line[:ay].decode("utf-8")
        answer = text[:2]
        width = _RESPONSE_FIXED.get(answer, 0)
        values: dict[str, list[str]] = {"fixed": [text[2:2 + width]]}
        for piece in text[2 + width:].split("|"):
            if len(piece) >= 2:
                values.setdefault(piece[:2], []).append(piece[2:])
        return answer, values

    def _now(self) -> str:
        from yikatong.library.sip2 import codec

        return codec.format_date(self.clock.now())

    def login(self, user: str, password: str) -> bool:
        _, values = self.ask("93", ["0", "0"], [("CN", user), ("CO", password), ("CP", self.location)])
        return values["fixed"][0] == "1"

    def patron_status(self, patron: str) -> dict[str, list[str]]:
        return self.ask("23", ["001", self._now()], [("AO", LIBRARY), ("AA", patron), ("AC", ""), ("AD", "")])[1]

    def checkout(self, patron: str, barcode: str) -> tuple[bool, dict]:
        _, values = self.ask("11", ["N", "N", self._now(), " " * 18],
                             [("AO", LIBRARY), ("AA", patron), ("AB", barcode), ("AC", "")])
        return values["fixed"][0][:1] == "1", values

    def renew(self, patron: str, barcode: str) -> tuple[bool, dict]:
        _, values = self.ask("29", ["N", "N", self._now(), " " * 18],
                             [("AO", LIBRARY), ("AA", patron), ("AB", barcode), ("AC", "")])
        return values["fixed"][0][:1] == "1", values

    def checkin(self, barcode: str) -> tuple[bool, dict]:
        now = self._now()
        _, values = self.ask("09", ["N", now, now], [("AP", self.location), ("AO", LIBRARY), ("AB", barcode),
                                                    ("AC", "")])
        return values["fixed"][0][:1] == "1", values

    def end(self, patron: str) -> None:
        self.ask("35", [self._now()], [("AO", LIBRARY), ("AA", patron)])


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    platform: object
    keystore: object
    rng: random.Random
    report: WeekendReport
    visitors: list[Visitor] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    kiosk_password: str = ""
    # (venue, day) -> [bank fen, wallet fen, discount fen, refunds fen, tickets]
    venue_sales: dict[tuple[str, date], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * 5))
    sunday_tickets: list[tuple[Visitor, str, int, bool]] = field(default_factory=list)  # holder, ticket, paid, voucher
    voucher_redeemed_fen: dict[str, Fen] = field(default_factory=lambda: defaultdict(int))  # operator -> net
    pass_entries: Counter = field(default_factory=Counter)  # venue -> entries on a pass, as the scene saw them
    wallet_pass: tuple[Visitor, str, Fen] | None = None     # sold at the Dinosaur Park's office
    wallet_refund: tuple[Visitor, str, Fen] | None = None   # a Sunday ticket from the wallet, given back
    rebate_files: list[str] = field(default_factory=list)
    venues: Venues | None = None
    serial: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def clock(self):
        return self.platform.clock

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        moment = datetime.combine(day, time(hour, minute), tzinfo=CST)
        if moment < self.clock.now():  # the weekend is played in time order
            raise RuntimeError(f"the clock would go back from {self.clock.now()} to {moment}")
        self.clock.set(moment)
        return moment

    def spread(self, day: date, hour: int, hours: int, i: int, n: int) -> datetime:
        """The i-th of n events spread over `hours` from `hour`: the clock only moves forward."""
        minutes = hour * 60 + i * hours * 60 // max(n, 1)
        return self.at(day, minutes // 60, minutes % 60)

    def act(self, operation, **kwargs):
        with self.platform.uow() as uow:
            result = operation(uow=uow, **kwargs)
            uow.commit()
        return result


def _bank(platform):
    from yikatong.banking.runtime import ReferenceBank

    return platform.get(ReferenceBank)


def _at_bank(platform, operation, **kwargs):
    bank = _bank(platform)
    with bank.uow() as uow:
        result = operation(uow=uow, **kwargs)
        bank.commit(uow)
    return result


def setup(platform, *, people: int, saturday: date, rng: random.Random, report: WeekendReport,
          progress: Progress) -> World:
    """Friday: reference data, the kiosk login, the library's items, the people and their cards,
    the campaigns, vouchers and passes."""
    from yikatong.auth.service import create_user
    from yikatong.banking.wiring import use_reference_bank
    from yikatong.crypto.protocols import KeyStore
    from yikatong.library import service as library
    from yikatong.library import wiring as library_wiring
    from yikatong.tourism import service as tourism

    use_reference_bank(platform)
    library_wiring.configure(platform)
    world = World(platform, platform.get(KeyStore), rng, report)
    friday = saturday - timedelta(days=1)
    world.at(friday, 17)
    world.act(tourism.load_reference_data, actor=SYSTEM)
    world.act(library.load_reference_data, actor=SYSTEM)
    world.kiosk_password = f"Kiosk-{secrets.token_hex(12)}-Tianning"
    world.act(create_user, actor=SYSTEM, username=KIOSK_LOGIN, password=world.kiosk_password,
              role=Role.LIBRARIAN, branch_code=LIBRARY)
    for n in range(max(8, people // 2)):
        barcode = f"CZLIB-W{saturday:%m%d}{n:04d}"
        world.act(library.add_item, actor=LIBRARIAN, barcode=barcode, title=f"周末书目 {n + 1} / Weekend title {n + 1}",
                  price_fen=5_000)
        world.items.append(barcode)

    advance = progress.stage("持卡人 / card holders", people)
    for n in range(people):
        world.visitors.append(_visitor(world, n, friday))
        advance(1)
    report.people = people
    _campaigns(world, saturday)
    readers = [v for v in world.visitors if rng.random() < 0.5]
    pass_holders = [v for v in world.visitors if v.pass_no]
    if pass_holders and not any(v.pass_no for v in readers):
        readers.append(pass_holders[0])  # the pass holder who loses the card also borrows
    for v in readers:
        v.reader_no = world.act(library.opt_in, actor=holder(v.person_id)).reader_no
    report.readers = len(readers)
    _ecard_consents(world)
    # One more holder buys the pass and never goes: refunded after the month's settlement (the
    # refund reverses the pass's split between the venues).
    home = next((v for v in world.visitors if not v.senior and not v.pass_no and not v.reader_no), None)
    if home is not None:
        sold = world.act(tourism.sell, actor=holder(home.person_id), product_code=PASS, person_id=home.person_id,
                         idempotency_key=f"sim-pass-{home.person_id}", confirmed=True)
        home.pass_no, home.bank_paid, home.stays_home = sold.ticket_no, home.bank_paid + sold.paid_fen, True
        report.passes += 1
        report.sales_bank_fen += sold.paid_fen
    return world


def _ecard_consents(world: World) -> None:
    """The seniors agree to use the e-card in the official app (the QR they show on Sunday)."""
    from yikatong.ecard import service as ecard
    from yikatong.ecard.rules import NATIONAL_CHANNELS

    for v in world.visitors:
        if v.senior:
            world.act(ecard.grant_consent, actor=holder(v.person_id), channel=NATIONAL_CHANNELS[0].code,
                      keys=world.keystore)
            v.ecard_consent = True


def _visitor(world: World, n: int, friday: date) -> Visitor:
    from yikatong.applications.reference import synthetic_photo
    from yikatong.applications.rules import luhn_complete
    from yikatong.banking import payments
    from yikatong.banking import service as bank_service
    from yikatong.cards import service as cards
    from yikatong.chip import terminal
    from yikatong.chip.emulator import Card
    from yikatong.chip.host import LoadHost
    from yikatong.chip.image import CardPersonalisation, personalise
    from yikatong.chip.reader import EmulatorReader
    from yikatong.clearing.simulation import post_cash_top_ups
    from yikatong.people.samples import make_citizen_ssn
    from yikatong.people.service import register_applicant
    from yikatong.transit import service as transit

    rng = world.rng
    senior = n % 6 == 5
    born = date(1946 + rng.randrange(8), 1 + rng.randrange(12), 1 + rng.randrange(28)) if senior else \
        date(1965 + rng.randrange(35), 1 + rng.randrange(12), 1 + rng.randrange(28))
    gender = "M" if n % 2 else "F"
    ssn = make_citizen_ssn("320402", born, gender, seq=(2 * n + (1 if gender == "M" else 0)) % 1000)
    outcome = world.act(register_applicant, actor=SYSTEM, name="周末游客", document_type="resident_id_card",
                        document_number=ssn, gender=gender, birth_date=born, nationality="CHN",
                        phone="13812345678", document_valid_until=date(2036, 1, 1), as_of=friday,
                        photo_jpeg=synthetic_photo(ssn))
    person_id = outcome.person_id
    k = next(world.serial)
    run = world.report.saturday.toordinal() % 100_000
    issue = friday - timedelta(days=60)
    data = CardPersonalisation(
        card_no=f"W{run % 1000:03d}{k:05d}", card_id_code=f"320400D156000005C3{run:05d}{k:09d}", ssn=ssn,
        name="周末游客", gender="1" if gender == "M" else "2", nation="01", birthplace="320402", birth_date=born,
        issue_date=issue, expiry_date=issue + timedelta(days=3652), region_code="320400",
        pan=luhn_complete(f"62122{run:05d}{k:05d}"), pan_sequence=1, pan_expiry=issue + timedelta(days=3652),
        asn=f"03104{run:05d}{k:010d}", purse_algorithm="SM4")
    world.act(cards.register_produced_card, actor=SYSTEM, application_id=None, person_id=person_id, kind="first",
              predecessor_card_no=None, bank_code="ICBC", card_no=data.card_no, card_id_code=data.card_id_code,
              chip_serial=f"WKCHIP{run:05d}{k:06d}", pan=data.pan, asn=data.asn, issue_date=issue)
    world.act(cards.hand_over, actor=OUTLET, card_no=data.card_no)
    _at_bank(world.platform, bank_service.open_account, bank_code="ICBC", card_no=data.card_no, pan=data.pan,
             issue_date=issue)
    _at_bank(world.platform, bank_service.activate_at_branch, actor=TELLER, bank_code="ICBC", pan=data.pan,
             id_document_checked=True, card_checked=True)
    _at_bank(world.platform, payments.deposit, actor=TELLER, bank_code="ICBC", pan=data.pan, amount_fen=DEPOSIT,
             request_id=f"sim-cash-{data.card_no}")
    reader = EmulatorReader(Card(personalise(data, world.keystore)))
    reader.connect()
    load = terminal.load(reader, LoadHost(world.keystore), WALLET, bytes.fromhex("304010000001"),
                         world.clock.now())
    post_cash_top_ups(world.platform, [load])
    visitor = Visitor(person_id, born, data.card_no, data.pan, data.asn, reader, senior)
    transit.contact(platform=world.platform, reader=visitor.present(), actor=SMK_COUNTER)  # the wallet known
    return visitor


def _campaigns(world: World, saturday: date) -> None:
    """The sponsor's three campaigns for the weekend; vouchers granted; passes bought."""
    from yikatong.discounts import service as discounts
    from yikatong.tourism import service as tourism

    people = len(world.visitors)
    sunday = saturday + timedelta(days=1)
    # The 满减 budget covers about two thirds of what the tills will ask: it runs out on Sunday.
    world.act(discounts.create_campaign, actor=SYSTEM, code=MJ, kind="spend_reduction", name_zh="周末消费满减",
              name_en="weekend spend-threshold reduction", budget_fen=max(3_000, people * 1_500),
              starts_on=saturday, ends_on=sunday, rule={"tiers": MJ_TIERS}, eligibility={},
              holder_limit_count=3, holder_limit_fen=None, sponsor_code=SPONSOR)
    for merchant in MERCHANTS:
        world.act(discounts.enrol_merchant, actor=SYSTEM, code=MJ, merchant_code=merchant,
                  name_zh=f"周末商户 {merchant}", name_en=f"weekend shop {merchant}")
    world.act(discounts.create_campaign, actor=SYSTEM, code=TOUR, kind="tourism_voucher", name_zh="周末文旅抵扣券",
              name_en="weekend tourism voucher", budget_fen=people * VOUCHER_FACE,
              starts_on=saturday - timedelta(days=1), ends_on=sunday,
              rule={"face_fen": VOUCHER_FACE, "min_order_fen": 5_000, "valid_days": 3}, eligibility={},
              holder_limit_count=1, holder_limit_fen=None, sponsor_code=SPONSOR)
    for operator in ("CZ-DINO", "CZ-TMH"):
        world.act(discounts.enrol_merchant, actor=SYSTEM, code=TOUR, merchant_code=operator,
                  name_zh=f"景区 {operator}", name_en=f"venue {operator}")
    world.act(discounts.create_campaign, actor=SYSTEM, code=METRO_CAMPAIGN, kind="transit_rebate",
              name_zh="周末地铁半价", name_en="weekend metro half price", budget_fen=people * 2_000,
              starts_on=saturday, ends_on=sunday + timedelta(days=1),
              rule={"rate_bp": 5000, "cap_fen": 200, "holder_month_fen": 2000, "modes": ["metro"]}, eligibility={},
              holder_limit_count=None, holder_limit_fen=None, sponsor_code=SPONSOR)
    for i, v in enumerate(world.visitors):
        if i % 3 == 0:
            granted = world.act(discounts.grant_voucher, actor=SYSTEM, campaign_code=TOUR, person_id=v.person_id,
                                idempotency_key=f"sim-weekend-{v.person_id}")
            v.voucher = granted.code
            world.report.vouchers_granted += 1
        if i % 4 == 1 and not v.senior:
            sold = world.act(tourism.sell, actor=holder(v.person_id), product_code=PASS, person_id=v.person_id,
                             idempotency_key=f"sim-pass-{v.person_id}", confirmed=True)
            v.pass_no, v.bank_paid = sold.ticket_no, v.bank_paid + sold.paid_fen
            world.report.passes += 1
            world.report.sales_bank_fen += sold.paid_fen


# --- a day ------------------------------------------------------------------------------------


class Venues:
    """The Dinosaur Park (online gate, wallet ticket office) and Tianmu Lake (offline gate)."""

    def __init__(self, world: World) -> None:
        from yikatong.chip.psam import Psam
        from yikatong.tourism.gate import Gate
        from yikatong.tourism.terminal import VenueTerminal

        keys = world.keystore
        key = keys.get("ecard_signing")
        self.world = world
        self.gate = Gate("TMH-G1", "TMH", {key.version: keys.sm2_public_key()},
                         psam=Psam(keys, terminal_id=bytes.fromhex("304090000001")))
        self.office = VenueTerminal(Psam(keys, terminal_id=bytes.fromhex("304070000001")), venue_code="DINO",
                                    operator_code="CZ-DINO")
        self.online = itertools.count(1)
        self.uploaded: list = []
        self.recorded = self.again_recorded = 0

    def refresh(self, day: date) -> bool:
        """The offline gate fetches its signed allow-list (as GET /tourism/gates/TMH/allow-list)."""
        from yikatong.tourism import allow_list
        from yikatong.tourism import service as tourism

        platform = self.world.platform
        with platform.uow(read_only=True) as uow:
            entitled = tourism.entitlements(uow, "TMH", day)
            document = allow_list.signed_list(uow, self.world.keystore, venue_code="TMH", day=day,
                                              entitlements=entitled)
        taken = self.gate.take(document, now=platform.clock.now())
        self.world.report.list_refreshes += int(taken)
        return taken

    def tap_offline(self, v: Visitor) -> tuple[bool, str]:
        decision = self.gate.tap(v.present(), self.world.clock.now())
        if decision.admitted:
            self.world.report.entries_offline += 1
            self.world.pass_entries["TMH"] += decision.entry.ground == "pass"
            return True, str(decision.entry.ground)
        self.world.report.entries_refused[f"TMH offline: {decision.refusal}"] += 1
        return False, str(decision.refusal)

    def scan_offline(self, v: Visitor) -> tuple[bool, str]:
        """The holder shows the e-card QR at the offline gate instead of the card: the phone
        asks for a 60-second code (ecard.service.issue_qr), the gate verifies its SM2
        signature and the platform's signed status lists offline, then its allow-list."""
        from yikatong.ecard import service as ecard
        from yikatong.ecard.rules import NATIONAL_CHANNELS

        world = self.world
        channel = NATIONAL_CHANNELS[0].code
        with world.platform.uow() as uow:
            lists = [ecard.get_status_list(uow=uow, purpose=purpose, keys=world.keystore).credential
                     for purpose in ("suspension", "revocation")]
        self.gate.refresh_status_lists(lists, now=world.clock.now())
        code = world.act(ecard.issue_qr, actor=SYSTEM, channel=channel, keys=world.keystore,
                         person_id=v.person_id)
        decision = self.gate.scan(code.token, world.clock.now())
        if decision.admitted:
            world.report.entries_offline += 1
            world.report.ecard_entries += 1
            world.pass_entries["TMH"] += decision.entry.ground == "pass"
            return True, str(decision.entry.ground)
        world.report.entries_refused[f"TMH offline e-card: {decision.refusal}"] += 1
        return False, str(decision.refusal)

    def admit_online(self, v: Visitor) -> tuple[bool, str]:
        from yikatong.tourism import service as tourism

        entry_id = f"DINO-G1-{self.world.report.saturday:%m%d}-{next(self.online):06d}"
        with self.world.platform.uow() as uow:
            decision = tourism.admit(uow, staff("CZ-DINO"), "DINO", "DINO-G1", card_no=v.card_no,
                                     at=self.world.clock.now(), entry_id=entry_id)
        if decision.admitted:
            self.world.report.entries_online += 1
            self.world.pass_entries["DINO"] += decision.ground == "pass"
            return True, decision.ground
        self.world.report.entries_refused[f"DINO online: {decision.reason}"] += 1
        return False, decision.reason

    def upload_entries(self) -> tuple[int, int]:
        """The offline gate's queue to the platform (as POST /tourism/gates/TMH/entries), then the
        same upload again by mistake: (recorded, duplicates of the second)."""
        from yikatong.tourism import service as tourism

        entries = self.gate.drain()
        with self.world.platform.uow() as uow:
            first = tourism.record_entries(uow, staff("CZ-TMH"), entries)
        with self.world.platform.uow() as uow:
            again = tourism.record_entries(uow, staff("CZ-TMH"), entries)
        self.uploaded.extend(entries)
        self.recorded += len(first.recorded)
        self.world.report.reuploaded_duplicates += len(again.duplicates)
        self.again_recorded += len(again.recorded)
        return len(first.recorded), len(again.duplicates)

    def wallet_sale(self, v: Visitor, day: date | None, *, product: str = "DINO-DAY", price: Fen = 26_000,
                    seller: Actor | None = None) -> str | None:
        """The ticket office charges the wallet, then records the sale (the gates' wallet-sales
        door): the ticket's number, or None when the card refused the charge. A day ticket by
        the park's own staff; the city pass (CZSMK's) by the card centre's desk at the office."""
        from yikatong.tourism import gate_api

        paid = self.office.charge(v.present(), price, self.world.clock.now())
        if not paid.paid:
            self.world.report.sale_refusals[f"wallet: {paid.reason}"] += 1
            return None
        r = paid.record
        is_day = product == "DINO-DAY"
        body = gate_api.WalletSaleIn(product_code=product, day=day if is_day else None,
                                     slot="12:00-17:00" if is_day else None, purchase=gate_api.PurchaseIn(
            asn=r.asn, issuer_id=r.issuer_id, terminal_id=r.terminal_id, terminal_serial=r.terminal_serial,
            tx_type=r.tx_type, amount=r.amount, balance_after=r.balance_after, counter=r.counter, when=r.when,
            tac=r.tac, key_version=r.key_version, alg_id=r.alg_id))
        sold = gate_api.wallet_sale("DINO", body, actor=seller or staff("CZ-DINO"), platform=self.world.platform)
        v.wallet_spent += price
        if is_day:
            sales = self.world.venue_sales[("DINO", day)]
            sales[1] += price
            sales[4] += 1
            self.world.report.tickets_wallet += 1
        else:
            self.world.report.passes += 1
            self.world.report.passes_wallet += 1
        self.world.report.sales_wallet_fen += price
        return sold.ticket_no

    def clear_office(self, day: date) -> int:
        """The ticket office's purchase file to the clearing (as POST /tourism/gates/DINO/purchases)."""
        from yikatong.clearing import receive

        if not self.office.pending_records():
            return 0
        content = self.office.clearing_file(f"DINO-T1-{day:%Y%m%d}", created=self.world.clock.now())
        self.office.drain()
        result = receive.upload_batch(platform=self.world.platform, actor=staff("CZ-DINO"), content=content)
        return result.settled_amount


def _buy_online(world: World, v: Visitor, product: str, venue: str, day: date, slot: str,
                use_voucher: bool) -> tuple[str, int] | None:
    from yikatong.tourism import service as tourism

    voucher = v.voucher if use_voucher else None
    try:
        sold = world.act(tourism.sell, actor=holder(v.person_id), product_code=product, person_id=v.person_id,
                         idempotency_key=f"sim-{product}-{day:%m%d}-{v.person_id}-{world.clock.now():%d%H%M}",
                         day=day, slot=slot,
                         confirmed=True, voucher_ref=voucher)
    except DomainError as refused:
        world.report.sale_refusals[f"bank: {refused.code}"] += 1
        return None
    if voucher:
        v.voucher = None
        operator = "CZ-DINO" if venue == "DINO" else "CZ-TMH"
        world.voucher_redeemed_fen[operator] += sold.discount_fen
        world.report.voucher_discount_fen += sold.discount_fen
    v.bank_paid += sold.paid_fen
    sales = world.venue_sales[(venue, day)]
    sales[0] += sold.paid_fen
    sales[2] += sold.discount_fen
    sales[4] += 1
    world.report.tickets_bank += 1
    world.report.sales_bank_fen += sold.paid_fen
    return sold.ticket_no, sold.paid_fen


def _tills(world: World, day: date, hour: int) -> None:
    from yikatong.discounts import service as discounts

    rng = world.rng
    shoppers = [v for v in world.visitors if not v.lost]
    rng.shuffle(shoppers)
    chosen = shoppers[: max(1, len(shoppers) * 2 // 3)]
    for i, v in enumerate(chosen):
        world.spread(day, hour, 1, i, len(chosen))
        merchant = MERCHANTS[i % len(MERCHANTS)]
        order = rng.choice((8_000, 12_000, 15_000, 21_000, 26_000))
        try:
            done = world.act(discounts.redeem, actor=till(merchant), campaign_code=MJ, card_no=v.card_no,
                             order_fen=order, idempotency_key=f"sim-{day:%m%d}-{hour}-{v.person_id}",
                             order_ref=f"POS-{day:%m%d}-{v.person_id}")
        except DomainError as refused:
            world.report.till_refusals[refused.code] += 1
            continue
        world.report.till_redemptions += 1
        world.report.till_discount_fen += done.discount_fen
        if rng.random() < 0.1:  # the goods come back
            world.act(discounts.refund, actor=till(merchant), redemption_id=done.id, reason="goods returned")
            world.report.till_refunds += 1
            world.report.till_refunded_fen += done.discount_fen


def _metro_rides(world: World, day: date) -> tuple:
    """06:00–07:00: holders ride the metro (entry and exit validators, off line)."""
    from yikatong.chip.psam import Psam
    from yikatong.transit.validator import Validator, metro_entry, metro_exit

    keys = world.keystore
    entry = Validator(Psam(keys, terminal_id=bytes.fromhex(f"3040020{day.day:02d}001")), metro_entry(HOME, "0101", "CZMETRO"))
    exit_ = Validator(Psam(keys, terminal_id=bytes.fromhex(f"3040020{day.day:02d}002")), metro_exit(HOME, "0104", "CZMETRO"))
    riders = [v for v in world.visitors if not v.lost and world.rng.random() < 0.6]
    for i, v in enumerate(riders):
        start = world.spread(day, 6, 1, i, len(riders))
        went_in = entry.tap(v.present(), start)
        came_out = exit_.tap(v.present(), start + timedelta(minutes=18))
        if went_in.accepted and came_out.accepted:
            charged = went_in.amount + came_out.amount
            v.fares += charged
            world.report.fares_fen += charged
            world.report.metro_rides += 1
    return entry, exit_


def _metro_clearing(world: World, day: date, validators: tuple) -> None:
    """23:10: the operator uploads the validators' files; clearing; the rebate run."""
    from yikatong.clearing import receive
    from yikatong.clearing.simulation import record_at, terminal_file
    from yikatong.discounts import rebates

    entry, exit_ = validators
    world.at(day, 23, 10)
    now = world.clock.now()
    for validator, name in ((entry, "IN"), (exit_, "OUT")):
        records = [record_at(r, validator.place) for r in validator.drain()]
        if not records:
            continue
        content = terminal_file(validator, records, file_id=f"CZMETRO-{name}-{day:%Y%m%d}", created=now)
        result = receive.upload_batch(platform=world.platform, actor=METRO, content=content)
        with world.platform.uow() as uow:
            run = rebates.run_batch(uow=uow, actor=SYSTEM, file_id=result.file_id)
            uow.commit()
        world.report.rebates_fen += run.amount
        world.rebate_files.append(result.file_id)


def _kiosk_saturday(world: World, kiosk: Kiosk, day: date) -> None:
    """Readers borrow at the kiosk (patron status, checkout, end session)."""
    rng = world.rng
    free = [b for b in world.items if not any(b in v.loans for v in world.visitors)]
    readers = [v for v in world.visitors if v.reader_no]
    for i, v in enumerate(readers):
        world.spread(day, 15, 1, i, len(readers))
        status = kiosk.patron_status(v.card_no)
        if v.lost:
            world.report.kiosk_refusals["patron status: " + (status.get("AF", [""])[0] or "blocked")] += 1
            if free:
                ok, values = kiosk.checkout(v.card_no, free[0])
                if not ok:
                    world.report.lost_card_refusals["library kiosk (SIP2 11)"] = values.get("AF", [""])[0]
                    world.report.kiosk_refusals["checkout refused: lost card"] += 1
            kiosk.end(v.card_no)
            continue
        for _ in range(rng.randrange(1, 3)):
            if not free:
                break
            barcode = free.pop()
            ok, values = kiosk.checkout(v.card_no, barcode)
            if ok:
                v.loans.add(barcode)
                world.report.checkouts += 1
            else:
                world.report.kiosk_refusals["checkout: " + (values.get("AF", [""])[0] or "refused")] += 1
                free.append(barcode)
        kiosk.end(v.card_no)


def _kiosk_sunday(world: World, kiosk: Kiosk, day: date) -> None:
    """Readers renew some loans and bring some back."""
    rng = world.rng
    borrowers = [v for v in world.visitors if v.reader_no and v.loans and not v.lost]
    for i, v in enumerate(borrowers):
        world.spread(day, 15, 1, i, len(borrowers))
        kiosk.patron_status(v.card_no)
        for barcode in sorted(v.loans):
            if rng.random() < 0.4:
                ok, values = kiosk.checkin(barcode)
                if ok:
                    v.loans.discard(barcode)
                    world.report.checkins += 1
                else:
                    world.report.kiosk_refusals["checkin: " + (values.get("AF", [""])[0] or "refused")] += 1
            elif rng.random() < 0.5:
                ok, values = kiosk.renew(v.card_no, barcode)
                if ok:
                    world.report.renewals += 1
                else:
                    world.report.kiosk_refusals["renew: " + (values.get("AF", [""])[0] or "refused")] += 1
        kiosk.end(v.card_no)


def _lose_a_card(world: World, venues: Venues, day: date) -> Visitor | None:
    """A pass holder (a reader, if there is one) formally reports the card lost; the online gate
    refuses it at once."""
    from yikatong.cards import service as cards

    candidates = [v for v in world.visitors if v.pass_no and not v.lost and not v.stays_home]
    if not candidates:
        return None
    readers = [v for v in candidates if v.reader_no]
    lost = (readers or candidates)[0]
    world.at(day, 9, 30)
    world.act(cards.report_loss, actor=holder(lost.person_id), card_no=lost.card_no, kind="formal")
    lost.lost = True
    world.at(day, 9, 45)
    admitted, reason = venues.admit_online(lost)
    if not admitted:
        world.report.lost_card_refusals["Dinosaur Park online gate"] = reason
    return lost


def play_day(world: World, venues: Venues, kiosk: Kiosk, day: date, *, saturday: bool,
             progress: Progress) -> None:
    from yikatong.tourism import service as tourism

    rng = world.rng
    sunday = day + timedelta(days=1)
    steps = progress.stage(f"{day} {'六 Saturday' if saturday else '日 Sunday'}", 8)
    # 06:00–07:00 the metro; 07:00 day tickets bought online (the offline gate's morning list
    # carries them).
    validators = _metro_rides(world, day)
    world.at(day, 7)
    for n, v in enumerate(world.visitors):
        if v.senior or v.lost or v.pass_no:
            continue
        roll = rng.random()
        if roll < 0.35:
            _buy_online(world, v, "TMH-DAY", "TMH", day, "08:00-17:00", use_voucher=bool(v.voucher))
        elif roll < 0.55:
            _buy_online(world, v, "DINO-DAY", "DINO", day, "09:00-12:00", use_voucher=bool(v.voucher))
        if saturday and (n % 7 == 0 or rng.random() < 0.1):  # a ticket for Sunday, some given back tonight
            bought = _buy_online(world, v, "DINO-DAY", "DINO", sunday, "09:00-12:00", use_voucher=bool(v.voucher))
            if bought:
                world.sunday_tickets.append((v, bought[0], bought[1], False))
    steps(1)
    world.at(day, 8)
    venues.refresh(day)
    if not saturday and world.wallet_refund is not None:
        world.at(day, 8, 30)
        _desk_wallet_refund(world, day)
    steps(1)
    lost = _lose_a_card(world, venues, day) if saturday else None
    # 10:00–11:00 the gates.
    for i, v in enumerate(world.visitors):
        world.spread(day, 10, 1, i, len(world.visitors))
        held = [t for t in _tickets(world, v.person_id) if t.status == "valid"]
        at_tmh = any("TMH" in t.venue_codes and t.day == day for t in held)
        at_dino = any("DINO" in t.venue_codes and t.day == day for t in held)
        if v.lost or v.stays_home:
            continue
        if at_tmh or v.senior or (v.pass_no and rng.random() < 0.5):
            if v.ecard_consent and not saturday:
                venues.scan_offline(v)  # on Sunday the seniors show the e-card QR
            else:
                venues.tap_offline(v)
            if rng.random() < 0.2:  # tapped twice
                venues.tap_offline(v)
        if at_dino or (v.pass_no and rng.random() < 0.6):
            venues.admit_online(v)
    steps(1)
    steps(1)
    # 11:00–12:00 the tills.
    _tills(world, day, 11)
    # 12:00 the offline gate refreshes; the lost card is refused from now on.
    world.at(day, 12)
    venues.refresh(day)
    if lost is not None:
        world.at(day, 12, 30)
        admitted, reason = venues.tap_offline(lost)
        if not admitted:
            world.report.lost_card_refusals["Tianmu Lake offline gate after its refresh"] = reason
    # 13:00 the Dinosaur Park's ticket office sells from the wallet; the buyers go in online.
    buyers = [v for v in world.visitors if not v.lost and not v.pass_no][: max(1, len(world.visitors) // 5)]
    for i, v in enumerate(buyers):
        world.spread(day, 13, 1, i, len(buyers))
        if _tickets_today(world, v, "DINO", day):
            continue
        if venues.wallet_sale(v, day):
            venues.admit_online(v)
    if saturday:
        _office_extras(world, venues, day, buyers)
    steps(1)
    _tills(world, day, 14)
    # 15:00–16:00 the library kiosks.
    if saturday:
        _kiosk_saturday(world, kiosk, day)
    else:
        _kiosk_sunday(world, kiosk, day)
    steps(1)
    # 18:00 the offline gate uploads its queue (and once more by mistake).
    world.at(day, 18)
    venues.upload_entries()
    # 20:00 tickets for Sunday given back (Saturday evening).
    if saturday:
        world.at(day, 20)
        for k, (v, ticket_no, paid, _) in enumerate(world.sunday_tickets):
            if k == 0 or rng.random() < 0.5:
                refunded = world.act(tourism.refund, actor=holder(v.person_id), ticket_no=ticket_no,
                                     reason="plans changed")
                v.bank_refunded += paid
                world.report.refunds += 1
                world.report.refunds_fen += paid
                sales = world.venue_sales[(refunded.venue_codes[0], refunded.day)]
                sales[3] += paid
                if refunded.voucher_ref:
                    world.voucher_redeemed_fen["CZ-DINO"] -= refunded.discount_fen
    # 22:00 the ticket office's file to the clearing; 23:00 the metro's files and the rebates.
    world.at(day, 22)
    venues.clear_office(day)
    steps(1)
    _metro_clearing(world, day, validators)
    steps(1)


def _office_extras(world: World, venues: Venues, day: date, buyers: list[Visitor]) -> None:
    """Saturday at the Dinosaur Park's office, from the wallet: the card centre's desk sells a
    holder the city pass (CZSMK's: its revenue is split between the venues at the settlement),
    and another holder buys a ticket for Sunday that they will give back unused."""
    sunday = day + timedelta(days=1)
    others = [v for v in world.visitors if not v.lost and not v.pass_no and not v.senior and v not in buyers]
    if others:
        v = others[0]
        sold = venues.wallet_sale(v, None, product=PASS, price=22_800, seller=SYSTEM)
        if sold:
            v.pass_no = sold
            world.wallet_pass = (v, sold, 22_800)
    if len(others) > 1:
        v = others[1]
        sold = venues.wallet_sale(v, sunday)
        if sold:
            world.wallet_refund = (v, sold, 26_000)


def _desk_wallet_refund(world: World, day: date) -> None:
    """Sunday morning the holder gives the wallet ticket back at the desk (its purchase was
    cleared last night): a pending wallet credit (payer kind venue_refund), written at the
    card's next contact, taken off the operator's clearing payable."""
    from yikatong.tourism import service as tourism

    v, ticket_no, paid = world.wallet_refund
    world.act(tourism.refund, actor=staff("CZ-DINO"), ticket_no=ticket_no, reason="plans changed")
    world.venue_sales[("DINO", day)][3] += paid
    world.report.refunds += 1
    world.report.refunds_fen += paid
    world.report.wallet_refunds += 1
    world.report.wallet_refunds_fen += paid


def _settle_passes(world: World, saturday: date) -> None:
    """The statement day: the weekend's passes settled per venue (Friday to Sunday), then the
    pass of the holder who stayed home refunded (the refund reverses its split)."""
    from yikatong.tourism import service as tourism
    from yikatong.tourism import settlement

    friday, sunday = saturday - timedelta(days=1), saturday + timedelta(days=1)
    done = world.act(settlement.settle, actor=SYSTEM, period_from=friday, period_to=sunday)
    world.report.pass_split = dict(done.venues)
    world.report.pass_split_moved_fen = done.moved_fen
    world.at(world.clock.now().astimezone(CST).date(), 9, 30)
    for v in world.visitors:
        if v.stays_home and v.pass_no:
            refunded = world.act(tourism.refund, actor=holder(v.person_id), ticket_no=v.pass_no,
                                 reason="never went")
            v.bank_refunded += refunded.paid_fen
            world.report.refunds += 1
            world.report.refunds_fen += refunded.paid_fen
            world.report.pass_split_reversed_fen += refunded.paid_fen


def _tickets(world: World, person_id: int):
    from yikatong.tourism import service as tourism

    with world.platform.uow(read_only=True) as uow:
        return tourism.tickets_of(uow=uow, actor=SYSTEM, person_id=person_id)


def _tickets_today(world: World, v: Visitor, venue: str, day: date) -> bool:
    return any(venue in t.venue_codes and t.day == day and t.status in ("valid", "used")
               for t in _tickets(world, v.person_id))


def _write_rebates(world: World) -> None:
    """Sunday evening: each card presented at a counter; its pending rebate credit is written."""
    from yikatong.transit import service as transit
    from yikatong.transit.models import TopUpOrder
    from yikatong.transit.rules import VENUE_REFUND_PAYER

    for v in world.visitors:
        if v.lost:
            continue
        before = _chip_balance(v)
        reading = transit.contact(platform=world.platform, reader=v.present(), actor=SMK_COUNTER)
        written = [settled.order_no for settled in reading.settled if settled.outcome == "written"]
        if not written:
            continue
        with world.platform.uow(read_only=True) as uow:
            kinds = dict(uow.session.execute(select(TopUpOrder.order_no, TopUpOrder.payer_kind)
                                             .where(TopUpOrder.order_no.in_(written))).all())
            amounts = dict(uow.session.execute(select(TopUpOrder.order_no, TopUpOrder.amount)
                                               .where(TopUpOrder.order_no.in_(written))).all())
        refunds = sum(amounts[o] for o in written if kinds[o] == VENUE_REFUND_PAYER)
        v.venue_refunds_written += refunds
        world.report.venue_refunds_written_fen += refunds
        v.rebates_written += reading.balance - before - refunds
        world.report.rebates_written_fen += reading.balance - before - refunds


def _chip_balance(v: Visitor) -> Fen:
    from yikatong.chip import terminal

    reader = v.present()
    terminal.select_purse(reader, allow_blocked=True)
    return terminal.get_balance(reader)


def _settle(world: World, saturday: date) -> None:
    """The statement day: the first of the month after the weekend's last day."""
    from yikatong.discounts import service as discounts

    sunday = saturday + timedelta(days=1)
    last = calendar.monthrange(sunday.year, sunday.month)[1]
    statement_day = date(sunday.year, sunday.month, last) + timedelta(days=1)
    world.at(statement_day, 9)
    for period in sorted({f"{saturday:%Y-%m}", f"{sunday:%Y-%m}", f"{saturday - timedelta(days=1):%Y-%m}"}):
        for code in (MJ, TOUR):
            for s in world.act(discounts.settle, actor=SYSTEM, campaign_code=code, period=period):
                world.report.statements.append((code, s.payee_code, period, s.net_fen))


# --- the checks ---------------------------------------------------------------------------------


def reconcile(world: World) -> list[Check]:
    from yikatong.banking import payments
    from yikatong.clearing.rules import operator_payable
    from yikatong.core.clock import local_date
    from yikatong.discounts import rebates
    from yikatong.discounts import service as discounts
    from yikatong.discounts.models import CampaignSpend
    from yikatong.ledger import service as ledger
    from yikatong.library import service as library
    from yikatong.library.models import LibraryLoan
    from yikatong.tourism import rules as tourism_rules
    from yikatong.tourism import service as tourism
    from yikatong.tourism import settlement
    from yikatong.tourism.models import Entry, Ticket
    from yikatong.tourism.terminal import clearing_operator
    from yikatong.transit.models import TopUpOrder

    report, platform = world.report, world.platform
    checks: list[Check] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append(Check(name, bool(ok), detail))

    # Bank: each account = deposit − what the tickets took + what the refunds gave back.
    bank = _bank(platform)
    wrong = []
    with bank.uow() as uow:
        for v in world.visitors:
            have = payments.balance(uow, payments.account_by_pan(uow, "ICBC", v.pan))
            if have != DEPOSIT - v.bank_paid + v.bank_refunded:
                wrong.append(f"{v.card_no[-4:]}: {have} ≠ {DEPOSIT - v.bank_paid + v.bank_refunded}")
    check("bank accounts = deposits − ticket payments + refunds", not wrong,
          f"{len(world.visitors)} accounts; paid {sum(v.bank_paid for v in world.visitors)} fen, refunded "
          f"{sum(v.bank_refunded for v in world.visitors)} fen" + (f"; wrong: {wrong[:3]}" if wrong else ""))

    with platform.uow(read_only=True) as uow:
        sold = dict(uow.session.execute(select(Ticket.payment, func.sum(Ticket.paid_fen))
                                        .group_by(Ticket.payment)).all())
        refunded = uow.session.execute(select(func.coalesce(func.sum(Ticket.paid_fen), 0))
                                       .where(Ticket.status == "refunded")).scalar_one()
        check("ticket sales by payment = what the bank and the wallets paid",
              sold.get("bank", 0) == report.sales_bank_fen and sold.get("wallet", 0) == report.sales_wallet_fen
              and refunded == report.refunds_fen,
              f"bank {sold.get('bank', 0)} = {report.sales_bank_fen}, wallet {sold.get('wallet', 0)} = "
              f"{report.sales_wallet_fen}, refunded {refunded} = {report.refunds_fen} fen")
        # Venue settlement, day by day.
        wrong = []
        entries_reported = 0
        for (venue, day) in sorted({*world.venue_sales, *((v, d) for v in ("DINO", "TMH")
                                                           for d in (report.saturday, report.saturday + timedelta(days=1)))}):
            day_report = tourism.venue_day_report(uow=uow, actor=SYSTEM, venue_code=venue, day=day)
            bank_fen, wallet_fen, discount_fen, refunds_fen, count = world.venue_sales.get((venue, day), [0] * 5)
            report.venue_days.append((venue, day, day_report.tickets_sold, day_report.sales_bank_fen,
                                      day_report.sales_wallet_fen, day_report.refunds_fen, day_report.entries))
            entries_reported += day_report.entries
            got = (day_report.sales_bank_fen, day_report.sales_wallet_fen, day_report.discount_fen,
                   day_report.refunds_fen)
            if got != (bank_fen, wallet_fen, discount_fen, refunds_fen):
                wrong.append(f"{venue} {day}: {got} ≠ {(bank_fen, wallet_fen, discount_fen, refunds_fen)}")
        check("venue settlement per venue per day = the sales made there", not wrong,
              f"{len(report.venue_days)} venue days (bank, wallet, voucher, refunds)" + (f"; {wrong[:2]}" if wrong else ""))
        # Wallet sales = what the clearing owes the venue operators: the office's sales less the
        # wallet refunds, the city pass's shares of the other venues moved to their operators.
        pass_shares = _expected_pass_shares(world)
        wallet_pass = world.wallet_pass
        pass_share = pass_shares.get(wallet_pass[1], {}) if wallet_pass else {}
        owed = {op: _payable(uow, operator_payable(HOME, clearing_operator(op))) for op in VENUE_OPERATORS.values()}
        expected_owed = {op: 0 for op in VENUE_OPERATORS.values()}
        expected_owed["CZ-DINO"] = report.sales_wallet_fen - report.wallet_refunds_fen - (wallet_pass[2] if wallet_pass else 0)
        for venue, fen in pass_share.items():
            expected_owed[VENUE_OPERATORS[venue]] += fen
        check("wallet sales = cleared to the venue operators (less wallet refunds, the pass's shares moved)",
              owed == expected_owed,
              f"clearing owes {owed}; expected {expected_owed} (the office sold {report.sales_wallet_fen} fen, "
              f"{report.wallet_refunds_fen} refunded to the wallet)")
        # A wallet ticket refunded unused: a venue_refund credit, written on the chip at the next contact.
        credits = dict(uow.session.execute(select(TopUpOrder.state, func.sum(TopUpOrder.amount))
                                           .where(TopUpOrder.payer_kind == "venue_refund")
                                           .group_by(TopUpOrder.state)).all())
        check("wallet refunds = venue_refund credits = written on the chips at the next contact",
              report.wallet_refunds_fen == sum(credits.values()) == report.venue_refunds_written_fen
              == sum(v.venue_refunds_written for v in world.visitors) and not credits.get("paid"),
              f"{report.wallet_refunds} refunded at the desk, {report.wallet_refunds_fen} fen; credits by state "
              f"{credits}; written {report.venue_refunds_written_fen} fen")
        # The passes split per venue by the entries the scene made; the refund reversed one.
        per_venue: dict[str, Fen] = defaultdict(int)
        for shares in pass_shares.values():
            for venue, fen in shares.items():
                per_venue[venue] += fen
        bank_passes = {no: shares for no, shares in pass_shares.items() if not wallet_pass or no != wallet_pass[1]}
        reversed_ = next((pass_shares[v.pass_no] for v in world.visitors if v.stays_home and v.pass_no), {})
        expected_due = sum(sum(s.values()) for s in bank_passes.values()) - sum(reversed_.values())
        expected_payable = {op: 0 for op in VENUE_OPERATORS.values()}
        for shares in bank_passes.values():
            for venue, fen in shares.items():
                expected_payable[VENUE_OPERATORS[venue]] += fen
        for venue, fen in reversed_.items():
            expected_payable[VENUE_OPERATORS[venue]] -= fen
        due = _balance_or_zero(uow, tourism_rules.seller_due_account("CZSMK"))
        payable = {op: _balance_or_zero(uow, tourism_rules.venue_payable_account(op)) for op in VENUE_OPERATORS.values()}
        friday = report.saturday - timedelta(days=1)
        statements = {venue: settlement.venue_statement(uow=uow, actor=SYSTEM, venue_code=venue, period_from=friday,
                                                        period_to=local_date(world.clock.now()))
                      for venue in VENUE_OPERATORS}
        check("pass revenue split per venue by the weekend's entries; each pass's shares sum to its sale; the "
              "ledger owes each venue's operator its shares; the refund reversed one pass",
              report.pass_split == dict(sorted(per_venue.items()))
              and all(sum(s.values()) == paid for s, paid in zip(pass_shares.values(), _pass_prices(world), strict=True))
              and due == expected_due and payable == expected_payable
              and all(statements[v].pass_shares_fen == per_venue.get(v, 0)
                      and statements[v].pass_reversals_fen == reversed_.get(v, 0) for v in VENUE_OPERATORS)
              and sum(reversed_.values()) == report.pass_split_reversed_fen,
              f"{len(pass_shares)} passes, entries on passes {dict(world.pass_entries)}; split {report.pass_split}, "
              f"expected {dict(sorted(per_venue.items()))}; CZSMK owes {due} (expected {expected_due}); "
              f"operators owed {payable} (expected {expected_payable}); reversed {report.pass_split_reversed_fen} fen")
        # Entries.
        first_day, last_day = report.saturday, report.saturday + timedelta(days=1)
        recorded = uow.session.execute(select(func.count()).select_from(Entry)
                                       .where(Entry.day >= first_day, Entry.day <= last_day)).scalar_one()
        offline = uow.session.execute(select(func.count()).select_from(Entry).where(
            Entry.day >= first_day, Entry.day <= last_day, Entry.offline.is_(True))).scalar_one()
        let_in = report.entries_online + report.entries_offline
        check("entries let in (online + offline) = entries recorded = entries the venues report",
              recorded == let_in == entries_reported and offline == report.entries_offline == len(
                  {e.entry_id for e in _uploaded(world)}) == world.venues.recorded
              and report.reuploaded_duplicates == offline and world.venues.again_recorded == 0,
              f"online {report.entries_online} + offline {report.entries_offline} = {let_in}; recorded {recorded} "
              f"({offline} uploaded by the offline gate; its second upload: {report.reuploaded_duplicates} "
              f"duplicates, {world.venues.again_recorded} new); reported {entries_reported}")
        # Campaigns.
        for code in (MJ, TOUR, METRO_CAMPAIGN):
            view = discounts.campaign(uow=uow, actor=SYSTEM, code=code)
            report.campaigns.append((code, view.budget_fen, view.spent_fen))
            spends = dict(uow.session.execute(select(CampaignSpend.status, func.sum(CampaignSpend.amount_fen))
                                              .where(CampaignSpend.campaign_id == view.id)
                                              .group_by(CampaignSpend.status)).all())
            live = spends.get("spent", 0)
            check(f"{code}: budget spent = spends − reversals ≤ budget", view.spent_fen == live <= view.budget_fen,
                  f"spent {view.spent_fen} of {view.budget_fen} fen; spends {sum(spends.values())}, reversed "
                  f"{spends.get('reversed', 0)}")
        mj = discounts.campaign(uow=uow, actor=SYSTEM, code=MJ)
        till_net = report.till_discount_fen - report.till_refunded_fen
        stated = sum(net for code, _, _, net in report.statements if code == MJ)
        exhausted = report.till_refusals.get("campaign_budget_exhausted", 0)
        check(f"{MJ}: the tills' discounts = budget spent = the sponsor's statements to the merchants",
              till_net == mj.spent_fen == stated,
              f"tills {report.till_discount_fen} − refunds {report.till_refunded_fen} = {till_net}; spent "
              f"{mj.spent_fen}; statements {stated} fen; refused once the budget ran out: {exhausted}")
        check(f"{MJ}: ran out of budget without overspending",
              exhausted > 0 and mj.left_fen < min(r for _, r in MJ_TIERS) and mj.spent_fen <= mj.budget_fen,
              f"left {mj.left_fen} fen, less than the smallest reduction ({min(r for _, r in MJ_TIERS)})")
        tour = discounts.campaign(uow=uow, actor=SYSTEM, code=TOUR)
        stated_tour = {payee: net for code, payee, _, net in report.statements if code == TOUR}
        expected_tour = {k: v for k, v in world.voucher_redeemed_fen.items() if v}
        check(f"{TOUR}: vouchers granted = budget spent; statements to the venue operators = vouchers redeemed",
              tour.spent_fen == report.vouchers_granted * VOUCHER_FACE
              and {k: v for k, v in stated_tour.items() if v} == expected_tour,
              f"{report.vouchers_granted} × {VOUCHER_FACE} = {tour.spent_fen} fen; statements {stated_tour}; "
              f"redeemed at the venues {dict(expected_tour)}")
        metro = discounts.campaign(uow=uow, actor=SYSTEM, code=METRO_CAMPAIGN)
        receivable = ledger.balance(uow=uow, code=rebates.sponsor_receivable(SPONSOR))
        credits = uow.session.execute(select(func.coalesce(func.sum(TopUpOrder.amount), 0))
                                      .where(TopUpOrder.payer_kind == "rebate")).scalar_one()
        waiting = dict(uow.session.execute(select(TopUpOrder.asn, func.sum(TopUpOrder.amount))
                                           .where(TopUpOrder.payer_kind == "rebate", TopUpOrder.state == "paid")
                                           .group_by(TopUpOrder.asn)).all())
        lost_asns = {v.asn for v in world.visitors if v.lost}
        report.rebates_waiting_fen = sum(waiting.values())
        check(f"{METRO_CAMPAIGN}: rebates = budget spent = the sponsor's receivable = wallet credits "
              "= written + waiting (only on the lost card, never presented again)",
              report.rebates_fen == metro.spent_fen == abs(receivable) == credits
              == report.rebates_written_fen + report.rebates_waiting_fen and set(waiting) <= lost_asns,
              f"{report.metro_rides} rides, fares {report.fares_fen} fen; rebates {report.rebates_fen}, spent "
              f"{metro.spent_fen}, receivable {abs(receivable)}, credits {credits}, written "
              f"{report.rebates_written_fen} + waiting {report.rebates_waiting_fen} fen")
        # Loans.
        open_loans = uow.session.execute(select(func.count()).select_from(LibraryLoan)
                                         .where(LibraryLoan.returned_at.is_(None))).scalar_one()
        wrong = []
        for v in world.visitors:
            if v.reader_no:
                held = {loan.item_barcode for loan in
                        library.account(uow=uow, reader_no=v.reader_no, now=world.clock.now()).loans}
                if held != v.loans:
                    wrong.append(f"{v.reader_no}: {sorted(held)} ≠ {sorted(v.loans)}")
        check("open loans = kiosk checkouts − checkins, reader by reader",
              open_loans == report.checkouts - report.checkins and not wrong,
              f"{report.checkouts} checkouts − {report.checkins} checkins = {open_loans} on loan; "
              f"{report.renewals} renewed" + (f"; {wrong[:2]}" if wrong else ""))
        trial = ledger.trial_balance(uow=uow)
        check("the ledger's trial balance", trial.balanced,
              f"debits {trial.total_debits} = credits {trial.total_credits}; mismatched {trial.mismatched[:3]}")
    # Chips: loads − venue purchases − fares + rebates written.
    wrong = []

    for v in world.visitors:
        balance = _chip_balance(v)
        expected = WALLET - v.wallet_spent - v.fares + v.rebates_written + v.venue_refunds_written
        if balance != expected:
            wrong.append(f"{v.card_no[-4:]}: {balance} ≠ {expected}")
    check("chip wallets = loads − venue purchases − fares + rebates and venue refunds written", not wrong,
          f"{len(world.visitors)} chips" + (f"; wrong: {wrong[:3]}" if wrong else ""))
    # The lost card.
    expected = {"Dinosaur Park online gate", "Tianmu Lake offline gate after its refresh", "library kiosk (SIP2 11)"}
    lost = [v for v in world.visitors if v.lost]
    check("the formally lost card is refused online, offline after the refresh, and at the kiosk",
          bool(lost) and expected <= set(report.lost_card_refusals) or (not lost and report.passes == 0),
          "; ".join(f"{k}: {v}" for k, v in report.lost_card_refusals.items()) or "no pass holder to lose a card")
    return checks


VENUE_OPERATORS = {"DINO": "CZ-DINO", "TMH": "CZ-TMH", "YANC": "CZ-YANC", "CZMUS": "CZ-MUSEUM"}  # the pass's venues


def _pass_prices(world: World) -> list[Fen]:
    return [22_800] * len(_pass_numbers(world))


def _pass_numbers(world: World) -> list[str]:
    return sorted(v.pass_no for v in world.visitors if v.pass_no)


def _expected_pass_shares(world: World) -> dict[str, dict[str, Fen]]:
    """Each pass's shares as the scene expects them: 228 CNY by the entries on passes the scene
    let in at each venue over the weekend (all venues alike when there were none), in whole fen
    by the largest remainder (tourism.rules.split_fen)."""
    from yikatong.tourism.rules import split_fen

    counted = {venue: world.pass_entries.get(venue, 0) for venue in VENUE_OPERATORS}
    weights = counted if any(counted.values()) else dict.fromkeys(VENUE_OPERATORS, 1)
    return {no: split_fen(22_800, weights) for no in _pass_numbers(world)}


def _payable(uow, code: str) -> Fen:
    return abs(_balance_or_zero(uow, code))


def _balance_or_zero(uow, code: str) -> Fen:
    from yikatong.ledger import service as ledger
    from yikatong.ledger.errors import AccountNotFound

    try:
        return ledger.balance(uow=uow, code=code)
    except AccountNotFound:
        return 0


def _uploaded(world: World) -> list:
    return world.venues.uploaded if world.venues is not None else []


# --- the whole weekend -----------------------------------------------------------------------------


def default_saturday(today: date) -> date:
    """The next Saturday (today, if today is one)."""
    return today + timedelta(days=(5 - today.weekday()) % 7)


def simulate_weekend(platform, *, people: int = 40, saturday: date | None = None, seed: int = 20261128,
                     progress: Progress | None = None) -> WeekendReport:
    """Play the weekend on `platform` (its clock must be settable: FixedClock) and reconcile."""
    from yikatong.library.sip2.server import platform_backend, running
    from yikatong.library.sip2.session import Sip2Config

    if not hasattr(platform.clock, "set"):
        raise ValueError("the weekend moves the clock: give the platform a FixedClock")
    progress = progress or SILENT
    saturday = saturday or default_saturday(platform.clock.now().astimezone(CST).date())
    if saturday.weekday() != 5:
        raise ValueError(f"{saturday} is not a Saturday")
    rng = random.Random(seed)
    report = WeekendReport(saturday=saturday, database=platform.engine.url.render_as_string())
    world = setup(platform, people=people, saturday=saturday, rng=rng, report=report, progress=progress)
    venues = Venues(world)
    world.venues = venues
    config = Sip2Config(library_code=LIBRARY, library_name="常州市图书馆")
    with running(platform_backend(platform, LIBRARY), config, idle_timeout=600) as server:
        kiosk = Kiosk(server.port, platform.clock)
        try:
            world.at(saturday, 6)
            if not kiosk.login(KIOSK_LOGIN, world.kiosk_password):
                raise RuntimeError("the kiosk's login was refused")
            for day in (saturday, saturday + timedelta(days=1)):
                play_day(world, venues, kiosk, day, saturday=day == saturday, progress=progress)
            report.sip2_messages = kiosk.messages
        finally:
            kiosk.close()
    world.at(saturday + timedelta(days=1), 23, 30)
    _write_rebates(world)
    _settle(world, saturday)
    _settle_passes(world, saturday)
    report.checks = reconcile(world)
    return report
