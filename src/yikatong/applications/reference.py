"""In-repo reference implementations of the application seams (synthetic, for development,
tests and the demo): real-name authentication, population registry, card factory."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw

from yikatong.applications.protocols import (
    CardFactoryError,
    FactoryBatch,
    FactoryBatchUnknown,
    FactoryResults,
    FailedCard,
    IdentityServiceUnavailable,
    PopulationRecord,
    ProducedCard,
    RealNameResult,
)
from yikatong.applications.rules import luhn_complete

PHOTO_SIZE = (358, 441)  # 四.4: 358 px wide, 441 px high, 350 dpi, 24-bit colour


def synthetic_photo(seed: str = "", *, background=(255, 255, 255)) -> bytes:
    """A synthetic ID photo that meets 四.4: a plain white background and a figure that keeps
    clear of the border. Deterministic per seed."""
    digest = hashlib.sha256(seed.encode()).digest()
    image = Image.new("RGB", PHOTO_SIZE, background)
    draw = ImageDraw.Draw(image)
    shirt = (40 + digest[0] % 80, 60 + digest[1] % 80, 110 + digest[2] % 100)
    skin = (225 - digest[3] % 40, 185 - digest[4] % 40, 150 - digest[5] % 40)
    hair = (20 + digest[6] % 50,) * 3
    draw.rounded_rectangle((64, 300, 294, 425), radius=60, fill=shirt)   # shoulders
    draw.rectangle((154, 250, 204, 320), fill=skin)                      # neck
    draw.ellipse((109, 90, 249, 270), fill=skin)                         # face
    draw.chord((105, 70, 253, 200), 180, 360, fill=hair)                 # hair
    for x in (148, 196):                                                 # eyes
        draw.ellipse((x - 6, 165, x + 6, 175), fill=(30, 30, 30))
    draw.arc((152, 205, 206, 240), 20, 160, fill=(150, 60, 60), width=3)  # mouth
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=98, subsampling=0, dpi=(350, 350))
    return out.getvalue()


# --- real-name authentication and population registry --------------------------------------


@dataclass
class SyntheticIdentityAuthenticator:
    """Accepts any non-empty evidence ticket except "mismatch"; `available=False` simulates an
    outage (IdentityServiceUnavailable). Anyone could pass it: tests and development only
    (a production start refuses an implementation marked `development_only`)."""

    # Anyone could sign up as anyone through it: a production start refuses it (yikatong.startup).
    development_only = True
    available: bool = True

    def authenticate(self, *, name: str, id_number: str, evidence: str) -> RealNameResult:
        if not self.available:
            raise IdentityServiceUnavailable()
        if not evidence or evidence == "mismatch" or not name or not id_number:
            return RealNameResult(verified=False, reason="实名认证未通过 / real-name check failed")
        return RealNameResult(verified=True)


SYNTHETIC_PEOPLE: tuple[tuple[str, str, str, date, str | None, bool], ...] = (
    # name, id number (checksums valid; docs/domain-rules.md §1), gender, birth date,
    # address, photo on file
    ("王晓明", "320402199003070013", "M", date(1990, 3, 7), "常州市天宁区示例路1号", True),
    ("李静", "32040419851120002X", "F", date(1985, 11, 20), "常州市钟楼区示例路2号", True),
    ("陈浩", "320411200106150034", "M", date(2001, 6, 15), "常州市新北区示例路3号", True),
    ("赵敏", "320412197801010043", "F", date(1978, 1, 1), "常州市武进区示例路4号", True),
    ("周秀英", "320481195505050060", "F", date(1955, 5, 5), "溧阳市示例路5号", False),
)


class SyntheticPopulationRegistry:
    """A handful of synthetic people with base data and photos; `available=False` simulates
    an outage. `add()` puts more people on file (tests)."""

    def __init__(self, *, available: bool = True) -> None:
        self.available = available
        self._records: dict[str, PopulationRecord] = {}
        for name, number, gender, born, address, has_photo in SYNTHETIC_PEOPLE:
            self.add(PopulationRecord(
                name=name, id_number=number, gender=gender, birth_date=born, nationality="CHN",
                address=address, photo_jpeg=synthetic_photo(number) if has_photo else None,
            ))

    def add(self, record: PopulationRecord) -> None:
        self._records[record.id_number] = record

    def lookup(self, *, id_number: str, name: str) -> PopulationRecord | None:
        if not self.available:
            raise IdentityServiceUnavailable()
        record = self._records.get(id_number.upper())
        return record if record is not None and record.name == name else None


# --- card factory ------------------------------------------------------------------------------


class SimulatedCardFactory:
    """A card factory that prints instantly (or after `polls_before_ready` polls) and mints
    numbers that are unique per application id and deterministic for a given `salt`:

    card_no = letter + 8 digits; card_id_code = region + D156 + 000005 + 16 hex;
    asn = 8-digit prefix + 12 digits; pan = the bank's first example BIN + 12 digits + Luhn.
    Applications listed in `fail_application_ids` come back as failed (e.g. a spoiled print).
    Batches live in memory: another process (or this one after a restart) does not know them,
    and answers FactoryBatchUnknown until the platform submits the batch again.
    """

    def __init__(
        self, *, card_no_letter: str = "C", region_code: str = "320400",
        asn_prefix: str = "32040000", salt: str = "ykt-simulated-factory",
        polls_before_ready: int = 0, fail_application_ids: frozenset[int] = frozenset(),
    ) -> None:
        self.card_no_letter = card_no_letter
        self.region_code = region_code
        self.asn_prefix = asn_prefix
        self.salt = salt
        self.polls_before_ready = polls_before_ready
        self.fail_application_ids = set(fail_application_ids)
        self.received: dict[str, FactoryBatch] = {}
        self._polls: dict[str, int] = {}

    def submit_batch(self, batch: FactoryBatch) -> str:
        factory_batch_id = f"SIM-{batch.reference}"
        self.received.setdefault(factory_batch_id, batch)
        self._polls.setdefault(factory_batch_id, 0)
        return factory_batch_id

    def results(self, factory_batch_id: str) -> FactoryResults:
        batch = self.received.get(factory_batch_id)
        if batch is None:
            raise FactoryBatchUnknown(reason=f"unknown batch {factory_batch_id}")
        self._polls[factory_batch_id] += 1
        if self._polls[factory_batch_id] <= self.polls_before_ready:
            return FactoryResults(complete=False)
        produced, failed = [], []
        for order in batch.orders:
            if order.application_id in self.fail_application_ids:
                failed.append(FailedCard(order.application_id, "print spoiled (simulated)"))
            else:
                produced.append(self._mint(order.application_id, order.bin_prefixes))
        return FactoryResults(complete=True, produced=tuple(produced), failed=tuple(failed))

    def _mint(self, application_id: int, bin_prefixes: tuple[str, ...]) -> ProducedCard:
        if application_id >= 10**8:
            raise CardFactoryError(reason="simulated factory numbers run out at 10^8 cards")
        noise = hashlib.sha256(f"{self.salt}:{application_id}".encode()).hexdigest().upper()
        serial = f"{application_id:08X}"
        bin_prefix = bin_prefixes[0] if bin_prefixes else "62"
        account = f"{application_id:0{18 - len(bin_prefix)}d}"
        return ProducedCard(
            application_id=application_id,
            card_no=f"{self.card_no_letter}{application_id:08d}",
            card_id_code=f"{self.region_code}D156000005{serial}{noise[:8]}",
            chip_serial=f"{serial}{noise[8:16]}",
            asn=f"{self.asn_prefix}{application_id:012d}",
            pan=luhn_complete(bin_prefix + account),
        )
