from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class VerificationOut(BaseModel):
    """The outcome of the last audit trail verification (`first_problem` names the first bad
    record: entity, seq, id, kind and messages)."""

    id: int
    at: datetime
    ok: bool
    from_checkpoint: int | None
    to_checkpoint: int | None
    chains: int
    records: int
    problem_count: int
    first_problem: dict[str, Any] | None
    triggered_by: str
