"""The pure rules of HR service cases: states and who may move them, which cards may open or
carry a case, what a document must be, and the figures of the decisions that lead to money.
No I/O; days and periods are passed in. Sources: docs/domain-rules.md §4."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class CaseState(StrEnum):
    OPEN = "open"                      # 材料收集中: documents being attached
    SUBMITTED = "submitted"            # 已提交，待受理
    IN_REVIEW = "in_review"            # 审核中 (claimed by an HR officer)
    MORE_DOCUMENTS = "more_documents"  # 待补正材料
    APPROVED = "approved"              # 已办结，准予
    REFUSED = "refused"                # 已办结，不予
    WITHDRAWN = "withdrawn"            # 已撤回


STATE_WORDS: dict[str, tuple[str, str]] = {
    CaseState.OPEN: ("材料收集中", "collecting documents"),
    CaseState.SUBMITTED: ("已提交，待受理", "submitted, waiting for an officer"),
    CaseState.IN_REVIEW: ("审核中", "under review"),
    CaseState.MORE_DOCUMENTS: ("待补正材料", "more documents asked for"),
    CaseState.APPROVED: ("已办结：准予", "decided: approved"),
    CaseState.REFUSED: ("已办结：不予办理", "decided: refused"),
    CaseState.WITHDRAWN: ("已撤回", "withdrawn"),
}
DECIDED = frozenset({CaseState.APPROVED, CaseState.REFUSED, CaseState.WITHDRAWN})


class Step(StrEnum):
    ATTACH = "attach"
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    CLAIM = "claim"
    ASK = "ask_documents"
    APPROVE = "approve"
    REFUSE = "refuse"


# From which states each step may be taken, and the state it leads to (None: unchanged).
TRANSITIONS: dict[Step, tuple[frozenset[CaseState], CaseState | None]] = {
    Step.ATTACH: (frozenset({CaseState.OPEN, CaseState.MORE_DOCUMENTS}), None),
    Step.SUBMIT: (frozenset({CaseState.OPEN, CaseState.MORE_DOCUMENTS}), CaseState.SUBMITTED),
    Step.WITHDRAW: (frozenset({CaseState.OPEN, CaseState.SUBMITTED, CaseState.MORE_DOCUMENTS}),
                    CaseState.WITHDRAWN),
    Step.CLAIM: (frozenset({CaseState.SUBMITTED}), CaseState.IN_REVIEW),
    Step.ASK: (frozenset({CaseState.IN_REVIEW}), CaseState.MORE_DOCUMENTS),
    Step.APPROVE: (frozenset({CaseState.IN_REVIEW}), CaseState.APPROVED),
    Step.REFUSE: (frozenset({CaseState.IN_REVIEW}), CaseState.REFUSED),
}


def next_state(state: str, step: Step) -> CaseState | None:
    """The state `step` leads to from `state` (the same state for a step that keeps it), or
    None when the step is not allowed in that state."""
    allowed, to = TRANSITIONS[step]
    if CaseState(state) not in allowed:
        return None
    return to or CaseState(state)


# --- the card as the credential ----------------------------------------------------------------

# The card's HR status (cards.rules.HrStatus) → why it may not open or carry a case. The seed
# (issue 14) names formal loss and a retired card; a cancelled card, one not handed over yet
# and a frozen one cannot be the credential either. A temporary loss is the holder's own
# precaution and expires by itself (cards.rules): it still identifies the holder.
CARD_REFUSALS: dict[str, tuple[str, str]] = {
    "formal_loss": ("社会保障卡已正式挂失，请补卡后再办理", "the card is formally reported lost; "
                    "apply for a replacement first"),
    "retired": ("社会保障卡已停用（已补换、迁出或注销）", "the card is retired (replaced, "
                "transferred out or cancelled)"),
    "cancelled": ("社会保障卡已作废", "the card was cancelled"),
    "not_in_use": ("社会保障卡尚未启用，请领卡后办理", "the card is not in use yet; collect it first"),
    "frozen": ("社会保障卡已冻结", "the card is frozen"),
    "no_card": ("没有在用的社会保障卡", "there is no card in use"),
}


def card_refusal(hr_status: str | None) -> tuple[str, str, str] | None:
    """(reason code, zh, en) when a card in this HR status (None: no live card) may not open or
    carry a case, else None."""
    status = hr_status or "no_card"
    if status in ("normal", "temporary_loss"):
        return None
    zh, en = CARD_REFUSALS.get(status, ("社会保障卡不可用", "the card cannot be used"))
    return status, zh, en


# --- documents --------------------------------------------------------------------------------

MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}
MAX_FILE_NAME = 120


@dataclass(frozen=True)
class DocumentProblem:
    code: str  # too_large | empty | type_not_allowed | content_mismatch | bad_name
    zh: str
    en: str


def document_problem(*, content: bytes, content_type: str, file_name: str,
                     allowed_types: tuple[str, ...], max_bytes: int) -> DocumentProblem | None:
    """What is wrong with an uploaded document for its kind, or None. The content must start
    as its declared type does (a PDF with %PDF-, a JPEG with FF D8 FF, a PNG with its
    signature): the declared type alone is not trusted."""
    if not file_name or len(file_name) > MAX_FILE_NAME or any(c in file_name for c in "/\\\0"):
        return DocumentProblem("bad_name", f"文件名须为 1–{MAX_FILE_NAME} 个字符且不含路径",
                               f"the file name must be 1–{MAX_FILE_NAME} characters without a path")
    if not content:
        return DocumentProblem("empty", "文件为空", "the file is empty")
    if len(content) > max_bytes:
        return DocumentProblem("too_large", f"文件超过 {max_bytes // 1024} KB",
                               f"the file is larger than {max_bytes // 1024} KB")
    if content_type not in allowed_types:
        return DocumentProblem("type_not_allowed", f"该材料只收 {'、'.join(allowed_types)}",
                               f"this document must be one of {', '.join(allowed_types)}")
    if not content.startswith(MAGIC.get(content_type, (b"",))):
        return DocumentProblem("content_mismatch", "文件内容与声明的类型不符",
                               "the file's content is not of the declared type")
    return None


def missing_documents(required: tuple[str, ...], attached: set[str]) -> list[str]:
    """The required kinds not attached yet, in the catalogue's order."""
    return [kind for kind in required if kind not in attached]


