"""Pure parts of the audit trail: the record hash, personal data in before/after images, the
checkpoint hash, and the walk that checks one chain against what the checkpoints vouch for.

See docs/audit.md for what is chained and what a checkpoint proves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

from cryptography.hazmat.primitives import hashes

from yikatong.api.logging import mask_identity_numbers, may_hold_identity_numbers
from yikatong.core.masking import mask_address, mask_birth_date, mask_name, mask_phone, mask_ssn

GENESIS = "0" * 64

# Fields that go into a record's hash, in this order.
HASHED_FIELDS = (
    "at", "actor_id", "role", "channel", "action", "entity_type", "entity_id", "seq",
    "before", "after", "reason", "prev_hash",
)

# Fields that go into a checkpoint's hash (which its SM2 signature covers), in this order.
CHECKPOINT_FIELDS = (
    "seq", "at", "upto_record_id", "record_count", "chain_count", "changed_count",
    "changes_root", "prev_hash", "key_version",
)

# The SM2 user ID of checkpoint signatures: a signature made for one use (e-card QR codes
# use the default ID) never verifies as a checkpoint signature.
SIGNER_ID = b"yikatong-audit-checkpoint"


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def record_hash(fields: Mapping[str, Any]) -> str:
    return sm3_hex(_canonical([_plain(fields[name]) for name in HASHED_FIELDS]))


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


# --- personal data in before/after images -------------------------------------------------


def photo_digest(photo: str | bytes) -> str:
    """A photo is never copied into the trail; its SM3 still proves which photo it was."""
    data = photo.encode() if isinstance(photo, str) else photo
    return f"sm3:{sm3_hex(data)}"


# Which keys of a before/after image (at any depth) hold personal data, and how each is
# kept. Every other string still has ID-like numbers masked (a number under an unexpected key).
PERSONAL_FIELDS: dict[str, Callable[[Any], str]] = {
    **dict.fromkeys(("ssn", "id_number", "document_number", "new_ssn", "old_ssn"), mask_ssn),
    **dict.fromkeys(("name", "holder_name", "person_name", "applicant_name"), mask_name),
    **dict.fromkeys(("phone", "mobile", "phone_number", "old_phone", "new_phone"), mask_phone),
    **dict.fromkeys(("address", "home_address", "mailing_address"), mask_address),
    "birth_date": mask_birth_date,
    **dict.fromkeys(("photo", "photo_jpeg", "photo_base64", "face_image"), photo_digest),
}


def without_personal_data(image: Any) -> Any:
    """A before/after image as the trail keeps it: personal fields masked (PERSONAL_FIELDS),
    ID-like numbers in any other string masked, and shaped as JSON gives it back (string
    keys, lists for tuples), so the hash made at write time is the hash of what is stored."""
    if isinstance(image, Mapping):
        return {str(key): _kept(str(key), value) for key, value in image.items()}
    if isinstance(image, list | tuple):
        if _plain_strings_without_numbers(image):
            return list(image)
        return [without_personal_data(item) for item in image]
    if isinstance(image, str):
        return mask_identity_numbers(image)
    return image


def _plain_strings_without_numbers(items: list | tuple) -> bool:
    """True for a list of plain strings none of which holds an ID-like number: one scan of
    them joined (a newline is no digit, so no run of digits crosses two of them) instead of
    the masking's expression per string."""
    return (all(type(item) is str for item in items)
            and not may_hold_identity_numbers("\n".join(items)))


def _kept(key: str, value: Any) -> Any:
    policy = PERSONAL_FIELDS.get(key)
    if policy is not None and isinstance(value, str | bytes) and value:
        return policy(value)
    return without_personal_data(value)


# --- checkpoints ---------------------------------------------------------------------------


class Head(NamedTuple):
    """The newest record of one entity's chain at a checkpoint."""

    entity_type: str
    entity_id: str
    seq: int
    hash: str
    record_id: int

    @property
    def chain(self) -> tuple[str, str]:
        return self.entity_type, self.entity_id


def changes_root(heads: Iterable[Head]) -> str:
    """SM3 over the heads (and their record ids) a checkpoint stores (the chains changed since the one before), in
    a fixed order: the checkpoint's hash covers this, so a changed, added or removed head
    row no longer matches its signed checkpoint."""
    return sm3_hex(_canonical(sorted([list(head) for head in heads])))


def checkpoint_hash(fields: Mapping[str, Any]) -> str:
    return sm3_hex(_canonical([_plain(fields[name]) for name in CHECKPOINT_FIELDS]))


def signed_message(checkpoint_hash_hex: str) -> bytes:
    return checkpoint_hash_hex.encode("ascii")


# --- what is wrong, and where --------------------------------------------------------------

