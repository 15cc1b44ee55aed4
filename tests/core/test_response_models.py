"""Response models built from service views: a field declared once, in the view."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, ValidationError

from yikatong.clearing import schemas as clearing_schemas
from yikatong.clearing.day_review import ReviewResult
from yikatong.clearing.shadow_balances import Disagreement
from yikatong.core.money import Fen
from yikatong.core.response_models import ViewModel, response_model


@dataclass(frozen=True)
class LineView:
    code: str
    amount: Fen


@dataclass(frozen=True)
class ReportView:
    """A report."""

    day: date
    lines: list[LineView]
    opened_at: Any
    note: str | None = None
    tags: list[str] = field(default_factory=list)
    internal: bool = False

    @property
    def total(self) -> Fen:
        return sum(line.amount for line in self.lines)


LineOut = response_model(LineView, name="LineOut")
ReportOut = response_model(
    ReportView,
    name="ReportOut",
    exclude=("internal",),
    properties=("total",),
    types={"opened_at": datetime},
    nested={"lines": list[LineOut]},
)


def test_the_model_has_the_view_fields_less_the_excluded_plus_the_properties():
    assert list(ReportOut.model_fields) == ["day", "lines", "opened_at", "note", "tags", "total"]
    assert ReportOut.model_fields["note"].annotation == str | None
    assert ReportOut.model_fields["opened_at"].annotation is datetime
    assert ReportOut.model_fields["total"].annotation is int


def test_every_field_is_required_whatever_the_view_defaults():
    assert all(info.is_required() for info in ReportOut.model_fields.values())
    with pytest.raises(ValidationError):
        ReportOut(day=date(2026, 3, 2), lines=[], opened_at=datetime(2026, 3, 2), total=0)


def test_the_model_reads_a_view_with_its_properties_and_nested_views():
    view = ReportView(
        date(2026, 3, 2),
        [LineView("a", 150), LineView("b", 50)],
        datetime(2026, 3, 2, 8),
        "n",
        ["x"],
    )
    out = ReportOut.model_validate(view)
    assert out.total == 200
    assert [line.model_dump() for line in out.lines] == [
        {"code": "a", "amount": 150},
        {"code": "b", "amount": 50},
    ]
    assert "internal" not in out.model_dump()


def test_the_model_belongs_to_the_module_that_builds_it_and_keeps_the_given_description():
    assert ReportOut.__module__ == __name__ and ReportOut.__name__ == "ReportOut"
    described = response_model(LineView, name="Described", doc="线 / a line")
    assert described.model_json_schema()["description"] == "线 / a line"
    assert "description" not in LineOut.model_json_schema()


def test_names_the_view_does_not_have_are_refused():
    with pytest.raises(TypeError, match="no fields"):
        response_model(LineView, name="Bad", exclude=("amounts",))
    with pytest.raises(TypeError, match="not a property"):
        response_model(ReportView, name="Bad", properties=("note",))
    with pytest.raises(TypeError, match="not a dataclass"):
        response_model(int, name="Bad")


def test_clearing_responses_follow_their_views():
    """A field added to a clearing view appears in its response without a second declaration."""
    assert set(clearing_schemas.ReviewOut.model_fields) == {
        f.name for f in dataclasses.fields(ReviewResult)
    }
    assert set(clearing_schemas.DisagreementOut.model_fields) == (
        {f.name for f in dataclasses.fields(Disagreement)} | {"difference"}
    )
    assert clearing_schemas.ReviewOut.__module__ == "yikatong.clearing.schemas"


@dataclass(frozen=True)
class StepView:
    state: Literal["waiting", "done"]
    command: str | None = field(metadata={"description": "what to send next"})
    secret: str = "s3cret"


class _Shown(ViewModel):
    @classmethod
    def of(cls, view: StepView, *, whole: bool = True):
        return cls.from_view(view, secret=view.secret if whole else "***", hidden=not whole)


StepOut = response_model(
    StepView, name="StepOut", base=_Shown,
    extra={"hidden": Annotated[bool, Field(description="the secret is masked")]},
)


def test_descriptions_and_literal_types_declared_on_the_view_reach_the_schema():
    schema = StepOut.model_json_schema()
    assert schema["properties"]["state"]["enum"] == ["waiting", "done"]
    assert schema["properties"]["command"]["description"] == "what to send next"
    assert schema["properties"]["hidden"]["description"] == "the secret is masked"
    assert "description" not in schema["properties"]["secret"]
    assert schema["required"] == ["state", "command", "secret", "hidden"]
    with pytest.raises(ValidationError):
        StepOut.model_validate(StepView("started", None))


def test_a_base_keeps_its_methods_and_from_view_takes_the_shown_fields():
    view = StepView("done", "00B0")
    assert StepOut.of(view).model_dump() == {
        "state": "done", "command": "00B0", "secret": "s3cret", "hidden": False}
    assert StepOut.of(view, whole=False).model_dump() == {
        "state": "done", "command": "00B0", "secret": "***", "hidden": True}
    with pytest.raises(TypeError, match="no fields"):
        StepOut.from_view(view, secrets="x")


def test_from_view_reads_nested_views():
    view = ReportView(date(2026, 3, 2), [LineView("a", 1)], datetime(2026, 3, 2, 8))
    out = ReportOut.from_view(view, note="shown")
    assert out.note == "shown" and out.lines[0].code == "a" and out.total == 1


def test_an_extra_field_may_not_shadow_a_view_field():
    with pytest.raises(TypeError, match="not extra"):
        response_model(LineView, name="Bad", extra={"code": int})
