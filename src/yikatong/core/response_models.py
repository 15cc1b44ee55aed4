"""Response models built from the service views, so a field is declared once.

A service returns a frozen dataclass (its view); the API answers with a Pydantic model of the
same fields. `response_model` builds that model from the view's own annotations: adding a
field to the view adds it to the response and to the OpenAPI spec. What the response shows
differently is said where it is built:

- `exclude`: view fields the response leaves out;
- `properties`: view properties the response includes (their return annotation is the type);
- `types`: a field whose view annotation is looser than the response promises (e.g. `Any`);
- `nested`: a field holding other views (a list of them, or one), answered as their models;
- `extra`: fields the view does not have, filled in where the response is built (e.g. whether
  the reader sees the record masked), as `{name: type}` (an `Annotated` type may carry a
  `Field` with a description);
- `base`: a `ViewModel` subclass whose methods the response keeps (e.g. `of`, which masks
  what a reader may not see before the model reads the view).

A field's description is declared on the view, once, as dataclass field metadata:
`command: str | None = field(metadata={"description": "the APDU (hex) to send next"})`. A
field whose values are few is annotated on the view with its `Literal` (or enum) type, and the
response promises the same.

Every field is required in the response, defaults of the view or not: the service always fills
it in, and a client may rely on it being there.

The model reads attributes (`from_attributes`), so `Model.model_validate(view)` works, and so
does building it from keyword arguments as before; `Model.from_view(view, **shown)` reads the
view but takes the named fields from `shown` (the `extra` ones, or a field masked for a reader).
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

DESCRIPTION = "description"  # the dataclass field metadata key read as the field's description


class ViewModel(BaseModel):
    """The base of every response model built from a view: it reads the view's attributes."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def from_view(cls, view: Any, **shown: Any) -> typing.Self:
        """The response to `view`, the fields named in `shown` taken from there instead."""
        unknown = set(shown) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
        return cls.model_validate(
            {name: shown[name] if name in shown else getattr(view, name)
             for name in cls.model_fields}
        )


def response_model(
    view: type,
    *,
    name: str,
    exclude: tuple[str, ...] = (),
    properties: tuple[str, ...] = (),
    types: dict[str, Any] | None = None,
    nested: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    base: type[ViewModel] = ViewModel,
    doc: str | None = None,
) -> type[ViewModel]:
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
        description = item.metadata.get(DESCRIPTION)
        fields[item.name] = (annotation, Field(description=description) if description else ...)
    for prop in properties:
        getter = getattr(view, prop)
        if not isinstance(getter, property):
            raise TypeError(f"{view.__name__}.{prop} is not a property")
        fields[prop] = (typing.get_type_hints(getter.fget)["return"], ...)
    clashes = set(extra or {}) & set(fields)
    if clashes:
        raise TypeError(f"{view.__name__} already has {sorted(clashes)}: not extra")
    fields.update({name: (annotation, ...) for name, annotation in (extra or {}).items()})
    # The model belongs to the schemas module that builds it: FastAPI names a component after its
    # module when two models share a name, and the spec's names must not depend on this helper.
    module = sys._getframe(1).f_globals.get("__name__", __name__)
    return create_model(name, __base__=base, __doc__=doc, __module__=module, **fields)
