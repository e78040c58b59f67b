"""YAML reading that remembers where every key came from, so errors can name file:line.

ruamel.yaml's round-trip loader keeps line numbers on each mapping and sequence; we keep the
loaded document and look lines up by key path when reporting a problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

from connectors.errors import ConfigError, ConfigProblem

Loc = Sequence[str | int]


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes a ConfigError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    None,
                    "",
                    f"cannot read: {exc.strerror}",
                    "check the path and permissions",
                )
            ]
        ) from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML text (``name`` is used in error messages)."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            [
                ConfigProblem(
                    name,
                    line,
                    "",
                    f"YAML syntax: {exc.problem}",
                    "fix the indentation or quoting on that line",
                )
            ]
        ) from None


def line_of(doc: Any, loc: Loc) -> int | None:
    """1-based line of the deepest key in ``loc`` that exists in ``doc``."""
    node, line = doc, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    if line is None and getattr(doc, "lc", None) is not None:
        line = doc.lc.line + 1
    return line


def key_path(loc: Iterable[str | int]) -> str:
    """``("connectors", "west", "auth")`` -> ``connectors.west.auth``; list items as ``[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_HINTS = {
    "missing": "add this key",
    "extra_forbidden": "remove it, or check its spelling",
    "literal_error": "use one of the values listed",
    "int_parsing": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "string_type": "write text (quote it if it looks like a number or date)",
    "url_parsing": "write a full URL such as https://example.com",
}


def problems_from_validation(
    exc: ValidationError,
    file: str,
    doc: Any,
    prefix: Loc = (),
    known: dict[str, list[str]] | None = None,
) -> list[ConfigProblem]:
    """Turn every pydantic error into a located ConfigProblem with a fix hint."""
    problems = []
    for err in exc.errors():
        loc = _clean_loc(doc, [*prefix, *(p for p in err["loc"] if not _is_union_tag(p))])
        hint = _HINTS.get(err["type"], "")
        if err["type"] == "extra_forbidden" and known:
            allowed = known.get(key_path(loc[:-1]), [])
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                hint = f"did you mean {close[0]!r}?"
        message = err["msg"]
        if err["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        problems.append(ConfigProblem(file, line_of(doc, loc), key_path(loc), message, hint))
    return problems


def _clean_loc(doc: Any, loc: list[str | int]) -> list[str | int]:
    """Drop the parts pydantic adds that are not keys in the file: a discriminated union's tag
    (``auth.refresh_token.client_secret`` is really ``auth.client_secret`` of ``flow:
    refresh_token``)."""
    node, out = doc, []
    for index, part in enumerate(loc):
        if _is_tag(node, part, loc[index + 1] if index + 1 < len(loc) else None):
            continue
        out.append(part)
        node = _child(node, part)
    return out


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _is_tag(node: Any, part: str | int, following: str | int | None) -> bool:
    if not isinstance(node, dict) or following is None or following not in node:
        return False
    return part not in node or part in node.values()


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the tag or function name of a union member to the location; admins never
    # wrote those keys, so they are left out of the path.
    return isinstance(part, str) and (part.startswith(("function-", "tagged-union")) or "[" in part)
