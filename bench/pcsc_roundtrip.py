"""APDU round trips through pcscd + vpcd against the same emulated card called directly.

    .venv/bin/python bench/pcsc_roundtrip.py [--apdus 2000] [--purchases 200]

Prints, in one run, for one personalised SM4 card:
* APDUs per second for a SELECT of the social-security MF (card answers 9000, no crypto):
  `Card.transmit` directly, through `EmulatorReader`, and through pyscard → pcscd → vpcd →
  `VirtualCardLink`, with the card served from a thread of this process and from a child
  process (as `ykt card insert` does);
* the same through pcscd with TCP quick ACKs switched off on our side, to show why
  `vpcd._ack_at_once` exists (vpcd writes length and APDU in two segments: Nagle on its side
  meets delayed ACKs on ours);
* the time of one full purchase flow (terminal.purchase with the PSAM) direct and over PC/SC,
  then over PC/SC with the chip image saved to disk after every changing command, as
  `ykt card insert` does.

Needs pcscd with vsmartcard-vpcd (scripts/pcsc-up.sh); without them only the direct numbers
are printed. Nothing is asserted: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from yikatong.chip.emulator import Card  # noqa: E402
from yikatong.chip.host import LoadHost  # noqa: E402
from yikatong.chip.image import CardPersonalisation, personalise  # noqa: E402
from yikatong.chip.psam import Psam  # noqa: E402
from yikatong.chip.reader import EmulatorReader  # noqa: E402
from yikatong.chip.store import DirectoryChipStore  # noqa: E402
from yikatong.chip.terminal import load, purchase  # noqa: E402
from yikatong.core.errors import DomainError  # noqa: E402
from yikatong.crypto.keystore import InMemoryKeyStore  # noqa: E402
from yikatong.readers import vpcd  # noqa: E402
from yikatong.readers.insert import SaveWhenChanged  # noqa: E402
from yikatong.readers.pcsc import PcscReader, list_readers  # noqa: E402

SELECT_MF = bytes.fromhex("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
TERMINAL_ID = bytes.fromhex("320400000001")
WHEN = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
KEYS = InMemoryKeyStore(seed=b"bench-pcsc")
CARD = CardPersonalisation(
    card_no="B00000001",
    card_id_code="320400D156000005B320000000000001",
    ssn="320402199001011234",
    name="测试乙",
    gender="2",
    nation="01",
    birthplace="320402",
    birth_date=datetime(1991, 2, 3).date(),
    issue_date=datetime(2026, 3, 1).date(),
    expiry_date=datetime(2036, 3, 1).date(),
    region_code="320400",
    pan="6214830699000001",
    pan_sequence=1,
    pan_expiry=datetime(2036, 3, 31).date(),
    asn="03104000990000000001",
)


def new_card() -> Card:
    return Card(personalise(CARD, KEYS))


def rate(send: Callable[[bytes], bytes], apdus: int) -> float:
    """APDUs per second, best of three rounds of `apdus` SELECTs."""
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(apdus):
            send(SELECT_MF)
        best = max(best, apdus / (time.perf_counter() - start))
    return best


def purchase_ms(reader, purchases: int) -> tuple[float, float]:
    """Median and p95 of one purchase flow of 1 fen, in milliseconds."""
    psam = Psam(KEYS, terminal_id=TERMINAL_ID)
    load(reader, LoadHost(KEYS), 100_000, TERMINAL_ID, WHEN)
    times = []
    for _ in range(purchases):
        start = time.perf_counter()
        purchase(reader, psam, 1, WHEN)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def _serve_in_child(stop, ready) -> None:
    card = new_card()
    vpcd.serve_until_stopped(card, stop=stop, on_connected=lambda link: ready.set())


@contextmanager
def inserted(where: str, card: Card | None = None, after_command=None):
    """The card in vpcd's reader, served from a thread or a child process; yields a
    connected PcscReader."""
    if where == "thread":
        stop = threading.Event()
        server = threading.Thread(
            target=vpcd.serve_until_stopped, args=(card,),
            kwargs={"stop": stop, "after_command": after_command}, daemon=True,
        )
    else:
        context = multiprocessing.get_context("fork")
        stop, ready = context.Event(), context.Event()
        server = context.Process(target=_serve_in_child, args=(stop, ready), daemon=True)
    server.start()
    reader = PcscReader(vpcd.VPCD_READER_NAME)
    reader.wait_for_card(timeout=15)
    try:
        yield reader
    finally:
        reader.disconnect()
        stop.set()
        server.join(10)
        time.sleep(0.6)  # let pcscd see the card leave before the next insertion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apdus", type=int, default=2000)
    parser.add_argument("--purchases", type=int, default=200)
    args = parser.parse_args()

    card = new_card()
    card.reset()
    emulator = EmulatorReader(new_card())
    emulator.connect()
    print(f"APDU round trips (SELECT MF, 9000), best of 3 x {args.apdus}:")
    direct = rate(card.transmit, args.apdus)
    print(f"  Card.transmit directly           {direct:>10,.0f} APDU/s  {1e6 / direct:8.1f} µs")
    via_reader = rate(emulator.transmit, args.apdus)
    print(f"  EmulatorReader                   {via_reader:>10,.0f} APDU/s  {1e6 / via_reader:8.1f} µs")
    median, p95 = purchase_ms(emulator, args.purchases)
    print(f"  purchase flow, EmulatorReader    median {median:.2f} ms, p95 {p95:.2f} ms")

    try:
        available = vpcd.VPCD_READER_NAME in list_readers()
    except DomainError as error:
        available, why = False, error.message_en
    else:
        why = f"pcscd does not list '{vpcd.VPCD_READER_NAME}'"
    if not available:
        print(f"PC/SC part skipped: {why}. Run scripts/pcsc-up.sh first.")
        return

    for where in ("thread", "process"):
        with inserted(where, new_card()) as reader:
            through = rate(reader.transmit, args.apdus)
        print(
            f"  pyscard→pcscd→vpcd ({where:7})   {through:>10,.0f} APDU/s  {1e6 / through:8.1f} µs"
            f"   ({direct / through:.0f}× the direct call)"
        )

    slow_acks = min(args.apdus, 50)
    quick = vpcd._ack_at_once
    vpcd._ack_at_once = lambda sock: None
    try:
        with inserted("thread", new_card()) as reader:
            delayed = rate(reader.transmit, slow_acks)
    finally:
        vpcd._ack_at_once = quick
    print(f"  same, delayed ACKs (no QUICKACK) {delayed:>10,.0f} APDU/s  {1e6 / delayed:8.1f} µs"
          f"   (best of 3 x {slow_acks})")

    with inserted("thread", new_card()) as reader:
        median, p95 = purchase_ms(reader, args.purchases)
    print(f"  purchase flow over PC/SC         median {median:.2f} ms, p95 {p95:.2f} ms")
    with tempfile.TemporaryDirectory() as directory:
        store = DirectoryChipStore(directory)
        served = new_card()
        store.save(served)
        with inserted("thread", served, after_command=SaveWhenChanged(store, served)) as reader:
            median, p95 = purchase_ms(reader, args.purchases)
    print(f"  same, chip image saved (fsync)   median {median:.2f} ms, p95 {p95:.2f} ms")


if __name__ == "__main__":
    main()
