"""The e-purse (PBOC ED/EP as used by T-Union JT/T 978): card-protocol.md §2 and §8.

8050 opens a transaction (a `PurseSession` in RAM); 8052 / 8054 close it. Any other command
except 805C and 80DC (within a capped purchase) ends an open session, and an 8052 / 8054
without the matching 8050 answers 6985. The commit of a load or purchase writes balance,
counter, the 0018 record, the cached 80DC records and the transaction proof together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yikatong.chip import filesystem, sw
from yikatong.chip.apdu import CommandApdu
from yikatong.chip.codec import signed32, to_int, u
from yikatong.chip.commands.base import unwrap_sm
from yikatong.chip.journal import Journal
from yikatong.chip.state import DedicatedFile, KeyEntry, PurseState, RecordFile, TransactionProof
from yikatong.chip.sw import CardStatus
from yikatong.crypto import pboc
from yikatong.crypto.pboc import AlgorithmProfile, mac_equal, profile_for

MAINTENANCE_KEY = 0x01  # DAMK index for APPLICATION BLOCK / UNBLOCK
LOG_SFI = 0x18
MAX_COUNTER = 0xFFFF
ED, EP = 0x01, 0x02  # P2: e-deposit (电子存折) or e-purse (电子钱包)
LOAD_TYPES = {ED: pboc.TX_ED_LOAD, EP: pboc.TX_EP_LOAD}
PURCHASE_TYPES = {(0x01, ED): pboc.TX_ED_PURCHASE, (0x01, EP): pboc.TX_EP_PURCHASE,
                  (0x03, EP): pboc.TX_CAPPED_PURCHASE}


@dataclass
class PurseSession:
    wallet: PurseState
    tx_type: int
    amount: int
    terminal_id: bytes
    random: bytes
    counter: int
    key: KeyEntry
    profile: AlgorithmProfile
    session_key: bytes = field(default=b"", repr=False)  # load: from 8050; purchase: needs the terminal serial of 8054
    capp_writes: list[tuple[RecordFile, int, int, bytes]] = field(default_factory=list)

    @property
    def is_load(self) -> bool:
        return self.tx_type in LOAD_TYPES.values()


def _purse(card) -> tuple[DedicatedFile, PurseState]:
    """The current application's e-purse state; 6D00 outside it, 6A81 once it is blocked."""
    df = card.volatile.df
    if df.purse is None:
        raise CardStatus(sw.INS_NOT_SUPPORTED)
    if df.purse.blocked != "no":
        raise CardStatus(sw.FUNCTION_NOT_SUPPORTED)
    return df, df.purse


def _wallet(df: DedicatedFile, p2: int) -> PurseState:
    """P2 02: the e-purse; P2 01: the e-deposit, on cards personalised with one."""
    wallet = df.purse if p2 == EP else df.deposit if p2 == ED else None
    if wallet is None:
        raise CardStatus(sw.WRONG_P1P2)
    return wallet


def get_balance(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 5C 00 02 04: the balance; P1 01 gives the overdraft in use (both never negative)."""
    df, _ = _purse(card)
    purse = _wallet(df, cmd.p2)
    if cmd.p1 not in (0x00, 0x01):
        raise CardStatus(sw.WRONG_P1P2)
    value = max(purse.balance, 0) if cmd.p1 == 0x00 else max(-purse.balance, 0)
    return u(value, 4)


def initialize(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 50 00|01|03 01|02 0B <key index, amount(4), terminal id(6)>: load or (capped) purchase."""
    df, _ = _purse(card)
    purse = _wallet(df, cmd.p2)
    if len(cmd.data) != 11:
        raise CardStatus(sw.WRONG_LENGTH)
    key_index, amount, terminal_id = cmd.data[0], to_int(cmd.data[1:5]), cmd.data[5:11]
    # A zero-amount capped purchase is how metro gates write an entry record (and how free
    # transfers and free riders leave a trace); loads and plain purchases need an amount.
    if amount == 0 and cmd.p1 != 0x03:
        raise CardStatus(sw.WRONG_DATA)
    if cmd.p1 == 0x00:
        return _initialize_load(card, df, purse, LOAD_TYPES[cmd.p2], key_index, amount, terminal_id)
    tx_type = PURCHASE_TYPES.get((cmd.p1, cmd.p2))
    if tx_type is None:
        raise CardStatus(sw.WRONG_P1P2)
    return _initialize_purchase(card, df, purse, tx_type, key_index, amount, terminal_id)


def _session_key_entry(df: DedicatedFile, usage: str, index: int) -> tuple[KeyEntry, AlgorithmProfile]:
    key = df.key(usage, index)
    if key is None or df.key("tac", index) is None:
        raise CardStatus(sw.KEY_INDEX_NOT_SUPPORTED)
    return key, profile_for(key.alg_id)


def _initialize_load(card, df, purse: PurseState, tx_type, key_index, amount, terminal_id) -> bytes:
    key, profile = _session_key_entry(df, "load", key_index)
    if purse.online_counter >= MAX_COUNTER and not card.wrapping_counters:
        raise CardStatus(sw.COUNTER_EXHAUSTED)
    if purse.balance + amount > purse.balance_limit:
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)  # the card refuses to exceed its cap
    random = card.random(4)
    counter = u(purse.online_counter, 2)
    session_key = profile.session_key(key.value, random, counter, pboc.LOAD_SESSION_TAIL)
    old_balance = purse.balance & 0xFFFFFFFF
    mac1 = profile.session_mac(
        session_key, pboc.load_mac1_data(old_balance, amount, tx_type, terminal_id)
    )
    card.volatile.purse_session = PurseSession(
        purse, tx_type, amount, terminal_id, random, purse.online_counter, key, profile, session_key
    )
    return signed32(purse.balance) + counter + bytes([key.version, key.alg_id]) + random + mac1