# kind: (English, Chinese) description; {placeholders} come from Problem.facts.
PROBLEM_TEXT: dict[str, tuple[str, str]] = {
    "altered": ("its content does not match its hash (changed without re-hashing)",
                "记录内容与其哈希不符（被改动）"),
    "broken_link": ("it does not link to the record before it (prev_hash)",
                    "记录未链接到前一条记录（prev_hash 不符）"),
    "missing_record": ("seq {seq} is missing: checkpoint {checkpoint} vouches for the chain up to "
                       "seq {vouched_seq}, the records present end at seq {last_seq}",
                       "缺少序号 {seq} 的记录：检查点 {checkpoint} 证明该链至少到序号 {vouched_seq}，现存记录止于序号 {last_seq}"),
    "gap": ("seq {seq} is missing from the middle of the chain (the next present is seq {next_seq})",
            "链中间缺少序号 {seq} 的记录（下一条为序号 {next_seq}）"),
    "missing_chain": ("the whole chain is missing: checkpoint {checkpoint} vouches for it up to seq {vouched_seq}",
                      "整条链缺失：检查点 {checkpoint} 证明该链至少到序号 {vouched_seq}"),
    "rewritten": ("checkpoint {checkpoint} vouches hash {vouched_hash:.16}… at this seq: a record "
                  "from seq {since_seq} to here was rewritten and the chain re-hashed",
                  "与检查点 {checkpoint} 证明的哈希 {vouched_hash:.16}… 不符：序号 {since_seq} 至此之间的记录被改写并重算了哈希"),
    "moved": ("checkpoint {checkpoint} vouches this record as id {vouched_id}: records were swapped",
              "检查点 {checkpoint} 证明该记录编号为 {vouched_id}：记录被调换"),
    "out_of_order": ("its id {record_id} is lower than the id {previous_id} of the record before it: "
                     "records were swapped", "记录编号 {record_id} 小于前一条记录的编号 {previous_id}：记录被调换"),
    "checkpoint_missing": ("checkpoints after {newest} are gone: an earlier verification reached checkpoint {checkpoint}",
                           "检查点 {newest} 之后的检查点缺失：此前的核验已到检查点 {checkpoint}"),
    "export_missing": ("checkpoints after {newest} are gone from the database: a copy of checkpoint "
                       "{checkpoint} was exported outside it", "数据库中检查点 {newest} 之后的检查点缺失：库外存有检查点 {checkpoint} 的副本"),
    "export_differs": ("checkpoint {checkpoint} in the database differs from the copy exported outside it",
                       "数据库中的检查点 {checkpoint} 与库外副本不一致"),
    "export_signature": ("the exported copy of checkpoint {checkpoint} does not verify ({why}): it is not a witness",
                         "库外检查点 {checkpoint} 副本签名验证失败（{why}），不能作为凭证"),
    "unvouched": ("its id {record_id} is within checkpoint {checkpoint}'s bound {upto_record_id}, "
                  "which ends this chain at seq {vouched_seq}: it was added behind the checkpoint's back",
                  "记录编号 {record_id} 在检查点 {checkpoint} 的范围 {upto_record_id} 内，但检查点记录该链止于序号 {vouched_seq}：为事后插入"),
    "record_count": ("checkpoint {checkpoint} counts {expected} records since the starting point, "
                     "{found} are present", "检查点 {checkpoint} 记录自起点以来有 {expected} 条记录，现存 {found} 条"),
    "checkpoint_altered": ("checkpoint {checkpoint}'s content does not match its hash",
                           "检查点 {checkpoint} 内容与其哈希不符"),
    "checkpoint_signature": ("checkpoint {checkpoint}'s signature does not verify ({why})",
                             "检查点 {checkpoint} 签名验证失败（{why}）"),
    "checkpoint_link": ("checkpoint {checkpoint} does not link to checkpoint {previous}",
                        "检查点 {checkpoint} 未链接到检查点 {previous}"),
    "checkpoint_heads": ("checkpoint {checkpoint}'s stored chain heads do not match its signed root",
                         "检查点 {checkpoint} 保存的链头与其签名的摘要不符"),
    "checkpoint_chains": ("checkpoint {checkpoint} counts {expected} chains, its heads name {found}",
                          "检查点 {checkpoint} 记录 {expected} 条链，链头给出 {found} 条"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the trail. `order` places it in the trail (the id of the record,
    or of the last good record before a missing one; checkpoint problems come first), so the
    first problem is the earliest bad record."""

    kind: str
    entity_type: str | None = None
    entity_id: str | None = None
    seq: int | None = None
    record_id: int | None = None
    checkpoint: int | None = None
    facts: tuple[tuple[str, Any], ...] = ()
    order: float = 0.0

    @property
    def message_en(self) -> str:
        return PROBLEM_TEXT[self.kind][0].format(**self._values())

    @property
    def message_zh(self) -> str:
        return PROBLEM_TEXT[self.kind][1].format(**self._values())

    def _values(self) -> dict[str, Any]:
        return {"seq": self.seq, "checkpoint": self.checkpoint, "record_id": self.record_id,
                **dict(self.facts)}

    def where(self) -> str:
        if self.entity_type is None:
            return f"checkpoint {self.checkpoint}" if self.checkpoint is not None else "trail"
        record = f"id {self.record_id}" if self.record_id is not None else "absent"
        return f"{self.entity_type}:{self.entity_id} seq {self.seq} ({record})"

    def as_dict(self) -> dict[str, Any]:
        plain = asdict(self)
        plain.pop("order")
        plain["facts"] = dict(self.facts)
        return {**plain, "message_en": self.message_en, "message_zh": self.message_zh}


def checkpoint_problem(kind: str, checkpoint: int, **facts: Any) -> Problem:
    return Problem(kind=kind, checkpoint=checkpoint, facts=tuple(facts.items()), order=-1.0)


class Vouched(NamedTuple):
    """A checkpoint's word for one chain: its record `seq` has this `hash` and this id."""

    checkpoint: int
    seq: int
    hash: str
    record_id: int


class Bound(NamedTuple):
    """What the newest checkpoint says about a chain: every record with id ≤ upto_record_id
    existed when it was taken, and the chain then ended at head_seq (0: not yet begun)."""

    checkpoint: int
    upto_record_id: int
    head_seq: int


def check_chain(
    chain: tuple[str, str],
    records: Iterable[Mapping[str, Any]],
    *,
    anchor: tuple[int, str] = (0, GENESIS),
    vouched: Sequence[Vouched] = (),
    bound: Bound | None = None,
) -> tuple[Problem | None, int]:
    """The first problem of one chain's records after `anchor` (seq, hash: where checking
    starts, GENESIS for a whole chain), and how many records were read.

    `records` are the chain's records with seq > anchor seq, in seq order. Each must follow
    the one before (seq, prev_hash) and match its own hash; each checkpoint's vouched head
    must be present with the vouched hash; a record the newest checkpoint's bound covers
    must be one it counted. Records after the newest checkpoint need only link correctly."""
    entity_type, entity_id = chain
    expected_seq, expected_prev = anchor[0] + 1, anchor[1]
    pending = sorted((v for v in vouched if v.seq > anchor[0]), key=lambda v: v.seq)
    last_good_seq, last_good_id, last_vouched_seq = anchor[0], 0, anchor[0]
    count = 0

    def problem(kind: str, record: Mapping[str, Any] | None, seq: int, **facts: Any) -> Problem:
        record_id = record["id"] if record is not None else None
        return Problem(kind=kind, entity_type=entity_type, entity_id=entity_id, seq=seq,
                       record_id=record_id, checkpoint=facts.pop("checkpoint", None),
                       facts=tuple(facts.items()),
                       order=float(record_id) if record_id is not None else last_good_id + 0.5)

    for record in records:
        count += 1
        seq = record["seq"]
        if seq != expected_seq:
            return problem("gap", None, expected_seq, next_seq=seq), count
        if record["prev_hash"] != expected_prev:
            return problem("broken_link", record, seq), count
        if record["id"] <= last_good_id:  # a later record of a chain always got a higher id
            return problem("out_of_order", record, seq, previous_id=last_good_id), count
        if record_hash(record) != record["hash"]:
            return problem("altered", record, seq), count
        while pending and pending[0].seq == seq:
            point = pending.pop(0)
            if point.hash != record["hash"]:
                return problem("rewritten", record, seq, checkpoint=point.checkpoint,
                               vouched_hash=point.hash, since_seq=last_vouched_seq + 1), count
            if point.record_id != record["id"]:
                return problem("moved", record, seq, checkpoint=point.checkpoint,
                               vouched_id=point.record_id), count
            last_vouched_seq = seq
        if bound is not None and record["id"] <= bound.upto_record_id and seq > bound.head_seq:
            return problem("unvouched", record, seq, checkpoint=bound.checkpoint,
                           upto_record_id=bound.upto_record_id, vouched_seq=bound.head_seq), count
        expected_seq, expected_prev = seq + 1, record["hash"]
        last_good_seq, last_good_id = seq, record["id"]
    if pending:
        newest = pending[-1]
        missing = problem("missing_chain" if count == 0 and anchor[0] == 0 else "missing_record",
                          None, expected_seq, checkpoint=newest.checkpoint,
                          vouched_seq=newest.seq, last_seq=last_good_seq)
        # The checkpoint knows the id of the head it vouched for (not of records before it).
        known_id = next((p.record_id for p in pending if p.seq == expected_seq), None)
        return replace(missing, record_id=known_id), count
    return None, count
