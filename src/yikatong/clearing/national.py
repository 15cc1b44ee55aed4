"""A simulated national clearing house (全国交通一卡通清分结算中心), for the simulation and tests.

In T-Union every issuer keeps its own TAC keys; only the national clearing house can verify
another city's TACs, and money between cities moves through it. This house holds the other
issuers' master keys in its own key stores — the platform never holds them — and talks to the
platform only through files in an exchange directory, in both directions:

* `receive(path)`: our NATIONAL_OUT file (other issuers' cards used on our lines) → it verifies
  each TAC with the card issuer's key and writes a NATIONAL_RESULT file of verdicts;
* `collect(records)` then `send(city)`: records of our cards that other cities' terminals
  uploaded → a NATIONAL_IN file with the amounts to settle;
* `receive_ack(path)`: our NATIONAL_ACK (what we accepted of a NATIONAL_IN file).

`positions()` is its book: what each issuer city owes each other for the records accepted.

The purchase key is national in T-Union (every PSAM in the country holds it), the load, TAC
and maintenance keys are each issuer's own: `issuer_keys(city, national)` is the key set the
simulated other issuer personalises and loads its cards with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from yikatong.clearing import fileformat, rules
from yikatong.clearing.fileformat import BatchRecord, FileKind, Verdict, VerdictLine
from yikatong.core.clock import Clock, SystemClock
from yikatong.crypto import pboc
from yikatong.crypto.des_batch import verify_tacs_3des
from yikatong.crypto.errors import KeyNotFound, KeyUnusable, UnknownAlgorithm
from yikatong.crypto.keys import KeyInfo, MasterKey
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm4_batch import verify_tacs_sm4

SENDER = "TUNION-NCH"
# Other T-Union issuers the simulation knows (GB/T 13497 city codes).
OTHER_CITIES = {"3050": "Suzhou 苏州", "3020": "Wuxi 无锡", "3010": "Nanjing 南京", "2900": "Shanghai 上海",
                "1000": "Beijing 北京"}


def issuer_id_of(city: str) -> str:
    """A T-Union issuer ID (file 0015 bytes 0–7) of a city, as our own cards carry 3040."""
    return f"0101{city}FFFFFFFF"


class IssuerKeys:
    """Another issuer's key set: the national purchase master (shared by every T-Union PSAM,
    so our validators can debit the card) and the issuer's own masters for everything else."""

    def __init__(self, own: KeyStore, national: KeyStore) -> None:
        self._own, self._national = own, national

    def _store(self, purpose: str) -> KeyStore:
        return self._national if purpose == "purchase" else self._own

    def get(self, purpose: str, version: int | None = None, algorithm: str | None = None) -> MasterKey:
        return self._store(purpose).get(purpose, version=version, algorithm=algorithm)

    def active_version(self, purpose: str, algorithm: str | None = None) -> int:
        return self._store(purpose).active_version(purpose, algorithm)

    def list(self) -> list[KeyInfo]:
        return self._own.list()

    def rotate(self, purpose: str, algorithm: str | None = None) -> KeyInfo:
        raise NotImplementedError("a simulated issuer's keys do not rotate")

    def set_status(self, purpose: str, algorithm: str, version: int, status: str) -> KeyInfo:
        raise NotImplementedError("a simulated issuer's keys do not change")

    def sm2_public_key(self, purpose: str = "ecard_signing") -> bytes:
        return self._own.sm2_public_key(purpose)

    def seal(self, secret: bytes, *, context: str) -> str:
        return self._own.seal(secret, context=context)

    def unseal(self, sealed: str, *, context: str) -> bytes:
        return self._own.unseal(sealed, context=context)

    def derived_key(self, label: str) -> bytes:
        return self._own.derived_key(label)


