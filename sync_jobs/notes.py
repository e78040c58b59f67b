"""The one agent-readable note per customer: rendering, markup safety, size, and splicing.

Each deal's line comes from its job's template (Jinja2 sandbox, so an admin's template cannot
reach Python internals); the header and conflict lines are the engine's, so the note reads the
same whichever territories contributed. Text a rep typed is made inert: tags are stripped for
plain-text fields and escaped for HTML fields. Where the note shares a free-text field with
agents, dealbridge owns only the block between its markers and keeps every other character.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from connectors.errors import ConfigError, ConfigProblem
from sync_jobs.model import DealTerms

BLOCK_START = "=== dealbridge: special terms - do not edit inside this block ==="
BLOCK_END = "=== end dealbridge ==="
TRUNCATION_MARK = "... (note shortened; run `dealbridge deals show` for every deal)"
BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = "deal-line.j2"
_TAG = re.compile(r"<[^>]{0,200}>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

NoteFormat = Literal["text", "html"]


@functools.lru_cache(maxsize=256)
def template_location(mapping_dir: Path, template: str | None) -> tuple[Path, str | None]:
    """(folder, file name) of a mapping's note template; relative paths start at the mapping.

    Cached: it is asked once per deal in a batch, and resolving touches the file system."""
    if template is None:
        return mapping_dir, None
    path = (mapping_dir / template).resolve()
    return path.parent, path.name


class NoteBlockDamaged(ValueError):
    """The start marker is present but its end marker is gone: we cannot tell what is ours."""


def make_inert(value: Any) -> str:
    """Plain-text safety: drop markup tags and control characters a rep's text may carry."""
    text = "" if value is None else str(value)
    return _CONTROL.sub("", _TAG.sub("", text)).replace("\n", " ").strip()


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}%"


def _terms_text(value: str) -> str:
    """Canonical payment-term tokens read better spelled out: ``net60`` -> ``Net 60``."""
    match = re.fullmatch(r"net\s*(\d+)", value.strip(), re.IGNORECASE)
    return f"Net {match.group(1)}" if match else value


VENDOR_NAMES = {
    "salesforce": "Salesforce",
    "hubspot": "HubSpot",
    "spreadsheet": "Sheet",
    "pipedrive": "Pipedrive",
    "dynamics": "Dynamics 365",
    "zoho": "Zoho CRM",
}


def vendor_name(system: str) -> str:
    """How agents know the CRM: ``hubspot`` -> ``HubSpot``."""
    return VENDOR_NAMES.get(system, system.title())


def summary(deal: DealTerms) -> str:
    """The terms of one deal in one short clause list."""
    parts = []
    if deal.discount_percent is not None:
        parts.append(f"{_pct(deal.discount_percent)} discount")
    if deal.payment_terms:
        parts.append(f"payment {_terms_text(deal.payment_terms)}")
    if deal.free_services:
        parts.append("free: " + ", ".join(deal.free_services))
    if deal.sla:
        parts.append(f"SLA: {deal.sla}")
    if deal.special_instructions:
        parts.append(f"note: {deal.special_instructions}")
    if deal.valid_until:
        parts.append(f"until {deal.valid_until.isoformat()}")
    return "; ".join(parts) or "special terms (see deal)"


