"""Fuzzing ``dealbridge validate``: whatever config.yaml and mapping files hold, it never
raises, exits 0 or 2, and never prints a secret planted in them.

Documents are built from the schema (the pydantic models' JSON schemas): the shipped files,
which conform to it, are mutated at key paths the schema describes (a value drawn from the
field's own schema, a value of the wrong type, a required key dropped, an unknown key, a bad
cron, a huge value, a new connector, job or whole mapping drawn from its model), then the
text is mutated (a line written twice, so a key is duplicated; bytes that are not UTF-8, NUL,
a BOM, tabs; a cut), and environment overrides are added. A credential-shaped secret is
planted inline somewhere: under a secret-named key, under any key, as a key, or in a
``DEALBRIDGE__`` variable.

Bounded for CI: ``FUZZ_EXAMPLES`` cases per test (150 each by default, a few seconds); set
``DEALBRIDGE_FUZZ_EXAMPLES`` to run more.
"""

from __future__ import annotations

import copy
import io
import os
import string
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from typer.testing import CliRunner

from connectors.registry import get_spec, known_kinds
from sandbox.world import REPO_ROOT, all_credentials
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.app.cli import app
from sync_jobs.config.app import EngineConfig, JobConfig, StateConfig
from sync_jobs.domain.mapping import MappingSpec

FUZZ_EXAMPLES = int(os.environ.get("DEALBRIDGE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
runner = CliRunner()
Schema = dict[str, Any]
Path_ = tuple[str | int, ...]

KINDS = known_kinds()
"""Connector kinds whose package is present (the registry lists some still to come)."""


def _plain(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


BASE_CONFIG = _plain(REPO_ROOT / "config.yaml")
BASE_MAPPINGS = {
    "west": ("west-salesforce.yaml", _plain(REPO_ROOT / "mappings" / "west-salesforce.yaml")),
    "emea": ("emea-hubspot.yaml", _plain(REPO_ROOT / "mappings" / "emea-hubspot.yaml")),
    "apac": ("apac-spreadsheet.yaml", _plain(REPO_ROOT / "mappings" / "apac-spreadsheet.yaml")),
}
SECTION_MODELS = {
    "state": StateConfig,
    "alerts": AlertsConfig,
    "engine": EngineConfig,
}
SECRET_KEYS = ("api_token", "api_key", "access_token", "client_secret", "password", "secret")


# --- the planted secret ---------------------------------------------------------------


@st.composite
def secrets(draw: st.DrawFn) -> str:
    """A credential-shaped token: long, mixing upper case, lower case and digits."""
    body = draw(st.text(string.ascii_letters + string.digits, min_size=18, max_size=40))
    return f"Q{body}7k"


# --- values from a JSON schema --------------------------------------------------------


def from_schema(
    schema: Schema, defs: Schema, secret: str, depth: int = 0
) -> st.SearchStrategy[Any]:
    """A value the schema describes (well typed, contents random), secrets sometimes inline."""
    if depth > 5:
        return st.none()
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, secret, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return st.one_of([from_schema(s, defs, secret, depth + 1) for s in schema[union]])
    build = _BY_TYPE.get(str(schema.get("type")))
    return any_json(depth) if build is None else build(schema, defs, secret, depth)


def _string(schema: Schema, _defs: Schema, secret: str, _depth: int) -> st.SearchStrategy[Any]:
    if schema.get("format") == "password":
        return st.sampled_from(
            [
                "${DEALBRIDGE_ZENDESK_TOKEN}",
                "${UNSET_FUZZ_VAR}",
                "file:~no_such_user_fuzz/token",
                "file:/",
                "file:/nonexistent/token",
                secret,
            ]
        )
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(["5m", "0s", "https://x.example", "*/5 * * * *", "61 * * * *", ""]),
    )


def _array(schema: Schema, defs: Schema, secret: str, depth: int) -> st.SearchStrategy[Any]:
    items = schema.get("items") or (schema.get("prefixItems") or [{}])[0]
    return st.lists(from_schema(items, defs, secret, depth + 1), max_size=3)


def _object(schema: Schema, defs: Schema, secret: str, depth: int) -> st.SearchStrategy[Any]:
    props = schema.get("properties", {})
    if props:
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, defs, secret, depth + 1) for k, v in props.items() if k in required},
            optional={
                k: from_schema(v, defs, secret, depth + 1)
                for k, v in props.items()
                if k not in required
            },
        )
    extra = schema.get("additionalProperties")
    values = (
        from_schema(extra, defs, secret, depth + 1) if isinstance(extra, dict) else any_json(depth)
    )
    return st.dictionaries(
        st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), values, max_size=3
    )