def _initialize_purchase(card, df, purse: PurseState, tx_type, key_index, amount, terminal_id) -> bytes:
    key, profile = _session_key_entry(df, "purchase", key_index)
    if purse.offline_counter >= MAX_COUNTER and not card.wrapping_counters:
        raise CardStatus(sw.COUNTER_EXHAUSTED)
    if amount > purse.balance + purse.overdraft_limit:
        raise CardStatus(sw.INSUFFICIENT_BALANCE)
    random = card.random(4)
    card.volatile.purse_session = PurseSession(
        purse, tx_type, amount, terminal_id, random, purse.offline_counter, key, profile
    )
    return (
        signed32(purse.balance)
        + u(purse.offline_counter, 2)
        + u(purse.overdraft_limit, 3)
        + bytes([key.version, key.alg_id])
        + random
    )


def _take_session(card, load: bool) -> PurseSession:
    session, card.volatile.purse_session = card.volatile.purse_session, None
    if session is None or session.is_load != load:
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)
    return session


def credit_for_load(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 52 00 00 0B <date(4) time(3) MAC2>: verify the host's MAC2, credit, answer the TAC."""
    df, _ = _purse(card)
    session = _take_session(card, load=True)
    purse = session.wallet
    if len(cmd.data) != 11:
        raise CardStatus(sw.WRONG_LENGTH)
    date4, time3, mac2 = cmd.data[:4], cmd.data[4:7], cmd.data[7:11]
    expected = session.profile.session_mac(
        session.session_key,
        pboc.load_mac2_data(session.amount, session.tx_type, session.terminal_id, date4, time3),
    )
    if not mac_equal(expected, mac2):
        raise CardStatus(sw.MAC_INVALID)
    new_balance = purse.balance + session.amount
    tac = session.profile.tac(
        df.key("tac", session.key.index).value,
        pboc.load_tac_data(
            new_balance & 0xFFFFFFFF, session.counter, session.amount, session.tx_type,
            session.terminal_id, date4, time3,
        ),
    )
    journal.set(purse, "online_counter", _next_counter(session.counter))
    _commit_transaction(df, purse, session, journal, new_balance, date4 + time3, mac2, tac)
    return tac


def debit_for_purchase(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 54 01 00 0F <terminal serial(4) date(4) time(3) MAC1>: verify, debit, answer TAC ‖ MAC2."""
    df, _ = _purse(card)
    session = _take_session(card, load=False)
    purse = session.wallet
    if cmd.p1 != 0x01 or cmd.p2 != 0x00:
        raise CardStatus(sw.WRONG_P1P2)
    if len(cmd.data) != 15:
        raise CardStatus(sw.WRONG_LENGTH)
    tsn, date4, time3, mac1 = cmd.data[:4], cmd.data[4:8], cmd.data[8:11], cmd.data[11:15]
    profile = session.profile
    session_key = profile.session_key(
        session.key.value, session.random, u(session.counter, 2), pboc.purchase_session_tail(tsn)
    )
    expected = profile.session_mac(
        session_key,
        pboc.purchase_mac1_data(session.amount, session.tx_type, session.terminal_id, date4, time3),
    )
    if not mac_equal(expected, mac1):
        raise CardStatus(sw.MAC_INVALID)
    mac2 = profile.session_mac(session_key, pboc.purchase_mac2_data(session.amount))
    tac = profile.tac(
        df.key("tac", session.key.index).value,
        pboc.purchase_tac_data(session.amount, session.tx_type, session.terminal_id, tsn, date4, time3),
    )
    journal.set(purse, "offline_counter", _next_counter(session.counter))
    for file, selector, mode, record in session.capp_writes:
        journal.call(_write_capp_record, file, selector, mode, record)
    _commit_transaction(df, purse, session, journal, purse.balance - session.amount, date4 + time3, mac2, tac)
    return tac + mac2


def _next_counter(counter: int) -> int:
    """The counter after a transaction; only a wrapping card gets here from FFFF (to 0000)."""
    return (counter + 1) & MAX_COUNTER


def _commit_transaction(df, purse, session: PurseSession, journal, new_balance, date_time, mac2, tac) -> None:
    """Stage what every load and purchase writes: balance, 0018 record, the application's
    last-transaction proof."""
    log = df.by_sfi(LOG_SFI)
    record = (
        u(session.counter, 2) + u(purse.overdraft_limit, 3) + u(session.amount, 4)
        + bytes([session.tx_type]) + session.terminal_id + date_time
    )
    journal.set(purse, "balance", new_balance)
    journal.call(filesystem.append_record, log, record)
    journal.set(df.purse, "last_proof", TransactionProof(
        tx_type=session.tx_type, counter=session.counter, mac2=mac2, tac=tac
    ))


def update_capp_data_cache(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 DC P1 <SFI<<3|mode>: cache a transit record; it is written only with a good 8054.

    Mode 000: P1 is a record identifier (the record's first byte; 00 on a cyclic file means
    "append"); mode 100: P1 is a record number.
    """
    df, _ = _purse(card)
    session = card.volatile.purse_session
    if session is None or session.tx_type != pboc.TX_CAPPED_PURCHASE:
        raise CardStatus(sw.CONDITIONS_NOT_SATISFIED)
    mode, file = cmd.p2 & 0x07, df.by_sfi(cmd.p2 >> 3)
    if file is None:
        raise CardStatus(sw.FILE_NOT_FOUND)
    if not isinstance(file, RecordFile) or mode not in (0x00, 0x04):
        raise CardStatus(sw.INCOMPATIBLE_FILE if mode in (0, 4) else sw.WRONG_P1P2)
    record = cmd.data
    if mode == 0x04:
        filesystem.existing_record(file, cmd.p1)
        filesystem.check_record(file, record)
    elif cmd.p1 == 0x00 and file.structure == "cyclic":
        filesystem.check_append(file, record)
    else:
        if not record or record[0] != cmd.p1:
            raise CardStatus(sw.WRONG_DATA)
        if filesystem.record_number(file, cmd.p1) is None:
            filesystem.check_append(file, record)
        else:
            filesystem.check_record(file, record)
    session.capp_writes.append((file, cmd.p1, mode, record))
    return b""


def _write_capp_record(file: RecordFile, selector: int, mode: int, record: bytes) -> None:
    if mode == 0x04:
        filesystem.replace_record(file, selector, record)
        return
    number = filesystem.record_number(file, selector) if selector else None
    if number is None:
        filesystem.append_record(file, record)
    else:
        filesystem.replace_record(file, number, record)


def get_transaction_prove(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """80 5A 00 <type> 02 <counter>: MAC2 ‖ TAC of the last transaction, if it is that one."""
    _, purse = _purse(card)
    if len(cmd.data) != 2:
        raise CardStatus(sw.WRONG_LENGTH)
    proof = purse.last_proof
    if proof is None or proof.tx_type != cmd.p2 or proof.counter != to_int(cmd.data):
        raise CardStatus(sw.MAC_NOT_AVAILABLE)
    return proof.mac2 + proof.tac


def application_block(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """84 1E 00 <00 temporary | 01 permanent> 04 <MAC under DAMK>."""
    purse = _maintained_purse(card, cmd)
    if cmd.p1 != 0x00 or cmd.p2 not in (0x00, 0x01):
        raise CardStatus(sw.WRONG_P1P2)
    unwrap_sm(card, cmd, MAINTENANCE_KEY)
    journal.set(purse, "blocked", "permanent" if cmd.p2 == 0x01 else "temporary")
    return b""


def application_unblock(card, cmd: CommandApdu, journal: Journal) -> bytes:
    """84 18 00 00 04 <MAC under DAMK>: lift a temporary block."""
    purse = _maintained_purse(card, cmd)
    if cmd.p1 or cmd.p2:
        raise CardStatus(sw.WRONG_P1P2)
    unwrap_sm(card, cmd, MAINTENANCE_KEY)
    if purse.blocked != "no":
        journal.set(purse, "blocked", "no")
    return b""


def _maintained_purse(card, cmd: CommandApdu) -> PurseState:
    purse = card.volatile.df.purse
    if purse is None:
        raise CardStatus(sw.INS_NOT_SUPPORTED)
    if not cmd.secure_messaging:
        raise CardStatus(sw.SECURITY_NOT_SATISFIED)
    if purse.blocked == "permanent":
        raise CardStatus(sw.APP_PERMANENTLY_BLOCKED)
    return purse


HANDLERS = {
    (0x80, 0x5C): (get_balance, False),
    (0x80, 0x50): (initialize, False),
    (0x80, 0x52): (credit_for_load, False),
    (0x80, 0x54): (debit_for_purchase, False),
    (0x80, 0xDC): (update_capp_data_cache, False),
    (0x80, 0x5A): (get_transaction_prove, False),
    (0x80, 0x1E): (application_block, True),
    (0x80, 0x18): (application_unblock, True),
}

# Commands that leave an open e-purse session alone.
SESSION_KEEPERS = {(0x80, 0x52), (0x80, 0x54), (0x80, 0xDC), (0x80, 0x5C)}