class NoteTemplates:
    """Loads and renders the per-job deal-line templates in Jinja2's sandbox."""

    def __init__(self, fmt: NoteFormat = "text") -> None:
        self.format = fmt
        self._envs: dict[str, SandboxedEnvironment] = {}

    def _env(self, folder: Path) -> SandboxedEnvironment:
        key = str(folder)  # str keys: hashing a Path per render costs more than the lookup
        if key not in self._envs:
            env = SandboxedEnvironment(
                loader=FileSystemLoader([folder, BUILTIN_TEMPLATES]),
                autoescape=self.format == "html",
                undefined=StrictUndefined,
                finalize=make_inert if self.format == "text" else None,
                trim_blocks=True,
                lstrip_blocks=True,
                # No stat() per render: a reload (daemon) builds new renderers instead.
                auto_reload=False,
            )
            env.filters["summary"] = summary
            env.filters["vendor"] = vendor_name
            env.filters["pct"] = _pct
            self._envs[key] = env
        return self._envs[key]

    def check(
        self,
        template: str | None,
        folder: Path,
        file: str,
        line: int | None = None,
        written: str | None = None,
    ) -> list[ConfigProblem]:
        """Compile a template (for ``validate`` and before a run), reporting a missing file or
        a syntax error at the mapping's ``note.template`` line (``line``; ``written`` is the
        path as the mapping gives it)."""
        name = template or DEFAULT_TEMPLATE
        template = written or template
        try:
            self._env(folder).get_template(name)
        except TemplateNotFound:
            return [
                ConfigProblem(
                    file,
                    line,
                    "note.template",
                    f"note template {template!r} not found (looked for {folder / name})",
                    "give a path relative to this mapping, e.g. templates/deal-line.j2",
                )
            ]
        except TemplateError as exc:
            where = getattr(exc, "lineno", None)
            return [
                ConfigProblem(
                    file,
                    line,
                    "note.template",
                    f"template {template}: {exc}" + (f" (template line {where})" if where else ""),
                    "fix the Jinja2 syntax; see mappings/README.md",
                )
            ]
        except (OSError, UnicodeDecodeError) as exc:
            what = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "cannot be read"
            return [
                ConfigProblem(
                    file,
                    line,
                    "note.template",
                    f"note template {template!r} {what}",
                    "save it as a UTF-8 text file",
                )
            ]
        return []

    def line(self, deal: DealTerms, template: str | None, folder: Path) -> str:
        """Render one deal's line(s) for the note."""
        try:
            text = self._env(folder).get_template(template or DEFAULT_TEMPLATE).render(deal=deal)
        except TemplateError as exc:
            raise ConfigError(
                [
                    ConfigProblem(
                        str(folder / (template or DEFAULT_TEMPLATE)),
                        None,
                        "note.template",
                        str(exc),
                        "fix the template",
                    )
                ]
            ) from exc
        return text.strip()


def compose(
    lines: Sequence[str], alerts: Sequence[str], updated: str, limit: int, fmt: NoteFormat = "text"
) -> str:
    """The whole block: header, one entry per deal, one line per open conflict, end marker."""
    header = f"{BLOCK_START}\nSpecial terms: {len(lines)} active deal(s), updated {updated}"
    conflict_lines = [f"! {make_inert(a)}" for a in alerts]
    body = _fit([*lines], [header], [*conflict_lines, BLOCK_END], limit)
    if fmt == "html":
        return "<br>\n".join(body)
    return "\n".join(body)


def _fit(lines: list[str], head: list[str], tail: list[str], limit: int) -> list[str]:
    def size(items: list[str]) -> int:
        return sum(len(i) + 1 for i in items)

    if size(head + lines + tail) <= limit:
        return head + lines + tail
    kept: list[str] = []
    budget = limit - size(head + tail) - len(TRUNCATION_MARK) - 1
    for line in lines:
        if size([*kept, line]) > budget:
            break
        kept.append(line)
    return [*head, *kept, TRUNCATION_MARK, *tail]


def splice(current: str | None, block: str | None) -> str:
    """Put ``block`` in place of our old block inside ``current``; ``None`` removes our block.

    Every character outside the markers is preserved. A first block is appended after the
    agents' text, separated by one blank line.
    """
    text = current or ""
    start = text.find(BLOCK_START)
    if start == -1:
        if block is None:
            return text
        return f"{text.rstrip()}\n\n{block}" if text.strip() else block
    end = text.find(BLOCK_END, start)
    if end == -1:
        raise NoteBlockDamaged(
            "the note's end marker was deleted; restore the line "
            f"'{BLOCK_END}' or remove dealbridge's block by hand"
        )
    before, after = text[:start], text[end + len(BLOCK_END) :]
    if block is None:
        return (before.rstrip("\n") + after.lstrip("\n")) if before.strip() else after.lstrip("\n")
    return before + block + after
