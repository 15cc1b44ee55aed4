"""The terminal library: what a reader terminal, a gate or an outlet does with a card.

Everything goes through a `CardReader`, so the same code runs against the emulator and a
real PC/SC reader. Master keys stay in the PSAM (`psam.Psam`) and the host (`host`); the
algorithm profile follows the algorithm-ID byte the card returns, so 3DES and SM4 cards run
the same code.

Torn transactions: when the card leaves after a debit (or credit) was sent, `purchase` /
`load` raise `TransactionInterrupted` carrying a pending transaction; when the same card
comes back, `recover_purchase` / `recover_load` ask it with GET TRANSACTION PROVE whether the
transaction happened and, if so, fetch its MAC2/TAC, so the record is neither lost nor
duplicated. `Terminal` keeps the pending transactions and does this on the next tap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from yikatong.chip import sw
from yikatong.chip.apdu import ResponseApdu, command
from yikatong.chip.apps import purse as purse_app
from yikatong.chip.apps import social
from yikatong.chip.apps.purse import LogEntry, PublicInfo, TransitLogEntry
from yikatong.chip.apps.social import SocialSecurityData
from yikatong.chip.codec import bcd_date_time, from_signed32, to_int, u
from yikatong.chip.errors import (
    BalanceLimitExceeded,
    CardRefused,
    CounterExhausted,
    InsufficientBalance,
    PinLocked,
    PsamSessionUnknown,
    PurseBlocked,
    TransactionInterrupted,
    WrongCard,
    WrongPin,
)
from yikatong.chip.host import LoadHost, LoadRequest
from yikatong.chip.protocols import CardReader, CardRemoved
from yikatong.chip.psam import Psam
from yikatong.chip.records import LoadRecord, PurchaseRecord
from yikatong.crypto import pboc

# A transaction carries its counter before the increment, so a 2-byte counter standing at FFFF
# has no next value: our cards lock there (9402), a card that wraps to 0000 would answer FFFF and
# then repeat (card, counter) pairs clearing takes for duplicates. Either way: no transaction.
COUNTER_END = 0xFFFF


def exchange(reader: CardReader, apdu: bytes) -> ResponseApdu:
    return ResponseApdu.parse(reader.transmit(apdu))


def expect(response: ResponseApdu, what: str, length: int | None = None) -> bytes:
    """The response data, or CardRefused with the status word (and on a wrong length)."""
    if not response.ok:
        raise CardRefused(command=what, sw=f"{response.sw:04X}")
    if length is not None and len(response.data) != length:
        raise CardRefused(command=what, sw=f"{response.sw:04X}, {len(response.data)} bytes")
    return response.data


def get_challenge(reader: CardReader, length: int = 4) -> bytes:
    """The card's random challenge (GET CHALLENGE): 4 bytes for secure messaging, 8 for an
    external authentication."""
    return expect(exchange(reader, command(0x00, 0x84, 0x00, 0x00, le=length)), "GET CHALLENGE")


def read_record(reader: CardReader, sfi: int, number: int) -> ResponseApdu:
    """READ RECORD `number` of the file with short identifier `sfi` (whole record, Le 00)."""
    return exchange(reader, command(0x00, 0xB2, number, (sfi << 3) | 4, le=0))


def read_records(reader: CardReader, sfi: int) -> list[bytes]:
    """Every record of a record file, from record 1 until 6A83."""
    records = []
    for number in range(1, 255):
        response = read_record(reader, sfi, number)
        if response.sw == sw.RECORD_NOT_FOUND:
            break
        records.append(expect(response, "READ RECORD"))
    return records


# --- social security ------------------------------------------------------------------------


def select_social_security(reader: CardReader) -> None:
    expect(exchange(reader, command(0x00, 0xA4, 0x04, 0x00, social.MF_NAME, le=0)), "SELECT MF")


def read_social_security(reader: CardReader, psam: Psam | None = None) -> SocialSecurityData:
    """Read EF05/EF06 with the best key the PSAM holds.

    The issuer key (issuer outlets) unlocks everything; the national reading key (any city's
    terminal) unlocks card number, social security number and name; with no PSAM only the
    card identification data is read.
    """
    select_social_security(reader)
    ef05 = {n: _read_tlv_record(reader, social.SFI_EF05, n) for n in range(1, 7)}
    card_id_code = social.record_value(ef05[1], 0x01)
    if psam is not None:
        for purpose, key_index in (("external_auth", social.ISSUER_AUTH_KEY),
                                   ("national_read", social.NATIONAL_READ_KEY)):
            if psam.holds(purpose):
                challenge = get_challenge(reader, 8)
                cryptogram = psam.auth_cryptogram(purpose, card_id_code, challenge)
                expect(exchange(reader, command(0x00, 0x82, 0x00, key_index, cryptogram)),
                       "EXTERNAL AUTHENTICATE")
                break
    card_no = _read_optional(reader, social.SFI_EF05, social.CARD_NO_RECORD)
    if card_no is not None:
        ef05[social.CARD_NO_RECORD] = card_no
    ef06 = {n: r for n in range(1, 8) if (r := _read_optional(reader, social.SFI_EF06, n)) is not None}
    return social.decode(ef05, ef06)


def _read_tlv_record(reader: CardReader, sfi: int, number: int) -> bytes:
    return expect(read_record(reader, sfi, number), "READ RECORD")


def _read_optional(reader: CardReader, sfi: int, number: int) -> bytes | None:
    """A record, or None when the security status does not allow reading it (6982)."""
    response = read_record(reader, sfi, number)
    if response.sw == sw.SECURITY_NOT_SATISFIED:
        return None
    return expect(response, "READ RECORD")


def verify_pin(reader: CardReader, pin: str) -> None:
    """VERIFY the card PIN. Raises WrongPin(remaining) or PinLocked."""
    select_social_security(reader)
    digits = pin + "F" * (len(pin) % 2)
    response = exchange(reader, command(0x00, 0x20, 0x00, 0x00, bytes.fromhex(digits)))
    if response.sw == sw.AUTH_BLOCKED:
        raise PinLocked()
    if response.sw & 0xFFF0 == 0x63C0:
        raise WrongPin(remaining=response.sw & 0x0F)
    expect(response, "VERIFY")


# --- e-purse: reading -----------------------------------------------------------------------


def select_purse(reader: CardReader, *, allow_blocked: bool = False) -> PublicInfo:
    """SELECT the T-Union purse (partial AID) and read file 0015. Raises PurseBlocked."""
    response = exchange(reader, command(0x00, 0xA4, 0x04, 0x00, purse_app.TUNION_AID, le=0))
    if response.sw == sw.SELECTED_FILE_INVALIDATED and not allow_blocked:
        raise PurseBlocked()
    if response.sw != sw.SELECTED_FILE_INVALIDATED:
        expect(response, "SELECT T-Union")
    data = expect(exchange(reader, command(0x00, 0xB0, 0x80 | purse_app.SFI_PUBLIC, 0x00, le=30)),
                  "READ BINARY 0015", 30)
    return PublicInfo.parse(data)


def get_balance(reader: CardReader) -> int:
    """The balance in fen, negative while the overdraft is in use."""
    balance = to_int(expect(exchange(reader, command(0x80, 0x5C, 0x00, 0x02, le=4)), "GET BALANCE", 4))
    if balance:
        return balance
    overdraft = exchange(reader, command(0x80, 0x5C, 0x01, 0x02, le=4))
    return -to_int(overdraft.data) if overdraft.ok and len(overdraft.data) == 4 else 0


@dataclass(frozen=True)
class PurseView:
    public: PublicInfo
    blocked: bool
    balance: int | None
    online_counter: int | None
    offline_counter: int | None
    overdraft_limit: int | None
    transactions: list[LogEntry]  # 0018, most recent first
    transit_log: list[TransitLogEntry]  # 001E, most recent first
    complex_records: list[bytes]  # 001A


def read_purse(reader: CardReader) -> PurseView:
    """Balance, counters, file 0015 and the logs. Counters come from INITIALIZE probes of
    1 fen that are never completed (nothing changes on the card; the next command ends the
    session); when a probe is refused (balance at the cap, or empty) they come from the 0018
    log, else None."""
    public = select_purse(reader, allow_blocked=True)
    log = [LogEntry.parse(r) for r in read_records(reader, purse_app.SFI_LOG)]
    transit = [TransitLogEntry.parse(r) for r in read_records(reader, purse_app.SFI_TRANSIT)]
    complex_records = read_records(reader, purse_app.SFI_COMPLEX)
    blocked = exchange(reader, command(0x80, 0x5C, 0x00, 0x02, le=4)).sw == sw.FUNCTION_NOT_SUPPORTED
    if blocked:
        return PurseView(public, True, None, None, None, None, log, transit, complex_records)
    balance = get_balance(reader)
    probe = bytes([purse_app.KEY_INDEX]) + u(1, 4) + bytes(6)
    load = exchange(reader, command(0x80, 0x50, 0x00, 0x02, probe, le=0x10))
    buy = exchange(reader, command(0x80, 0x50, 0x01, 0x02, probe, le=0x0F))
    online = to_int(load.data[4:6]) if load.ok else _next_counter(log, loads=True)
    offline = to_int(buy.data[4:6]) if buy.ok else _next_counter(log, loads=False)
    overdraft = to_int(buy.data[6:9]) if buy.ok else (log[0].overdraft_limit if log else None)
    return PurseView(public, False, balance, online, offline, overdraft, log, transit, complex_records)


def purse_key(reader: CardReader) -> tuple[int, int]:
    """(key version, algorithm ID) of the purse's keys, from an INITIALIZE probe that is never
    completed (the next command ends it): a capped purchase of 0 fen, else — the offline
    counter used up, or the purse overdrawn — a load of 1 fen. The purse's maintenance key
    (secure messaging) has the same version: personalisation keeps the purse keys at one."""
    select_purse(reader)
    capped = exchange(reader, command(0x80, 0x50, 0x03, 0x02, bytes([purse_app.KEY_INDEX]) + u(0, 4) + bytes(6),
                                      le=0x0F))
    if capped.ok and len(capped.data) == 15:
        return capped.data[9], capped.data[10]
    load = expect(exchange(reader, command(0x80, 0x50, 0x00, 0x02, bytes([purse_app.KEY_INDEX]) + u(1, 4) + bytes(6),
                                           le=0x10)), "INITIALIZE FOR LOAD", 16)
    return load[6], load[7]


def _initialized(response: ResponseApdu, what: str, length: int, counter: str) -> bytes:
    """The INITIALIZE answer, unless the card's counter for this kind is used up: refused
    (CounterExhausted) whether the card locked (9402) or reports FFFF (it would wrap)."""
    if response.sw == sw.COUNTER_EXHAUSTED:
        raise CounterExhausted(command=what, sw=f"{response.sw:04X}", counter=counter)
    answer = expect(response, what, length)
    if to_int(answer[4:6]) >= COUNTER_END:
        raise CounterExhausted(command=what, sw=f"{response.sw:04X}", counter=counter)
    return answer


def _next_counter(log: list[LogEntry], *, loads: bool) -> int | None:
    for entry in log:
        if (entry.tx_type in (pboc.TX_ED_LOAD, pboc.TX_EP_LOAD)) == loads:
            return entry.counter + 1
    return None


# --- e-purse: load --------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingLoad:
    """A load whose CREDIT FOR LOAD got no answer."""

    asn: bytes
    issuer_id: bytes
    terminal_id: bytes
    amount: int
    old_balance: int
    counter: int
    key_version: int
    alg_id: int
    when: datetime
    tx_type: int = pboc.TX_EP_LOAD

    def record(self, tac: bytes, *, recovered: bool) -> LoadRecord:
        return LoadRecord(
            asn=self.asn.hex().upper(), issuer_id=self.issuer_id.hex().upper(),
            terminal_id=self.terminal_id.hex().upper(), tx_type=self.tx_type,
            amount=self.amount, balance_after=self.old_balance + self.amount,
            counter=self.counter, when=self.when, tac=tac.hex().upper(),
            key_version=self.key_version, alg_id=self.alg_id, recovered=recovered,
        )


def load(reader: CardReader, host: LoadHost, amount: int, terminal_id: bytes, when: datetime) -> LoadRecord:
    """Top up the purse (INITIALIZE FOR LOAD → host MAC1 check and MAC2 → CREDIT FOR LOAD).

    Raises BalanceLimitExceeded before touching the card when the cap would be passed,
    CounterExhausted before the host is asked when the card's online counter stands at FFFF,
    MacInvalid when the card's MAC1 is not genuine, TransactionInterrupted when the card
    leaves during the credit.
    """
    public = select_purse(reader)
    balance = get_balance(reader)
    if balance + amount > host.balance_limit:
        raise BalanceLimitExceeded(limit=host.balance_limit)
    data = bytes([purse_app.KEY_INDEX]) + u(amount, 4) + terminal_id
    init = _initialized(exchange(reader, command(0x80, 0x50, 0x00, 0x02, data, le=0x10)),
                        "INITIALIZE FOR LOAD", 16, "online")
    date4, time3 = bcd_date_time(when)
    pending = PendingLoad(public.asn, public.issuer_id, terminal_id, amount, from_signed32(init[:4]),
                          to_int(init[4:6]), init[6], init[7], when)
    mac2 = host.authorise_load(LoadRequest(
        issuer_id=public.issuer_id, asn=public.asn, key_version=pending.key_version,
        alg_id=pending.alg_id, random=init[8:12], online_counter=pending.counter,
        old_balance=pending.old_balance, amount=amount, terminal_id=terminal_id,
        mac1=init[12:16], date4=date4, time3=time3,
    ))
    try:
        response = exchange(reader, command(0x80, 0x52, 0x00, 0x00, date4 + time3 + mac2, le=4))
    except CardRemoved:
        raise TransactionInterrupted(pending) from None
    return pending.record(expect(response, "CREDIT FOR LOAD", 4), recovered=False)


def recover_load(reader: CardReader, pending: PendingLoad) -> LoadRecord | None:
    """The record of an interrupted load if the card did credit itself, else None (the host
    must then void its authorisation)."""
    proof = _prove(reader, pending.asn, pending.tx_type, pending.counter)
    return None if proof is None else pending.record(proof[4:8], recovered=True)


def _prove(reader: CardReader, asn: bytes, tx_type: int, counter: int) -> bytes | None:
    """MAC2 ‖ TAC of the card's last transaction if it is (tx_type, counter), else None."""
    if select_purse(reader).asn != asn:
        raise WrongCard()
    response = exchange(reader, command(0x80, 0x5A, 0x00, tx_type, u(counter, 2), le=8))
    if response.sw == sw.MAC_NOT_AVAILABLE:
        return None
    return expect(response, "GET TRANSACTION PROVE", 8)


