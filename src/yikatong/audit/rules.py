"""Pure parts of the audit trail: the record hash and the chain check."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes

GENESIS = "0" * 64

# Fields that go into a record's hash, in this order.
HASHED_FIELDS = (
    "at", "actor_id", "role", "channel", "action", "entity_type", "entity_id", "seq",
    "before", "after", "reason", "prev_hash",
)


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def record_hash(fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        [_plain(fields[name]) for name in HASHED_FIELDS],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"),
    )
    return sm3_hex(canonical.encode())


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def first_broken_link(records: Iterable[Mapping[str, Any]]) -> int | None:
    """The seq of the first record whose hash or link does not verify, or None if intact."""
    expected_prev = GENESIS
    for record in records:
        if record["prev_hash"] != expected_prev or record_hash(record) != record["hash"]:
            return record["seq"]
        expected_prev = record["hash"]
    return None