class NationalClearingHouse:
    def __init__(self, directory: str | Path, *, seed: bytes = b"simulated T-Union issuers",
                 cities: Iterable[str] = OTHER_CITIES, home_city: str = rules.HOME_CITY,
                 clock: Clock | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.home_city = home_city
        self._clock = clock or SystemClock()
        self._keys = {city: InMemoryKeyStore(seed=seed + b"|" + city.encode(), clock=self._clock) for city in cities}
        self._cleared: set[tuple[str, str, int]] = set()
        self._waiting: dict[str, list[BatchRecord]] = defaultdict(list)  # issuer city → records to send
        self._sent: dict[str, list[BatchRecord]] = {}  # NATIONAL_IN file id → its records
        self._files = 0
        # (payer city, payee city) → fen: the payer's issuer owes the payee's operators
        self._positions: dict[tuple[str, str], int] = defaultdict(int)

    @property
    def cities(self) -> list[str]:
        return sorted(self._keys)

    def issuer_keys(self, city: str, national: KeyStore) -> IssuerKeys:
        return IssuerKeys(self._keys[city], national)

    def positions(self) -> dict[tuple[str, str], int]:
        return dict(sorted(self._positions.items()))

    def _file_id(self, kind: str) -> str:
        self._files += 1
        return f"NCH-{kind}-{self._files:06d}"

    def _write(self, file_id: str, content: str) -> Path:
        path = self.directory / f"{file_id}.txt"
        path.write_text(content, encoding="utf-8")
        return path

    # -- other issuers' cards used in our city ------------------------------------------------

    def receive(self, path: str | Path) -> Path:
        """Verify a NATIONAL_OUT file; write and return the NATIONAL_RESULT file answering it."""
        sent = fileformat.parse(Path(path).read_bytes())
        if sent.header.kind is not FileKind.NATIONAL_OUT:
            raise ValueError(f"the house receives NATIONAL_OUT files here, not {sent.header.kind}")
        valid = self._verify(sent.records)
        verdicts = []
        for index, record in enumerate(sent.records):
            verdict = valid[index]
            if verdict is Verdict.ACCEPTED and record.key in self._cleared:
                verdict = Verdict.DUPLICATE
            if verdict is Verdict.ACCEPTED:
                self._cleared.add(record.key)
                if not record.is_load:
                    self._positions[(record.issuer_city, record.city)] += record.amount
            verdicts.append(VerdictLine(0, record.seq, record.asn, record.counter_kind, record.counter,
                                        record.amount, verdict))
        file_id = self._file_id("RES")
        return self._write(file_id, fileformat.render_verdicts(
            FileKind.NATIONAL_RESULT, file_id, SENDER, sent.header.file_id, verdicts, created=self._clock.now()))

    def _verify(self, records: list[BatchRecord]) -> list[Verdict]:
        """Each record's TAC under its own issuer's master, in bulk per (issuer, key, layout)."""
        verdicts = [Verdict.UNKNOWN_ISSUER] * len(records)
        known = [i for i, r in enumerate(records) if r.issuer_city in self._keys and r.tac]
        for group in rules.tac_groups(fileformat.frame_of(records), known):
            try:
                profile = pboc.profile_for(group.alg_id)
                master = self._keys[group.issuer_id[4:8]].get("tac", version=group.key_version,
                                                               algorithm=profile.name)
            except (KeyNotFound, KeyUnusable, UnknownAlgorithm):
                continue
            verify = verify_tacs_sm4 if profile.block_size == 16 else verify_tacs_3des
            levels = len(master.diversification.factors) - 1
            valid = verify(master.key, group.asns, group.tac_inputs, group.tacs,
                           issuer_factors=[bytes.fromhex(group.issuer_id)] * levels)
            for index, ok in zip(group.indexes, valid, strict=True):
                verdicts[index] = Verdict.ACCEPTED if ok else Verdict.FORGED
        return verdicts

    # -- our cards used in other cities ---------------------------------------------------------

    def collect(self, records: Iterable[BatchRecord]) -> None:
        """Records other cities' terminals uploaded; each goes to its card's issuer."""
        for record in records:
            self._waiting[record.issuer_city].append(record)

    def send(self, issuer_city: str | None = None, *, created: datetime | None = None) -> Path | None:
        """The NATIONAL_IN file of the records waiting for an issuer (ours by default)."""
        city = issuer_city or self.home_city
        records = self._waiting.pop(city, [])
        if not records:
            return None
        file_id = self._file_id(f"IN-{city}")
        self._sent[file_id] = records
        return self._write(file_id, fileformat.render_records(FileKind.NATIONAL_IN, file_id, SENDER, records,
                                                              created=created or self._clock.now()))

    def receive_ack(self, path: str | Path) -> dict[Verdict, int]:
        """The issuer's verdicts on a NATIONAL_IN file: what it accepted is owed to the cities
        where the cards were used. Returns the count per verdict."""
        ack = fileformat.parse(Path(path).read_bytes())
        if ack.header.kind is not FileKind.NATIONAL_ACK or ack.header.reference not in self._sent:
            raise ValueError("not an acknowledgement of a file this house sent")
        records = self._sent.pop(ack.header.reference)
        counts: dict[Verdict, int] = defaultdict(int)
        for verdict in ack.verdicts:
            record = records[verdict.ref_seq - 1]
            counts[verdict.verdict] += 1
            if verdict.verdict is Verdict.ACCEPTED and not record.is_load:
                self._positions[(record.issuer_city, record.city)] += record.amount
        return dict(counts)