# --- e-purse: purchase ----------------------------------------------------------------------


@dataclass(frozen=True)
class CappUpdate:
    """One UPDATE CAPP DATA CACHE: a transit record written only if the debit succeeds.

    `record_id` (mode 000; 0 appends to a cyclic file) or `record_number` (mode 100)."""

    sfi: int
    data: bytes
    record_id: int | None = None
    record_number: int | None = None

    @classmethod
    def transit_log(cls, entry: TransitLogEntry) -> CappUpdate:
        return cls(purse_app.SFI_TRANSIT, entry.encode(), record_id=0)

    def apdu(self) -> bytes:
        if self.record_number is not None:
            return command(0x80, 0xDC, self.record_number, (self.sfi << 3) | 4, self.data)
        record_id = self.data[0] if self.record_id is None else self.record_id
        return command(0x80, 0xDC, record_id, self.sfi << 3, self.data)


@dataclass(frozen=True)
class PendingPurchase:
    """A purchase whose DEBIT FOR PURCHASE got no answer."""

    asn: bytes
    issuer_id: bytes
    terminal_id: bytes
    terminal_serial: int
    tx_type: int
    amount: int
    balance_before: int
    counter: int
    key_version: int
    alg_id: int
    when: datetime

    def record(self, tac: bytes, *, recovered: bool) -> PurchaseRecord:
        return PurchaseRecord(
            asn=self.asn.hex().upper(), issuer_id=self.issuer_id.hex().upper(),
            terminal_id=self.terminal_id.hex().upper(), tx_type=self.tx_type, amount=self.amount,
            balance_after=self.balance_before - self.amount, counter=self.counter, when=self.when,
            tac=tac.hex().upper(), key_version=self.key_version, alg_id=self.alg_id,
            recovered=recovered, terminal_serial=self.terminal_serial,
        )


