"""The vocabulary in which the API declares, once, what each route takes and answers.

A ``Shape`` is a JSON object with a fixed set of fields: the views build their answers by calling
it (``ROUND(id=..., name=...)``), which refuses a missing or an undeclared field, and the OpenAPI
document (``survey.api.openapi``) writes its schema from the same declaration. A ``Param`` is a
query or path parameter: the views read query parameters through it (``PAGE.read()``), with the
validation its schema states, so the document cannot promise a range the view does not check.
An ``Operation`` ties a view to its summary, parameters, answer and error codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flask import abort, request

JSON = dict[str, Any]


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class Field:
    """One field of a shape: its JSON schema, or another shape (``nested``), one or ``many``."""

    name: str
    schema: JSON = field(default_factory=dict)
    description: str = ""
    nested: Shape | None = None
    many: bool = False
    nullable: bool = False  # a nested shape that may be null

    def json_schema(self) -> JSON:
        if self.nested is not None:
            inner = ref(self.nested.name)
            schema: JSON = {"type": "array", "items": inner} if self.many else dict(inner)
            if self.nullable:
                schema = {"anyOf": [schema, {"type": "null"}]}
        else:
            schema = dict(self.schema)
        if self.description:
            schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class Shape:
    """A JSON object whose fields are all present, and no others."""

    name: str
    fields: tuple[Field, ...]
    description: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def __call__(self, **values: Any) -> JSON:
        """The object, fields in declared order. A field missing or not declared is a
        programming error (the document would lie), so it fails loudly."""
        names = self.names
        missing = [n for n in names if n not in values]
        undeclared = [n for n in values if n not in names]
        if missing or undeclared:
            raise TypeError(f"{self.name}: missing {missing}, undeclared {undeclared}")
        return {n: values[n] for n in names}

    def extended(self, name: str, *more: Field, description: str = "") -> Shape:
        return Shape(name, self.fields + more, description or self.description)

    def json_schema(self) -> JSON:
        schema: JSON = {"type": "object"}
        if self.description:
            schema["description"] = self.description
        schema |= {
            "required": list(self.names),
            "additionalProperties": False,
            "properties": {f.name: f.json_schema() for f in self.fields},
        }
        return schema

    def shapes(self) -> Iterator[Shape]:
        """This shape and every shape its fields hold, depth first, each once."""
        yield self
        for f in self.fields:
            if f.nested is not None:
                yield from f.nested.shapes()


def page_of(
    item: Shape, *, max_per_page: int, name: str = "", first: tuple[Field, ...] = ()
) -> Shape:
    """A page of a long list: ``first`` fields, the items, then where the page is."""
    return Shape(
        name or f"{item.name}Page",
        (
            *first,
            Field("items", nested=item, many=True),
            Field("page", {"type": "integer", "minimum": 1}),
            Field("per_page", {"type": "integer", "minimum": 1, "maximum": max_per_page}),
            Field("total", {"type": "integer", "minimum": 0}),
            Field("pages", {"type": "integer", "minimum": 1}),
        ),
    )


def _single(name: str) -> str | None:
    """The query parameter ``name`` given once, or None when absent; given twice it is
    malformed: guessing which value was meant would answer a question nobody asked."""
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        abort(400, description=f"'{name}' is given more than once.")
    return values[0]


@dataclass(frozen=True)
class Param:
    """A parameter: ``where`` is "path" (Flask's converter reads it) or "query" (``read``).
    Query parameters are either whole numbers from ``minimum`` to ``maximum`` or one of
    ``choices``; anything else is a 400 that says what is allowed, never a 500."""

    name: str
    where: str
    description: str = ""
    minimum: int = 1
    maximum: int | None = None
    choices: type[StrEnum] | None = None
    allowed: tuple[str, ...] = ()  # of ``choices``; all when empty
    default: int | None = None
    component: bool = False  # declared once under components/parameters

    def schema(self) -> JSON:
        if self.choices is not None:
            return {"type": "string", "enum": list(self.values)}
        schema: JSON = {"type": "integer", "minimum": self.minimum}
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = self.default
        return schema

    @property
    def values(self) -> tuple[str, ...]:
        """The allowed values of a ``choices`` parameter (none for a number)."""
        if self.choices is None:
            return ()
        return self.allowed or tuple(c.value for c in self.choices)

    def openapi(self) -> JSON:
        declared: JSON = {"name": self.name, "in": self.where, "required": self.where == "path"}
        if self.description:
            declared["description"] = self.description
        declared["schema"] = self.schema()
        return declared

    def read(self) -> Any:
        """The query parameter's value (an int or a ``choices`` member); ``default`` when
        absent; a 400 when malformed."""
        raw = _single(self.name)
        if raw is None:
            return self.default
        if self.choices is not None:
            if raw not in self.values:
                abort(400, description=f"'{self.name}' must be one of: {', '.join(self.values)}.")
            return self.choices(raw)
        maximum = self.maximum or 2**31 - 1
        if (
            not (raw.isascii() and raw.isdigit())
            or len(raw) > 10
            or not self.minimum <= int(raw) <= maximum
        ):
            abort(
                400,
                description=f"'{self.name}' must be a whole number from {self.minimum} to "
                f"{maximum}.",
            )
        return int(raw)


@dataclass(frozen=True)
class Operation:
    """What one view is: its summary, parameters, answer (a shape, or a bare schema) and the
    error codes it may answer with; ``public`` needs no token."""

    operation_id: str
    summary: str
    answer: Shape | JSON
    params: tuple[Param, ...] = ()
    errors: tuple[str, ...] = ()
    public: bool = False
    answer_description: str = ""
    body: JSON | None = None  # the JSON request body's schema, for the operations that take one

    def openapi(self) -> JSON:
        schema = ref(self.answer.name) if isinstance(self.answer, Shape) else self.answer
        declared: JSON = {"operationId": self.operation_id, "summary": self.summary}
        if self.public:
            declared["security"] = []
        declared["parameters"] = [
            {"$ref": f"#/components/parameters/{p.name}"} if p.component else p.openapi()
            for p in self.params
        ]
        if self.body is not None:
            declared["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.body}},
            }
        declared["responses"] = {
            "200": {
                "description": self.answer_description or self.summary,
                "content": {"application/json": {"schema": schema}},
            }
        } | {code: {"$ref": f"#/components/responses/E{code}"} for code in self.errors}
        return declared


OPERATIONS: dict[str, Operation] = {}


def operation(declared: Operation) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``declared`` as the description of the decorated view (endpoint api.<name>)."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        OPERATIONS[f"api.{view.__name__}"] = declared
        return view

    return register
