"""What the outlet counter's pages share (applications.web, people.web): which of the API's
operations the signed-in role may use (the access table's own answer, so a page never offers
what the API would refuse), and a form's values read as the API's request body."""

from __future__ import annotations

from pydantic import ValidationError

from yikatong.auth.access import API, allowed_roles
from yikatong.core.actor import Actor
from yikatong.core.errors import InvalidInput


def may(actor: Actor | None, method: str, path: str) -> bool:
    """Whether the access table lets the actor's role call the API's `method path`
    (e.g. may(actor, "POST", "/applications")); a page offers only what this allows."""
    roles = allowed_roles(method, f"{API}{path}") or frozenset()
    return actor is not None and actor.role in roles


def refused_input(error: ValidationError) -> InvalidInput:
    """A form the API's request model refuses, as the refusal a page shows: the fields named."""
    fields = sorted({".".join(str(part) for part in problem["loc"]) for problem in error.errors()})
    return InvalidInput(reason_zh="请检查以下各项：" + "、".join(fields),
                        reason_en="please check: " + ", ".join(fields), fields=fields)


def text(form, name: str) -> str | None:
    """A form field's text, stripped; None when left empty (the API's "not given")."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None
