"""TAC verifications per second for clearing, SM4 profile, every record under its own card key.

    .venv/bin/python bench/tac_throughput.py [--records 1000000] [--cards N] [--processes 2]

Each record's DTK is diversified from one master DTK with the issuer ID (level 1, shared)
and the card's ASN (level 2); its TAC covers the 22-byte purchase TAC data. Paths:

  (a) pure Python: gmssl's pure-Python SM4, on a small sample, extrapolated;
  (b) `cryptography` (OpenSSL) one call per record, card keys derived in one batched ECB call;
  (b3/c3) the same two paths for the 3DES profile (DES vectorised in yikatong.crypto.des_batch);
  (c) numpy-vectorised SM4 (yikatong.crypto.sm4_batch): key schedules and rounds across
      records, grouped by card, split over `--processes` forked workers;
  (d) `openssl speed -evp sm4-ecb`: raw 16-byte-block throughput as a limit (2 blocks per
      TAC, key setup and everything else ignored).

Timings are printed, never asserted. The machine is shared: run it twice before quoting.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import time
import warnings

import numpy as np

from yikatong.crypto import pboc, sm
from yikatong.crypto.des_batch import tacs_3des, verify_tacs_3des
from yikatong.crypto.sm4_batch import card_keys_sm4, tacs_sm4, verify_tacs_sm4

ISSUER_ID = bytes.fromhex("0000304000000000")  # Changzhou city code 3040


def make_records(records: int, cards: int, master: bytes, seed: int = 7, tacs_of=tacs_sm4):
    """Synthetic ASNs, TAC inputs and TACs; 1% of TACs altered so a wrong verifier shows."""
    rng = np.random.default_rng(seed)
    card_pool = rng.integers(0, 256, (cards, 10), dtype=np.uint8)
    asns = card_pool[rng.integers(0, cards, records)]
    tac_inputs = rng.integers(0, 256, (records, 22), dtype=np.uint8)
    tacs = tacs_of(master, asns, tac_inputs, issuer_factors=[ISSUER_ID], processes=2)
    altered = rng.random(records) < 0.01
    tacs[altered] ^= np.uint32(1)
    return asns, tac_inputs, tacs.astype(">u4").view(np.uint8).reshape(-1, 4), ~altered


def pure_python(master: bytes, asns, tac_inputs, tacs, sample: int) -> tuple[float, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

    def encryptor(key: bytes):
        cipher = CryptSM4()
        cipher.set_key(key, SM4_ENCRYPT)
        return lambda block: bytes(cipher.one_round(cipher.sk, list(block)))

    issuer_key = encryptor(master)(ISSUER_ID + pboc.complement(ISSUER_ID))
    derive = encryptor(issuer_key)
    started = time.perf_counter()
    ok = np.empty(sample, dtype=bool)
    for i in range(sample):
        asn8 = asns[i, -8:].tobytes()
        dtk = derive(asn8 + pboc.complement(asn8))
        tac = pboc.pboc_mac(encryptor(dtk), tac_inputs[i].tobytes(), 16)
        ok[i] = pboc.mac_equal(tac, tacs[i].tobytes())
    return sample / (time.perf_counter() - started), ok


def per_call(master: bytes, asns, tac_inputs, tacs) -> tuple[float, np.ndarray]:
    profile = pboc.PROFILE_SM4
    started = time.perf_counter()
    dtks = card_keys_sm4(master, asns, [ISSUER_ID]).tobytes()  # one OpenSSL call for all cards
    inputs, given = tac_inputs.tobytes(), tacs.tobytes()
    ok = np.empty(len(asns), dtype=bool)
    for i in range(len(asns)):
        tac = profile.tac(dtks[16 * i : 16 * i + 16], inputs[22 * i : 22 * i + 22])
        ok[i] = pboc.mac_equal(tac, given[4 * i : 4 * i + 4])
    return len(asns) / (time.perf_counter() - started), ok


def per_call_3des(master: bytes, asns, tac_inputs, tacs, sample: int) -> tuple[float, np.ndarray]:
    """The 3DES profile, one `cryptography` call per record, on the first `sample` records."""
    profile = pboc.PROFILE_3DES
    issuer_key = profile.diversify(master, ISSUER_ID)
    started = time.perf_counter()
    blocks = np.concatenate([asns[:sample, -8:], asns[:sample, -8:] ^ 0xFF], axis=1).tobytes()
    dtks = sm.des3_ecb_encrypt(issuer_key, blocks)
    inputs, given = tac_inputs[:sample].tobytes(), tacs[:sample].tobytes()
    ok = np.empty(sample, dtype=bool)
    for i in range(sample):
        tac = profile.tac(dtks[16 * i : 16 * i + 16], inputs[22 * i : 22 * i + 22])
        ok[i] = pboc.mac_equal(tac, given[4 * i : 4 * i + 4])
    return sample / (time.perf_counter() - started), ok


def vectorised_3des(master: bytes, asns, tac_inputs, tacs, processes: int) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    ok = verify_tacs_3des(master, asns, tac_inputs, tacs, issuer_factors=[ISSUER_ID], processes=processes)
    return len(asns) / (time.perf_counter() - started), ok


def vectorised(master: bytes, asns, tac_inputs, tacs, processes: int) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    ok = verify_tacs_sm4(master, asns, tac_inputs, tacs, issuer_factors=[ISSUER_ID], processes=processes)
    return len(asns) / (time.perf_counter() - started), ok


def openssl_limit() -> tuple[float | None, str]:
    binary = shutil.which("openssl")
    if binary is None:
        return None, "no openssl binary on PATH"
    try:
        result = subprocess.run(
            [binary, "speed", "-seconds", "2", "-bytes", "16", "-evp", "sm4-ecb"],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"openssl speed failed: {error}"
    match = re.search(r"^SM4-ECB\s+([\d.]+)k", result.stdout, re.MULTILINE)
    if not match:
        return None, "this openssl has no SM4 in `speed -evp sm4-ecb`"
    version = subprocess.run([binary, "version"], capture_output=True, text=True, check=False).stdout.strip()
    blocks_per_second = float(match.group(1)) * 1000 / 16
    return blocks_per_second, version.split("(")[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--cards", type=int, default=None, help="distinct cards (default records/10)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pure-sample", type=int, default=1000, help="records for the pure-Python path")
    args = parser.parse_args()
    cards = args.cards or max(1, args.records // 10)
    master = bytes.fromhex("00112233445566778899AABBCCDDEEFF")

    print(f"{args.records:,} records over {cards:,} cards, two-level diversification, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    asns, tac_inputs, tacs, valid = make_records(args.records, cards, master)

    sample = min(args.pure_sample, args.records)
    rate_a, ok_a = pure_python(master, asns, tac_inputs, tacs, sample)
    rate_b, ok_b = per_call(master, asns, tac_inputs, tacs)
    rate_c1, ok_c1 = vectorised(master, asns, tac_inputs, tacs, 1)
    rate_c, ok_c = vectorised(master, asns, tac_inputs, tacs, args.processes)
    agree = (ok_b == valid).all() and (ok_c == ok_b).all() and (ok_c1 == ok_b).all() and (ok_a == valid[:sample]).all()

    asns3, inputs3, tacs3, valid3 = make_records(args.records, cards, master, seed=8, tacs_of=tacs_3des)
    sample3 = min(args.records, 200_000)
    rate_b3, ok_b3 = per_call_3des(master, asns3, inputs3, tacs3, sample3)
    rate_c3_1, ok_c3_1 = vectorised_3des(master, asns3, inputs3, tacs3, 1)
    rate_c3, ok_c3 = vectorised_3des(master, asns3, inputs3, tacs3, args.processes)
    agree = agree and (ok_b3 == valid3[:sample3]).all() and (ok_c3 == valid3).all() and (ok_c3_1 == valid3).all()
    limit, openssl_note = openssl_limit()

    print(f"verifiers agree on every record (1% altered TACs rejected): {bool(agree)}")
    rows = [
        (f"(a) pure Python (gmssl SM4; {sample:,}-record sample, extrapolated)", rate_a),
        ("(b) cryptography, one call per record (keys: one batched ECB)", rate_b),
        ("(c) numpy-vectorised SM4, 1 process", rate_c1),
        (f"(c) numpy-vectorised SM4, {args.processes} processes", rate_c),
    ]
    if limit is not None:
        rows.append((f"(d) openssl speed sm4-ecb, 16-byte blocks / 2 per TAC, 1 core ({openssl_note})", limit / 2))
        rows.append(("    same, x both cores", limit))
    print(f"{'path':<92} {'TAC/s':>12} {'vs (b)':>8}")
    for label, rate in rows:
        print(f"{label:<92} {rate:>12,.0f} {rate / rate_b:>7.2f}x")
    if limit is None:
        print(f"(d) not measured: {openssl_note}")
    print("3DES profile (ratios against its own per-call path):")
    for label, rate in [
        (f"    cryptography, one call per record ({sample3:,}-record sample)", rate_b3),
        ("    numpy-vectorised DES, 1 process", rate_c3_1),
        (f"    numpy-vectorised DES, {args.processes} processes", rate_c3),
    ]:
        print(f"{label:<92} {rate:>12,.0f} {rate / rate_b3:>7.2f}x")


if __name__ == "__main__":
    main()
