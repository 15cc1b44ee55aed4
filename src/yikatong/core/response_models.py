"""Response models built from the service views, so a field is declared once.

A service returns a frozen dataclass (its view); the API answers with a Pydantic model of the
same fields. `response_model` builds that model from the view's own annotations: adding a
field to the view adds it to the response and to the OpenAPI spec. What the response shows
differently is said where it is built:

- `exclude`: view fields the response leaves out;
- `properties`: view properties the response includes (their return annotation is the type);
- `types`: a field whose view annotation is looser than the response promises (e.g. `Any`);
- `nested`: a field holding other views (a list of them, or one), answered as their models.

Every field is required in the response, defaults of the view or not: the service always fills
it in, and a client may rely on it being there.

The model reads attributes (`from_attributes`), so `Model.model_validate(view)` works, and so
does building it from keyword arguments as before.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, create_model


def response_model(
    view: type,
    *,
    name: str,
    exclude: tuple[str, ...] = (),
    properties: tuple[str, ...] = (),
    types: dict[str, Any] | None = None,
    nested: dict[str, Any] | None = None,
    doc: str | None = None,
) -> type[BaseModel]:
    """A Pydantic model named `name` (its OpenAPI component) with the fields of dataclass `view`
    (see the module doc); `doc` becomes its description."""
    if not dataclasses.is_dataclass(view):
        raise TypeError(f"{view.__name__} is not a dataclass view")
    hints = typing.get_type_hints(view)
    overrides = {**(types or {}), **(nested or {})}
    unknown = set(exclude) | set(overrides)
    unknown -= {f.name for f in dataclasses.fields(view)}
    if unknown:
        raise TypeError(f"{view.__name__} has no fields {sorted(unknown)}")
    fields: dict[str, Any] = {}
    for item in dataclasses.fields(view):
        if item.name in exclude:
            continue
        annotation = overrides.get(item.name, hints[item.name])
        fields[item.name] = (annotation, ...)
    for prop in properties:
        getter = getattr(view, prop)
        if not isinstance(getter, property):
            raise TypeError(f"{view.__name__}.{prop} is not a property")
        fields[prop] = (typing.get_type_hints(getter.fget)["return"], ...)
    # The model belongs to the schemas module that builds it: FastAPI names a component after its
    # module when two models share a name, and the spec's names must not depend on this helper.
    module = sys._getframe(1).f_globals.get("__name__", __name__)
    return create_model(
        name, __config__=ConfigDict(from_attributes=True), __doc__=doc, __module__=module, **fields
    )
