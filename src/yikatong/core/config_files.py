"""Configuration files as data: strict models, provenance on every figure, one error style.

Every figure the platform uses sits in a versioned TOML file labelled an example default,
each table naming its source, the date it was checked and a confidence (H/M/L), as
docs/domain-rules.md asks. A file is validated whole and every problem is reported at once.
"""

from __future__ import annotations

import tomllib
from datetime import date
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from yikatong.core.errors import DomainError

Name = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    """Every table of a file: unknown keys are errors, loaded values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Strict):
    """Provenance of the figures in one table."""

    source: Name
    checked: date
    confidence: Literal["H", "M", "L"]
    note: str = ""


def validate_dict(model: type[Model], data: dict, *, origin: str,
                  invalid: type[DomainError]) -> Model:
    """The model, or `invalid(origin=, problems=)` listing every problem at once."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(origin=origin, problems=describe(error)) from error


def validate_toml(model: type[Model], text: str, *, origin: str,
                  invalid: type[DomainError]) -> Model:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise invalid(origin=origin, problems=f"not valid TOML: {error}") from error
    return validate_dict(model, data, origin=origin, invalid=invalid)


def describe(error: ValidationError) -> str:
    """Pydantic's errors as 'where: what' lines a person editing the file can act on."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            what = "unknown key (not part of this file's schema)"
        elif item["type"] == "value_error":
            what = item["msg"].removeprefix("Value error, ")
        else:
            value = item.get("input")
            shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) else ""
            what = f"{item['msg']}{shown}"
        lines.append(f"{where}: {what}")
    return "; ".join(lines)