# --- decisions that lead to money ----------------------------------------------------------------

@dataclass(frozen=True)
class Duration:
    min_months: int  # contribution months from which this duration applies
    months: int      # months of benefit


def unemployment_months(contribution_months: int, durations: tuple[Duration, ...]) -> int:
    """Months of unemployment benefit for the months of contributions (《失业保险条例》 art.
    17: 1–<5 years → 12, 5–<10 → 18, ≥ 10 → 24); 0 below the lowest floor (not entitled)."""
    for row in sorted(durations, key=lambda d: -d.min_months):
        if contribution_months >= row.min_months:
            return row.months
    return 0


def unemployment_monthly_fen(min_wage_monthly_fen: int, rate_bp: int) -> int:
    """The monthly benefit: `rate_bp` of the minimum wage, rounded down to the fen."""
    return min_wage_monthly_fen * rate_bp // 10_000


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def add_months(period: str, months: int) -> str:
    """The period `months` after `period` (YYYY-MM)."""
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class BenefitPlan:
    programme_code: str
    monthly_fen: int
    start_period: str
    end_period: str | None


def unemployment_plan(*, decided_on: date, contribution_months: int, durations: tuple[Duration, ...],
                      min_wage_monthly_fen: int, rate_bp: int) -> BenefitPlan | None:
    """The unemployment programme's enrolment a positive decision makes: from the decision's
    month for the months the contributions give; None when they give none."""
    months = unemployment_months(contribution_months, durations)
    if months == 0:
        return None
    start = period_of(decided_on)
    return BenefitPlan("unemployment", unemployment_monthly_fen(min_wage_monthly_fen, rate_bp),
                       start, add_months(start, months - 1))


def work_injury_plan(*, decided_on: date, amount_fen: int) -> BenefitPlan:
    """A work-injury reimbursement: one payment of the approved amount in the decision's month."""
    period = period_of(decided_on)
    return BenefitPlan("work_injury", amount_fen, period, period)