_BY_TYPE: dict[str, Callable[[Schema, Schema, str, int], st.SearchStrategy[Any]]] = {
    "string": _string,
    "integer": lambda s, _d, _x, _n: st.integers(
        s.get("minimum", -(2**40)), s.get("maximum", 2**40)
    ),
    "number": lambda _s, _d, _x, _n: st.floats(allow_nan=False, allow_infinity=False, width=32),
    "boolean": lambda _s, _d, _x, _n: st.booleans(),
    "null": lambda _s, _d, _x, _n: st.none(),
    "array": _array,
    "object": lambda s, d, x, n: _object(s, d, x, n),
}


def any_json(depth: int = 0) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
    )
    if depth > 3:
        return scalars
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )


def schema_of(model: Any) -> tuple[Schema, Schema]:
    schema = model.model_json_schema()
    return schema, schema.get("$defs", {})


def descend(schema: Schema, defs: Schema, part: str | int) -> Schema | None:
    """The schema one key (or list index) below ``schema``."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    for union in ("anyOf", "oneOf"):
        for option in schema.get(union, []):
            found = descend(option, defs, part)
            if found is not None:
                return found
    if isinstance(part, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    if part in schema.get("properties", {}):
        return dict(schema["properties"][part])
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def config_schema_at(doc: Any, path: Path_) -> tuple[Schema, Schema] | None:
    """The schema a config.yaml key path falls under (its section's model)."""
    if not path:
        return None
    head, rest = str(path[0]), list(path[1:])
    if head in SECTION_MODELS:
        schema, defs = schema_of(SECTION_MODELS[head])
    elif head == "jobs" and rest:
        schema, defs = schema_of(JobConfig)
        rest = rest[1:]
    elif head == "connectors" and rest:
        section = doc.get("connectors", {}).get(rest[0]) if isinstance(doc, dict) else None
        kind = section.get("kind") if isinstance(section, dict) else None
        if kind not in KINDS:
            return None
        schema, defs = schema_of(get_spec(kind).config_model)
        rest = rest[1:]
    else:
        return None
    for part in rest:
        found = descend(schema, defs, part)
        if found is None:
            return None
        schema = found
    return schema, defs


# --- document mutations ---------------------------------------------------------------


def key_paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += key_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += key_paths(value, (*prefix, index))
    return found


def parent_of(doc: Any, path: Path_) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


WRONG_TYPES = st.one_of(
    st.integers(), st.booleans(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2), st.none(), st.floats(),
)  # fmt: skip
HUGE = st.sampled_from(["x" * 5_000, 10**30, -(10**30), 1e308, [[[[[[[[[[1]]]]]]]]]]])
CRONS = st.one_of(
    st.sampled_from(["61 * * * *", "* * *", "*/0 * * * *", "0 0 31 2 *", "a b c d e", ""]),
    st.lists(st.text(string.digits + "*/,-", min_size=1, max_size=4), min_size=1, max_size=7).map(
        " ".join
    ),
)


@st.composite
def mutate(
    draw: st.DrawFn,
    doc: Any,
    secret: str,
    schema_at: Callable[[Any, Path_], tuple[Schema, Schema] | None],
) -> None:
    """Apply one schema-guided mutation to ``doc`` in place."""
    paths = key_paths(doc)
    if not paths:
        return
    path = draw(st.sampled_from(paths))
    parent, last = parent_of(doc, path), path[-1]
    how = draw(
        st.sampled_from(
            ["schema", "wrong_type", "drop", "unknown_key", "huge", "secret_here", "secret_key"]
        )
    )
    if how == "schema":
        found = schema_at(doc, path)
        if found is not None:
            parent[last] = draw(from_schema(found[0], found[1], secret))
    elif how == "wrong_type":
        parent[last] = draw(WRONG_TYPES)
    elif how == "drop":
        del parent[last]
    elif how == "huge":
        parent[last] = copy.deepcopy(draw(HUGE))  # later mutations must not edit the original
    elif how == "secret_here":
        parent[last] = secret
    elif isinstance(parent, dict):
        key = (
            draw(st.sampled_from(SECRET_KEYS))
            if how == "secret_key"
            else draw(st.sampled_from([secret, "colour", "api_tokn", "every", "1"]))
        )
        parent[key] = secret if how == "secret_key" else draw(any_json())


@st.composite
def text_mutations(draw: st.DrawFn, text: str) -> bytes:
    """A line twice (a duplicated key), odd bytes, or a cut."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 2))):
        if not lines:
            break
        how = draw(st.sampled_from(["duplicate", "bytes", "cut", "tab"]))
        at = draw(st.integers(0, len(lines) - 1))
        if how == "duplicate":
            lines.insert(at, lines[at])
        elif how == "tab":
            lines[at] = "\t" + lines[at]
        elif how == "cut":
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
            lines = lines[: at + 1]
    data = "".join(lines).encode()
    if draw(st.booleans()):
        odd = draw(
            st.sampled_from([b"\xff", b"\xe9", b"\x00", b"\xef\xbb\xbf", b"\x1b[31m", b"\xc3"])
        )
        at = draw(st.integers(0, len(data)))
        data = data[:at] + odd + data[at:]
    return data


def dump(doc: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe").dump(doc, out)
    return out.getvalue()


@st.composite
def env_overrides(draw: st.DrawFn, secret: str) -> dict[str, str]:
    names = st.sampled_from(
        [
            "DEALBRIDGE__STATE__URL",
            "DEALBRIDGE__ENGINE__MAX_ATTEMPTS",
            "DEALBRIDGE__JOBS__WEST__SCHEDULE__CRON",
            "DEALBRIDGE__JOBS__WEST__ENABLED",
            "DEALBRIDGE__CONNECTORS__ZENDESK__API_TOKEN",
            "DEALBRIDGE__STATE__URL__DEEPER",
            "DEALBRIDGE__",
            "DEALBRIDGE__ALERTS",
        ]
    )
    # Any text an environment can hold (no NUL, no lone surrogate).
    text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
    values = st.one_of(st.sampled_from(["[", "{a: 1}", "61 * * * *", "true", "", secret]), text)
    return draw(st.dictionaries(names, values, max_size=2))


# --- the property ---------------------------------------------------------------------


def run_validate(folder: Path, env: dict[str, str]) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(
        app,
        ["validate", "--offline", "-c", str(folder / "config.yaml")],
        env=all_credentials() | env,
    )
    return result.exit_code, result.output, result.exception


def assert_safe(code: int, output: str, exception: BaseException | None, secret: str) -> None:
    event(f"exit {code}")  # the statistics show how many cases were valid (0) or refused (2)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert code in (0, 2), output
    assert "Traceback" not in output
    assert "internal error" not in output, output
    assert secret not in output
    assert secret not in output.replace("\n", "")


@FUZZ
@given(data=st.data())
def test_validate_survives_any_config_yaml(data: st.DataObject) -> None:
    secret = data.draw(secrets(), label="secret")
    doc = copy.deepcopy(BASE_CONFIG)
    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        data.draw(mutate(doc, secret, config_schema_at))
    if data.draw(st.booleans(), label="new sections from the schema"):
        kind = data.draw(st.sampled_from(KINDS))
        schema, defs = schema_of(get_spec(kind).config_model)
        section = data.draw(from_schema(schema, defs, secret), label=f"connector {kind}")
        schema, defs = schema_of(JobConfig)
        job = data.draw(from_schema(schema, defs, secret), label="job")
        for key, value in (("connectors", section), ("jobs", job)):
            if isinstance(doc, dict) and isinstance(doc.get(key), dict):
                doc[key]["fuzzed"] = value
    text = data.draw(text_mutations(dump(doc)), label="text")
    env = data.draw(env_overrides(secret), label="env")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "mappings").symlink_to(REPO_ROOT / "mappings")
        (folder / "config.yaml").write_bytes(text)
        assert_safe(*run_validate(folder, env), secret)


@FUZZ
@given(data=st.data())
def test_validate_survives_any_mapping(data: st.DataObject) -> None:
    secret = data.draw(secrets(), label="secret")
    job = data.draw(st.sampled_from(sorted(BASE_MAPPINGS)), label="job")
    name, base = BASE_MAPPINGS[job]
    schema, defs = schema_of(MappingSpec)
    if data.draw(st.integers(0, 4), label="from scratch") == 0:
        doc = data.draw(from_schema(schema, defs, secret), label="mapping from the schema")
    else:
        doc = copy.deepcopy(base)

    def mapping_schema_at(_doc: Any, path: Path_) -> tuple[Schema, Schema] | None:
        node: Schema | None = schema
        for part in path:
            node = descend(node, defs, part) if node is not None else None
        return (node, defs) if node is not None else None

    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        data.draw(mutate(doc, secret, mapping_schema_at))
    text = data.draw(text_mutations(dump(doc)), label="text")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "mappings").mkdir()
        (folder / "mappings" / "templates").symlink_to(REPO_ROOT / "mappings" / "templates")
        (folder / "mappings" / name).write_bytes(text)
        (folder / "config.yaml").write_text(dump(only_job(job)))
        assert_safe(*run_validate(folder, {}), secret)


def only_job(job: str) -> Any:
    """The shipped config.yaml with one job and the connectors it uses (one mapping to read)."""
    doc = copy.deepcopy(BASE_CONFIG)
    doc["jobs"] = {job: doc["jobs"][job]}
    used = {doc["jobs"][job]["source"], doc["jobs"][job]["target"]}
    doc["connectors"] = {k: v for k, v in doc["connectors"].items() if k in used}
    return doc