def purchase(
    reader: CardReader,
    psam: Psam,
    amount: int,
    when: datetime,
    capp_record: CappUpdate | Sequence[CappUpdate] | None = None,
) -> PurchaseRecord:
    """Debit the purse: a plain purchase (06), or with `capp_record` a capped transit purchase
    (09) whose records are committed with the debit. The PSAM computes MAC1 and checks MAC2.

    Raises InsufficientBalance, PurseBlocked, CounterExhausted (the offline counter stands at
    FFFF; refused before the PSAM computes a MAC1), MacInvalid (MAC2: card not genuine),
    TransactionInterrupted when the card leaves during the debit.
    """
    updates = [] if capp_record is None else [capp_record] if isinstance(capp_record, CappUpdate) else list(capp_record)
    capped = capp_record is not None
    tx_type = pboc.TX_CAPPED_PURCHASE if capped else pboc.TX_EP_PURCHASE
    public = select_purse(reader)
    data = bytes([purse_app.KEY_INDEX]) + u(amount, 4) + psam.terminal_id
    response = exchange(reader, command(0x80, 0x50, 0x03 if capped else 0x01, 0x02, data, le=0x0F))
    if response.sw == sw.INSUFFICIENT_BALANCE:
        raise InsufficientBalance(balance=get_balance(reader), amount=amount)
    init = _initialized(response, "INITIALIZE FOR PURCHASE", 15, "offline")
    date4, time3 = bcd_date_time(when)
    counter, key_version, alg_id = to_int(init[4:6]), init[9], init[10]
    mac1 = psam.purchase_mac1(
        issuer_id=public.issuer_id, asn=public.asn, key_version=key_version, alg_id=alg_id,
        random=init[11:15], offline_counter=counter, amount=amount, tx_type=tx_type,
        date4=date4, time3=time3,
    )
    for update in updates:
        expect(exchange(reader, update.apdu()), "UPDATE CAPP DATA CACHE")
    pending = PendingPurchase(public.asn, public.issuer_id, psam.terminal_id, mac1.terminal_serial,
                              tx_type, amount, from_signed32(init[:4]), counter, key_version, alg_id, when)
    debit = u(mac1.terminal_serial, 4) + date4 + time3 + mac1.mac1
    try:
        response = exchange(reader, command(0x80, 0x54, 0x01, 0x00, debit, le=8))
    except CardRemoved:
        raise TransactionInterrupted(pending) from None
    answer = expect(response, "DEBIT FOR PURCHASE", 8)
    psam.verify_mac2(mac1.terminal_serial, answer[4:8])
    return pending.record(answer[:4], recovered=False)


