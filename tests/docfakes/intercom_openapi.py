"""Checks request and response bodies against Intercom's OpenAPI 3.0 description.

The description (MIT) is ``tests/fixtures/intercom/api.intercom.io.v2.15.yaml``. Schemas are
OpenAPI 3.0 dialect (``nullable``), which ``openapi-schema-validator``'s ``OAS30Validator``
understands; ``$ref``s point into ``#/components``, so each schema is validated inside a root
document that carries the components.

Undocumented error statuses (a 429 on ``/companies``, a 400 on ``PUT /contacts/{id}``) are
checked against the common ``error`` schema, the shape every documented error uses
(connectors/service/intercom/FACTS.md §2.1); an undocumented success status is itself an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator
from ruamel.yaml import YAML

SPEC_PATH = (
    Path(__file__).resolve().parent.parent / "fixtures" / "intercom" / "api.intercom.io.v2.15.yaml"
)
ERROR_SCHEMA_REF = "#/components/schemas/error"


@dataclass(frozen=True)
class Operation:
    """One documented operation: its path template and the schemas of its bodies."""

    method: str
    template: str
    raw: dict[str, Any]

    def request_schema(self) -> dict[str, Any] | None:
        content = self.raw.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return schema if isinstance(schema, dict) else None

    def response_schema(self, status: int) -> dict[str, Any] | None:
        response = self.raw.get("responses", {}).get(str(status))
        if response is None:
            return None
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        return schema if isinstance(schema, dict) else None


class OpenApiSpec:
    """The loaded description: finds the operation for a concrete path and validates bodies."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document
        self._components = document["components"]
        self._routes = _compile_routes(document["paths"])

    def operation(self, method: str, path: str) -> Operation:
        """The operation serving ``method path``; literal segments win over ``{params}``."""
        for template, pattern in self._routes:
            item = self._document["paths"][template]
            if pattern.fullmatch(path) and method.lower() in item:
                return Operation(method.upper(), template, item[method.lower()])
        raise LookupError(f"the Intercom description has no operation {method.upper()} {path}")

    def request_errors(self, method: str, path: str, body: Any) -> list[str]:
        """Why ``body`` does not fit the operation's request schema (empty when it does)."""
        operation = self.operation(method, path)
        schema = operation.request_schema()
        if schema is None:
            return [f"{operation.method} {operation.template} documents no JSON request body"]
        return self._errors(schema, body)

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """Why ``body`` does not fit the documented response for ``status`` (empty when it does)."""
        operation = self.operation(method, path)
        schema = operation.response_schema(status)
        if schema is None and status >= 400:
            schema = {"$ref": ERROR_SCHEMA_REF}
        if schema is None:
            return [f"{operation.method} {operation.template} documents no {status} response"]
        return self._errors(schema, body)

    def _errors(self, schema: dict[str, Any], body: Any) -> list[str]:
        validator = OAS30Validator({**schema, "components": self._components})
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '<body>'}: {error.message}"
            for error in validator.iter_errors(body)
        ]


def _compile_routes(paths: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    def literal_weight(template: str) -> tuple[int, int]:
        segments = template.strip("/").split("/")
        return (-sum(not s.startswith("{") for s in segments), -len(segments))

    ordered = sorted(paths, key=literal_weight)
    return [(t, re.compile(re.sub(r"\{[^}/]+\}", "[^/]+", t))) for t in ordered]


@cache
def intercom_spec() -> OpenApiSpec:
    """The 2.15 description, parsed once per process (the YAML takes a few seconds)."""
    document = YAML(typ="safe").load(SPEC_PATH.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise TypeError(f"{SPEC_PATH}: expected an OpenAPI mapping at the top")
    return OpenApiSpec(document)
