"""One kiosk's SIP2 conversation: a request line in, a response line out.

The kiosk (SC) always speaks first; this side (the ACS) answers each request with exactly one
response, or with 96 (please resend) when the checksum is wrong. It reads who the patron is and
whether their card may borrow from the `PatronAuthority`, and items and loans from the
`LibrarySystem`; it calls nothing else (library/protocols.py). No sockets here: server.py feeds
lines in.

Rules carried here (docs/library-sip2.md has the table):
* A kiosk logs in first (93, `KioskAccounts`); before that only 99 (status) is answered, and
  anything else closes the connection. Three failed logins close it too.
* Error detection: a request with `AY`/`AZ` is checked (a wrong checksum gets 96 and changes
  nothing) and its response carries the same sequence number and its own checksum; a request
  repeated with the same sequence number and checksum (the kiosk did not get our answer) gets
  the same response again without doing anything twice; 97 gets the last response again.
* The platform's blocks (a lost or otherwise unusable card, a holder who has not opted in) are
  decided before the library system is asked: the kiosk gets ok 0 and a screen message (AF), in
  Chinese then English.
* The time of a change is the kiosk's transaction date when it is within `clock_skew` of the
  platform's clock (a kiosk resending a checkout sends the same date, and the library system is
  idempotent on it), or up to `offline_window` old when the kiosk says the transaction was done
  off line (no block = Y, to be accepted); otherwise the platform's clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from yikatong.core.clock import Clock
from yikatong.core.masking import mask_ssn
from yikatong.core.money import MAX_AMOUNT_FEN, format_fen, parse_yuan
from yikatong.library.protocols import (
    LibrarySystem,
    Patron,
    PatronAccount,
    PatronAuthority,
    PatronBlock,
)
from yikatong.library.sip2 import codec
from yikatong.library.sip2.accounts import KioskAccount, KioskAccounts

log = logging.getLogger("yikatong.library.sip2")

# 98's BX: which of the 16 messages this server supports, in the spec's order: patron status,
# checkout, checkin, block patron, SC/ACS status, resend, login, patron information, end
# session, fee paid, item information, item status update, patron enable, hold, renew, renew all.
SUPPORTED_MESSAGES = "YYYNYYYYYYYNNNYY"

# The 14 patron status flags (24, 64) each block sets: 0 charge privileges denied, 1 renewal
# denied, 2 recall denied, 3 hold denied, 5 too many items charged, 6 too many overdue,
# 11 excessive outstanding fees.
STATUS_FLAGS: dict[PatronBlock, tuple[int, ...]] = {
    PatronBlock.NOT_A_READER: (0, 1, 2, 3),
    PatronBlock.CARD_NOT_USABLE: (0, 1, 2, 3),
    PatronBlock.PERSON_DECEASED: (0, 1, 2, 3),
    PatronBlock.OVERDUE: (0, 6),
    PatronBlock.FEES_OWED: (0, 11),
    PatronBlock.LIMIT_REACHED: (0, 5),
}

# What the kiosk shows for each block (AF), Chinese first.
BLOCK_MESSAGES: dict[PatronBlock, tuple[str, str]] = {
    PatronBlock.NOT_A_READER: ("该持卡人尚未开通读者证，请先开通",
                               "This card holder has not opted in to the reader card"),
    PatronBlock.CARD_NOT_USABLE: ("此卡已挂失或不可用，不能借阅，请到服务台咨询",
                                  "This card is reported lost or not usable: it cannot borrow"),
    PatronBlock.PERSON_DECEASED: ("该读者证已停用", "This reader card is closed"),
    PatronBlock.OVERDUE: ("有逾期未还的图书，归还后方可借阅",
                          "Items are overdue: borrowing resumes when they are returned"),
    PatronBlock.FEES_OWED: ("有未缴费用，缴清后方可借阅", "Fees are owed: borrowing resumes when paid"),
    PatronBlock.LIMIT_REACHED: ("已达到可借册数上限", "The loan limit is reached"),
}
# Blocks that stop a patron from borrowing or renewing at all (the library system's own
# blocks decide per request, it is asked).
PLATFORM_BLOCKS = (PatronBlock.NOT_A_READER, PatronBlock.CARD_NOT_USABLE,
                   PatronBlock.PERSON_DECEASED)

PATRON_NOT_FOUND = ("未找到该读者", "Patron not found")
ITEM_NOT_FOUND = ("未找到该图书", "Item not found")
WRONG_INSTITUTION = ("机构代码不符", "Wrong institution")
UNAVAILABLE = ("系统暂时无法办理，请到服务台", "The system cannot do this now: please ask at the desk")

Response = tuple[str, list[str], list[tuple[str, str | None]]]


@dataclass(frozen=True)
class Sip2Config:
    library_code: str                       # AO, and the branch code of its kiosk logins
    library_name: str = ""                  # AM in 98
    encoding: str = "utf-8"                 # names and screen messages are Chinese
    error_detection: str = "auto"           # "auto": answer in the kiosk's style; "required"
    timeout_period: str = "030"             # 98: tenths of seconds the kiosk waits
    retries_allowed: str = "003"
    clock_skew: timedelta = timedelta(minutes=5)
    offline_window: timedelta = timedelta(days=7)
    max_failed_logins: int = 3
    ecard_hold: timedelta = timedelta(minutes=10)  # an e-card QR resolved at session start


@dataclass
class Sip2Backend:
    authority: PatronAuthority
    library: LibrarySystem
    accounts: KioskAccounts
    clock: Clock


@dataclass
class Reply:
    data: bytes | None           # the response line, or None (nothing to send)
    close: bool = False          # end the connection after sending


@dataclass
class KioskSession:
    backend: Sip2Backend
    config: Sip2Config
    peer: str = ""
    account: KioskAccount | None = None
    location: str = ""
    failed_logins: int = 0
    last_response: bytes | None = None
    _last_key: tuple[int | None, str] | None = None
    _patrons: dict[str, tuple[Patron, datetime]] = field(default_factory=dict)

    # --- the conversation -------------------------------------------------------------------

    def handle(self, line: bytes) -> Reply:
        try:
            frame = codec.decode(line, encoding=self.config.encoding)
        except codec.ChecksumMismatch:
            log.info("sip2 %s: checksum mismatch, asking for a resend", self.peer)
            return Reply(self._resend_request())
        except codec.UnknownCommand as error:
            log.info("sip2 %s: unsupported command %s ignored", self.peer, error.code)
            return Reply(None)
        except codec.FrameError as error:
            log.info("sip2 %s: unreadable message (%s), asking for a resend", self.peer, error)
            return Reply(self._resend_request())
        if self.config.error_detection == "required" and not frame.error_detection:
            return Reply(self._resend_request())
        if frame.code == "97":
            return Reply(self.last_response or self._resend_request())
        key = (frame.sequence, frame.checksum) if frame.error_detection else None
        if key is not None and key == self._last_key and self.last_response is not None:
            log.info("sip2 %s: repeated message %s (sequence %s), last response sent again",
                     self.peer, frame.code, frame.sequence)
            return Reply(self.last_response)
        if self.account is None and frame.code not in ("93", "99"):
            log.warning("sip2 %s: message %s before login, connection closed", self.peer, frame.code)
            return Reply(None, close=True)
        handler = self._handlers()[frame.code]
        try:
            code, fixed, fields = handler(frame)
        except Exception:  # the library system or the platform failed: the kiosk is told so
            log.exception("sip2 %s: message %s failed", self.peer, frame.code)
            code, fixed, fields = self._unavailable(frame)
        data = codec.encode(code, fixed, fields, sequence=frame.sequence,
                            error_detection=frame.error_detection, encoding=self.config.encoding)
        self.last_response, self._last_key = data, key
        close = frame.code == "93" and self.failed_logins >= self.config.max_failed_logins
        return Reply(data, close=close)

    def _handlers(self) -> dict[str, Callable[[codec.Frame], Response]]:
        return {"93": self._login, "99": self._status, "23": self._patron_status,
                "63": self._patron_information, "11": self._checkout, "09": self._checkin,
                "29": self._renew, "37": self._fee_paid, "35": self._end_session,
                "17": self._item_information, "65": self._renew_all}

    def _resend_request(self) -> bytes:
        return codec.encode("96", [], [], error_detection=True, encoding=self.config.encoding)

    # --- helpers ----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.backend.clock.now()

    def _date(self) -> str:
        return codec.format_date(self._now())

    def _when(self, frame: codec.Frame, name: str = "transaction_date") -> datetime:
        """The time of a change (module docstring: the kiosk's, within limits)."""
        now = self._now()
        kiosk = codec.parse_date(frame.fixed.get(name, ""))
        if kiosk is None:
            return now
        if abs(kiosk - now) <= self.config.clock_skew:
            return kiosk
        if frame.fixed.get("no_block") == "Y" and now - self.config.offline_window <= kiosk <= now:
            return kiosk
        return now

    def _wrong_institution(self, frame: codec.Frame) -> bool:
        institution = frame.get("AO").strip()
        return bool(institution) and institution != self.config.library_code

    def _patron(self, frame: codec.Frame) -> Patron | None:
        identifier = frame.get("AA").strip()
        if not identifier:
            return None
        now = self._now()
        patron = self.backend.authority.resolve(identifier, now=now)
        if patron is not None:
            self._patrons[identifier] = (patron, now)
            return patron
        # An e-card QR code is shown once at the start of a patron session and may expire
        # while the patron borrows; the session keeps what it resolved to for a while.
        held = self._patrons.get(identifier)
        if held and held[0].presented == "ecard" and now - held[1] <= self.config.ecard_hold:
            return held[0]
        return None

    def _account(self, patron: Patron) -> PatronAccount | None:
        if not patron.reader_no or PatronBlock.NOT_A_READER in patron.blocks:
            return None
        return self.backend.library.account(patron.reader_no, now=self._now())

    @staticmethod
    def _messages(*pairs: tuple[str, str]) -> list[tuple[str, str | None]]:
        return [("AF", text) for pair in pairs for text in pair if text]

    @staticmethod
    def _status_flags(blocks) -> str:
        flags = [" "] * 14
        for block in blocks:
            for position in STATUS_FLAGS.get(block, ()):
                flags[position] = "Y"
        return "".join(flags)

    @staticmethod
    def _day(day: date | None) -> str:
        return day.isoformat() if day else ""

    def _language(self, frame: codec.Frame) -> str:
        language = frame.fixed.get("language", "000")
        return language if language.isdigit() else "000"

    def _describe(self, patron: Patron | None) -> str:
        """A patron as the log may name them: masked."""
        if patron is None:
            return "unknown patron"
        return f"reader {mask_ssn(patron.reader_no)}"

    # --- 93 / 99 ----------------------------------------------------------------------------

    def _login(self, frame: codec.Frame) -> Response:
        login = frame.get("CN")
        self.location = frame.get("CP")
        account = None
        if frame.fixed["uid_algorithm"] == "0" and frame.fixed["pwd_algorithm"] == "0":
            account = self.backend.accounts.authenticate(
                login, frame.get("CO"), library_code=self.config.library_code,
                location=self.location, address=self.peer.rpartition(":")[0], now=self._now())
        if account is None:  # a failed login also ends an earlier one on this connection
            self.account = None
            self.failed_logins += 1
            log.warning("sip2 %s: login %r refused (%d)", self.peer, login, self.failed_logins)
            return "94", ["0"], []
        self.account, self.failed_logins = account, 0
        log.info("sip2 %s: kiosk %r logged in to %s", self.peer, login, self.config.library_code)
        return "94", ["1"], []

    def _status(self, frame: codec.Frame) -> Response:
        online = "Y" if self.account is not None else "N"
        return "98", [online, online, online, online, "N", "Y", self.config.timeout_period,
                      self.config.retries_allowed, self._date(), "2.00"], [
            ("AO", self.config.library_code), ("AM", self.config.library_name or None),
            ("BX", SUPPORTED_MESSAGES), ("AN", self.location or None)]

    # --- patrons ----------------------------------------------------------------------------

    def _patron_view(self, frame: codec.Frame):
        """(patron, account, blocks, messages) for 23 and 63."""
        if self._wrong_institution(frame):
            return None, None, (), [WRONG_INSTITUTION]
        patron = self._patron(frame)
        if patron is None:
            return None, None, (), [PATRON_NOT_FOUND]
        account = self._account(patron)
        blocks = tuple(dict.fromkeys([*patron.blocks, *(account.blocks if account else ())]))
        return patron, account, blocks, [BLOCK_MESSAGES[b] for b in blocks if b in BLOCK_MESSAGES]

    def _patron_fields(self, frame, patron, account, valid: bool) -> list[tuple[str, str | None]]:
        fields: list[tuple[str, str | None]] = [
            ("AO", self.config.library_code), ("AA", frame.get("AA")),
            ("AE", patron.display_name if patron else ""), ("BL", "Y" if valid else "N")]
        if account is not None:
            fields += [("BH", "CNY"), ("BV", format_fen(account.fees_owed_fen))]
        return fields

    def _patron_status(self, frame: codec.Frame) -> Response:
        patron, account, blocks, messages = self._patron_view(frame)
        valid = patron is not None and PatronBlock.NOT_A_READER not in blocks
        return "24", [self._status_flags(blocks), self._language(frame), self._date()], [
            *self._patron_fields(frame, patron, account, valid), *self._messages(*messages)]

    def _patron_information(self, frame: codec.Frame) -> Response:
        patron, account, blocks, messages = self._patron_view(frame)
        valid = patron is not None and PatronBlock.NOT_A_READER not in blocks
        loans = account.loans if account else ()
        holds = account.holds if account else ()
        fees = account.fees if account else ()
        ready = [h.item_barcode for h in holds if h.ready]
        waiting = [h.item_barcode for h in holds if not h.ready]
        overdue = [loan.item_barcode for loan in loans if loan.overdue]
        charged = [loan.item_barcode for loan in loans]
        fines = [f"{fee.fee_id} {format_fen(fee.amount_fen)} {fee.reason} {fee.item_barcode or ''}".strip()
                 for fee in fees]
        counts = [f"{len(items):04d}" for items in (ready, overdue, charged, fines, (), waiting)]
        fields = self._patron_fields(frame, patron, account, valid)
        if account is not None:
            fields[3:3] = [("BZ", f"{min(account.hold_limit, 9999):04d}"),
                           ("CA", f"{min(account.overdue_limit, 9999):04d}"),
                           ("CB", f"{min(account.loan_limit, 9999):04d}")]
        summary = frame.fixed["summary"]
        start, end = _range(frame.get("BP"), frame.get("BQ"))
        for position, (field_id, items) in enumerate(
                (("AS", ready), ("AT", overdue), ("AU", charged), ("AV", fines), ("BU", []),
                 ("CD", waiting))):
            if summary[position] == "Y":
                fields += [(field_id, item) for item in items[start:end]]
        return "64", [self._status_flags(blocks), self._language(frame), self._date(), *counts], [
            *fields, *self._messages(*messages)]

    def _end_session(self, frame: codec.Frame) -> Response:
        self._patrons.pop(frame.get("AA").strip(), None)
        return "36", ["Y", self._date()], [("AO", self.config.library_code), ("AA", frame.get("AA"))]

    # --- circulation ------------------------------------------------------------------------

    def _may_circulate(self, frame: codec.Frame) -> tuple[Patron | None, list[tuple[str, str]]]:
        """The patron for a checkout or renewal, or why not (before the library is asked)."""
        if self._wrong_institution(frame):
            return None, [WRONG_INSTITUTION]
        patron = self._patron(frame)
        if patron is None:
            return None, [PATRON_NOT_FOUND]
        blocks = [b for b in patron.blocks if b in PLATFORM_BLOCKS]
        if blocks:
            log.info("sip2 %s: %s refused at the kiosk: %s", self.peer, self._describe(patron),
                     ",".join(blocks))
            return None, [BLOCK_MESSAGES[b] for b in blocks]
        if not frame.get("AB").strip():
            return None, [("缺少图书条码", "The item barcode is missing")]
        return patron, []

    def _loan_response(self, code: str, frame: codec.Frame, outcome, refusals) -> Response:
        """12 (checkout) or 30 (renew): the same layout."""
        ok = outcome is not None and outcome.ok
        item = outcome.item if outcome is not None else None
        fields: list[tuple[str, str | None]] = [
            ("AO", self.config.library_code), ("AA", frame.get("AA")), ("AB", frame.get("AB")),
            ("AJ", item.title if item else ""), ("AH", self._day(outcome.due_on) if ok else "")]
        if outcome is not None and outcome.fee is not None:
            fields += [("BT", "01"), ("BH", "CNY"), ("BV", format_fen(outcome.fee.amount_fen))]
        if outcome is not None:
            refusals = [(outcome.zh, outcome.en)]
        renewed = ok and (code == "30" or outcome.code == "renewed")
        return code, ["1" if ok else "0", "Y" if renewed else "N", "U", "Y" if ok else "N",
                      self._date()], [*fields, *self._messages(*refusals)]

    def _checkout(self, frame: codec.Frame) -> Response:
        patron, refusals = self._may_circulate(frame)
        outcome = None
        if patron is not None:
            outcome = self.backend.library.checkout(patron.reader_no, frame.get("AB").strip(),
                                                    now=self._when(frame))
        return self._loan_response("12", frame, outcome, refusals)

    def _renew(self, frame: codec.Frame) -> Response:
        patron, refusals = self._may_circulate(frame)
        outcome = None
        if patron is not None:
            outcome = self.backend.library.renew(patron.reader_no, frame.get("AB").strip(),
                                                 now=self._when(frame))
        return self._loan_response("30", frame, outcome, refusals)

    def _renew_all(self, frame: codec.Frame) -> Response:
        """65 → 66: every loan of the patron renewed where the library allows it."""
        if self._wrong_institution(frame):
            patron, refusals = None, [WRONG_INSTITUTION]
        else:
            patron = self._patron(frame)
            refusals = [PATRON_NOT_FOUND] if patron is None else [
                BLOCK_MESSAGES[b] for b in patron.blocks if b in PLATFORM_BLOCKS]
        renewed: list[str] = []
        unrenewed: list[str] = []
        if patron is not None and not refusals:
            when = self._when(frame)
            for loan in self.backend.library.account(patron.reader_no, now=self._now()).loans:
                outcome = self.backend.library.renew(patron.reader_no, loan.item_barcode, now=when)
                (renewed if outcome.ok else unrenewed).append(loan.item_barcode)
        ok = patron is not None and not refusals
        return "66", ["1" if ok else "0", f"{len(renewed):04d}", f"{len(unrenewed):04d}",
                      self._date()], [
            ("AO", self.config.library_code), *[("BM", b) for b in renewed],
            *[("BN", b) for b in unrenewed], *self._messages(*refusals)]

    def _checkin(self, frame: codec.Frame) -> Response:
        barcode = frame.get("AB").strip()
        if self._wrong_institution(frame) or not barcode:
            refusal = WRONG_INSTITUTION if barcode else ("缺少图书条码", "The item barcode is missing")
            return "10", ["0", "N", "U", "N", self._date()], [
                ("AO", self.config.library_code), ("AB", barcode), ("AQ", ""),
                *self._messages(refusal)]
        outcome = self.backend.library.checkin(barcode, now=self._when(frame, "return_date"),
                                               location=frame.get("AP"))
        item = outcome.item
        return "10", ["1" if outcome.ok else "0", "Y" if outcome.ok else "N", "U",
                      "Y" if outcome.alert else "N", self._date()], [
            ("AO", self.config.library_code), ("AB", barcode),
            ("AQ", item.location if item else ""), ("AJ", item.title if item else None),
            *self._messages((outcome.zh, outcome.en))]

    def _item_information(self, frame: codec.Frame) -> Response:
        barcode = frame.get("AB").strip()
        item = self.backend.library.item(barcode) if barcode else None
        if item is None:
            return "18", ["01", "00", "01", self._date()], [
                ("AB", barcode), ("AJ", ""), *self._messages(ITEM_NOT_FOUND)]
        circulation = "04" if item.on_loan_to else "03"   # charged / available
        return "18", [circulation, "00", "01", self._date()], [
            ("CF", str(item.holds)), ("AH", self._day(item.due_on) or None), ("AB", barcode),
            ("AJ", item.title), ("BG", self.config.library_code), ("AQ", item.location)]

    # --- fees -------------------------------------------------------------------------------

    def _fee_paid(self, frame: codec.Frame) -> Response:
        def answer(accepted: bool, *messages) -> Response:
            return "38", ["Y" if accepted else "N", self._date()], [
                ("AO", self.config.library_code), ("AA", frame.get("AA")),
                ("BK", frame.get("BK") or None), *self._messages(*messages)]

        if self._wrong_institution(frame):
            return answer(False, WRONG_INSTITUTION)
        if frame.fixed["currency_type"] != "CNY":
            return answer(False, ("只收人民币", "Only CNY is accepted"))
        try:
            amount = parse_yuan(frame.get("BV"))
        except ValueError:
            amount = 0
        if not 0 < amount <= MAX_AMOUNT_FEN:
            return answer(False, ("金额不正确", "The amount is not valid"))
        patron = self._patron(frame)
        if patron is None or not patron.reader_no or PatronBlock.NOT_A_READER in patron.blocks:
            return answer(False, PATRON_NOT_FOUND)
        outcome = self.backend.library.pay_fee(
            patron.reader_no, amount, now=self._when(frame), fee_id=frame.get("CG") or None,
            transaction_id=frame.get("BK"))
        return answer(outcome.ok, (outcome.zh, outcome.en))

    # --- when something failed behind the kiosk ---------------------------------------------

    def _unavailable(self, frame: codec.Frame) -> Response:
        """The command's negative response with the UNAVAILABLE message."""
        date_ = self._date()
        base = [("AO", self.config.library_code)]
        af = self._messages(UNAVAILABLE)
        aa, ab = ("AA", frame.get("AA")), ("AB", frame.get("AB"))
        match frame.code:
            case "93":
                return "94", ["0"], []
            case "23":
                return "24", [" " * 14, self._language(frame), date_], [
                    *base, aa, ("AE", ""), ("BL", "N"), *af]
            case "63":
                return "64", [" " * 14, self._language(frame), date_, *["0000"] * 6], [
                    *base, aa, ("AE", ""), ("BL", "N"), *af]
            case "11" | "29":
                return "12" if frame.code == "11" else "30", ["0", "N", "U", "N", date_], [
                    *base, aa, ab, ("AJ", ""), ("AH", ""), *af]
            case "09":
                return "10", ["0", "N", "U", "N", date_], [*base, ab, ("AQ", ""), *af]
            case "37":
                return "38", ["N", date_], [*base, aa, *af]
            case "35":
                return "36", ["N", date_], [*base, aa, *af]
            case "17":
                return "18", ["01", "00", "01", date_], [ab, ("AJ", ""), *af]
            case "65":
                return "66", ["0", "0000", "0000", date_], [*base, *af]
            case _:  # 99
                return "98", ["N", "N", "N", "N", "N", "N", self.config.timeout_period,
                              self.config.retries_allowed, date_, "2.00"], [
                    *base, ("BX", SUPPORTED_MESSAGES), *af]


def _range(start: str, end: str) -> tuple[int, int | None]:
    """BP/BQ (1-based, inclusive) as a slice; all items when absent or not numbers."""
    first = int(start) if start.strip().isdigit() and int(start) > 0 else 1
    last = int(end) if end.strip().isdigit() and int(end) >= first else None
    return first - 1, last