def recover_purchase(reader: CardReader, psam: Psam, pending: PendingPurchase) -> PurchaseRecord | None:
    """The record of an interrupted purchase if the card did debit itself, else None.

    The card keeps the proof (MAC2, TAC) of its last transaction; the balance must agree
    with it. MAC2 is checked by the PSAM while it still holds the session.
    """
    proof = _prove(reader, pending.asn, pending.tx_type, pending.counter)
    balance = get_balance(reader)
    expected = pending.balance_before if proof is None else pending.balance_before - pending.amount
    if balance != expected:
        raise CardRefused(command="GET TRANSACTION PROVE", sw="balance does not match the proof")
    if proof is None:
        return None
    try:
        psam.verify_mac2(pending.terminal_serial, proof[:4])
    except PsamSessionUnknown:
        pass  # the TAC is still verified in clearing
    return pending.record(proof[4:8], recovered=True)


@dataclass
class Terminal:
    """A terminal with memory: it settles its own torn transactions when the card comes back.

    Before any new transaction on a card, every pending (torn) transaction of that card is
    recovered: a debit or credit the card did commit becomes a record, one it did not is
    dropped (a load the card never credited goes to `voided_loads` for the host to cancel).
    `records` is the terminal's upload queue for clearing, in the card's order. A tap whose
    own pending transaction of the same kind is recovered returns that record instead of
    transacting again, so the passenger is charged once.
    """

    psam: Psam
    host: LoadHost | None = None
    pending: dict[bytes, PendingPurchase | PendingLoad] = field(default_factory=dict)
    records: list[LoadRecord | PurchaseRecord] = field(default_factory=list)
    voided_loads: list[PendingLoad] = field(default_factory=list)

    def purchase(self, reader: CardReader, amount: int, when: datetime,
                 capp_record: CappUpdate | Sequence[CappUpdate] | None = None) -> PurchaseRecord:
        settled = self._settle(reader)
        if isinstance(settled, PurchaseRecord):
            return settled
        return self._keep(lambda: purchase(reader, self.psam, amount, when, capp_record))

    def load(self, reader: CardReader, amount: int, when: datetime) -> LoadRecord:
        if self.host is None:
            raise ValueError("this terminal has no load host")
        settled = self._settle(reader)
        if isinstance(settled, LoadRecord):
            return settled
        return self._keep(lambda: load(reader, self.host, amount, self.psam.terminal_id, when))

    def _settle(self, reader: CardReader) -> LoadRecord | PurchaseRecord | None:
        asn = select_purse(reader).asn
        pending = self.pending.get(asn)
        if pending is None:
            return None
        if isinstance(pending, PendingPurchase):
            record = recover_purchase(reader, self.psam, pending)
        else:
            record = recover_load(reader, pending)
        del self.pending[asn]  # only once recovery got an answer: a new tear keeps it pending
        if record is None:
            if isinstance(pending, PendingLoad):
                self.voided_loads.append(pending)
            return None
        self.records.append(record)
        return record

    def _keep(self, transact):
        try:
            record = transact()
        except TransactionInterrupted as interrupted:
            self.pending[interrupted.pending.asn] = interrupted.pending
            raise
        self.records.append(record)
        return record
