"""YAML reading that remembers where every key came from, so errors can name file:line.

ruamel.yaml's round-trip loader keeps line numbers on each mapping and sequence; we keep the
loaded document and look lines up by key path when reporting a problem.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from connectors.errors import ConfigError, ConfigProblem
from connectors.redact import register_inline_secret

Loc = Sequence[str | int]


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; anything that stops it being read becomes a ConfigError naming the
    file and, where there is one, the line (a directory, a missing file, bytes that are not
    UTF-8, a syntax error, a key written twice)."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise _unreadable(path, "is a directory, not a file", "name the YAML file itself") from None
    except FileNotFoundError:
        raise _unreadable(
            path, "not found", "check the path (relative paths start at config.yaml)"
        ) from None
    except OSError as exc:
        raise _unreadable(
            path, f"cannot read: {exc.strerror}", "check the path and permissions"
        ) from None
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM from a Windows editor is fine
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    line,
                    "",
                    f"not UTF-8 text: byte 0x{data[exc.start]:02x} at column {column}",
                    "save the file as UTF-8 (your editor's 'save with encoding')",
                )
            ]
        ) from None
    return parse_yaml(text, str(path))


def _unreadable(path: Path, what: str, hint: str) -> ConfigError:
    return ConfigError([ConfigProblem(str(path), None, "", what, hint)])


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML text (``name`` is used in error messages)."""
    remember_inline_secrets(text)
    yaml = YAML(typ="rt")
    try:
        with warnings.catch_warnings():
            # ruamel warns (e.g. a reused anchor) where it can still load: the document is
            # then validated like any other, so its warnings add nothing for the admin.
            warnings.simplefilter("ignore")
            doc = yaml.load(text)
    except DuplicateKeyError as exc:
        raise _syntax(name, exc.problem_mark, _duplicate(exc.problem), _DUPLICATE_HINT) from None
    except MarkedYAMLError as exc:
        problem = f"YAML syntax: {exc.problem or exc.context or 'cannot be read'}"
        raise _syntax(name, exc.problem_mark, problem, _SYNTAX_HINT) from None
    except ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        problem = f"character {exc.character!r} cannot appear in YAML"
        raise ConfigError(
            [ConfigProblem(name, line, "", problem, "delete it, or quote the text around it")]
        ) from None
    except YAMLError as exc:
        raise ConfigError(
            [ConfigProblem(name, None, "", f"YAML: {type(exc).__name__}", _SYNTAX_HINT)]
        ) from None
    except RecursionError:
        raise ConfigError(
            [ConfigProblem(name, None, "", "nested too deeply to read", "flatten the structure")]
        ) from None
    remember_document_secrets(doc)
    return doc


_SYNTAX_HINT = "fix the indentation or quoting on that line"
_DUPLICATE_HINT = "keep one of them: the second would silently replace the first"
_DUPLICATE_KEY = re.compile(r'found duplicate key "(.{0,80}?)" with value', re.DOTALL)


def _duplicate(problem: str | None) -> str:
    """ruamel's message quotes both values (a whole section, secrets and all): name the key
    only."""
    match = _DUPLICATE_KEY.search(problem or "")
    key = match.group(1) if match and "\n" not in match.group(1) else None
    return f"the key {key!r} appears twice here" if key else "a key appears twice here"


def _syntax(name: str, mark: Any, problem: str, hint: str) -> ConfigError:
    line = mark.line + 1 if mark is not None else None
    return ConfigError([ConfigProblem(name, line, "", problem, hint)])


_INLINE_VALUE = re.compile(
    r"""(?P<key>[A-Za-z0-9_.-]+)["']?[ \t]*:[ \t]+"""  # a key, in block or flow style
    r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,{}\[\]#][^,{}\[\]\n#]*)"""  # its one-line value
)


def remember_inline_secrets(text: str) -> None:
    """Register every value written inline under a secret-named key, before parsing: a file
    that fails to parse is reported from its text, and the report must not quote them."""
    for match in _INLINE_VALUE.finditer(text):
        register_inline_secret(match.group("key"), match.group("value").strip())


def remember_document_secrets(node: Any, depth: int = 0) -> None:
    """The same for a parsed document (block scalars and multi-line values included)."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                register_inline_secret(str(key), value)
            else:
                remember_document_secrets(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            remember_document_secrets(item, depth + 1)


_MAX_DEPTH = 50


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
