"""Host-side time of one full purchase flow against the emulated card, beside its raw crypto.

One flow = SELECT + READ BINARY 0015 + INITIALIZE FOR PURCHASE + PSAM MAC1 (card-key
derivation, session key, MAC1) + DEBIT FOR PURCHASE (the card checks MAC1, computes MAC2 and
TAC, commits) + PSAM MAC2 check, all in this process. The baseline, measured in the same run,
is the three raw crypto operations of a purchase alone (session key, MAC1, TAC) through
`yikatong.crypto.pboc`; the ratio says what the APDU layer, the emulator and the terminal
library cost on top.

    .venv/bin/python bench/purchase_flow.py [--runs 3000] [--algorithm SM4|3DES|both]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, date, datetime

from yikatong.chip import terminal
from yikatong.chip.emulator import Card
from yikatong.chip.host import LoadHost
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.crypto import pboc
from yikatong.crypto.keystore import InMemoryKeyStore

TERMINAL_ID = bytes.fromhex("320400000001")
WHEN = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def make_card(keystore, algorithm: str) -> Card:
    data = CardPersonalisation(
        card_no="B00000001", card_id_code="320400D156000005B320000000000001",
        ssn="320402199001011234", name="测试", gender="1", nation="01", birthplace="320402",
        birth_date=date(1990, 1, 1), issue_date=date(2026, 3, 1), expiry_date=date(2036, 3, 1),
        region_code="320400", pan="6214830600000001", pan_sequence=1, pan_expiry=date(2036, 3, 31),
        asn="03104000000000000001", purse_algorithm=algorithm,
    )
    return Card(personalise(data, keystore))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_flows(keystore, algorithm: str, runs: int) -> list[float]:
    card = make_card(keystore, algorithm)
    reader = EmulatorReader(card)
    reader.connect()
    psam = Psam(keystore, terminal_id=TERMINAL_ID)
    terminal.load(reader, LoadHost(keystore), 100_000, TERMINAL_ID, WHEN)
    for _ in range(50):  # warm-up
        terminal.purchase(reader, psam, 1, WHEN)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        terminal.purchase(reader, psam, 1, WHEN)
        samples.append(time.perf_counter() - start)
    return samples


def time_raw_crypto(algorithm: str, runs: int) -> list[float]:
    profile = pboc.profile_named(algorithm)
    key, dtk = bytes(range(16)), bytes(range(16, 32))
    random, counter, tail = b"\x11\x22\x33\x44", b"\x00\x01", b"\x00\x01"
    mac1_data = pboc.purchase_mac1_data(1, 6, TERMINAL_ID, b"\x20\x26\x03\x02", b"\x09\x30\x00")
    tac_data = pboc.purchase_tac_data(1, 6, TERMINAL_ID, b"\x00\x00\x00\x01", b"\x20\x26\x03\x02", b"\x09\x30\x00")
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        session_key = profile.session_key(key, random, counter, tail)
        profile.session_mac(session_key, mac1_data)
        profile.tac(dtk, tac_data)
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: list[float]) -> str:
    micro = [s * 1e6 for s in samples]
    return (f"{name:<34} mean {statistics.fmean(micro):8.1f} µs   p50 {percentile(micro, 0.50):8.1f} µs"
            f"   p99 {percentile(micro, 0.99):8.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--algorithm", choices=["SM4", "3DES", "both"], default="both")
    args = parser.parse_args()
    keystore = InMemoryKeyStore(seed=b"bench")
    for algorithm in (["SM4", "3DES"] if args.algorithm == "both" else [args.algorithm]):
        flows = time_flows(keystore, algorithm, args.runs)
        raw = time_raw_crypto(algorithm, args.runs)
        print(report(f"{algorithm} full purchase flow", flows))
        print(report(f"{algorithm} raw crypto (SK, MAC1, TAC)", raw))
        mean_ratio = statistics.fmean(flows) / statistics.fmean(raw)
        median_ratio = percentile(flows, 0.5) / percentile(raw, 0.5)
        print(f"{algorithm} flow / raw crypto: {median_ratio:.1f}× at p50, {mean_ratio:.1f}× on the mean"
              f"   ({len(flows)} flows, {1 / percentile(flows, 0.5):,.0f} purchases/s at p50 on one core)")


if __name__ == "__main__":
    main()
