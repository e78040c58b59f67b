"""The one agent-readable note per customer: deal-line templates and the note as a whole.

Each deal's line comes from its job's template (Jinja2 sandbox, so an admin's template cannot
reach Python internals); the header and conflict lines are the engine's, so the note reads the
same whichever territories contributed. The parts, each with one job:

* :mod:`sync_jobs.domain.note_text`: hygiene; every value is made clean, inert, one-line text;
* :mod:`sync_jobs.domain.note_block`: the marked block inside a field agents also write in;
* :mod:`sync_jobs.domain.note_fit`: fitting the block into the room the desk leaves;
* here: rendering deal lines, and :func:`render_note`, a pure function of (the agents' text,
  the deals, the conflicts, the limit) that puts them together.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
)
from jinja2.sandbox import SandboxedEnvironment

from connectors.errors import ConfigError, ConfigProblem
from connectors.registry import system_label
from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms
from sync_jobs.domain.note_block import (
    BLOCK_END,
    BLOCK_START,
    LAYOUTS,
    Layout,
    NoteBlockDamaged,
    NoteFormat,
    Outside,
    outside,
    place,
)
from sync_jobs.domain.note_fit import DealLine, fit, whole_lines
from sync_jobs.domain.note_text import clean, cleaned, for_html

__all__ = [
    "BLOCK_END",
    "BLOCK_START",
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE",
    "DealLine",
    "NoteBlockDamaged",
    "NoteFormat",
    "NoteTemplates",
    "RenderedNote",
    "StoredAs",
    "render_note",
    "summary",
    "template_location",
    "vendor_name",
]

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_TEMPLATE = "deal-line.j2"
NoteMode = Literal["block", "whole"]


@functools.lru_cache(maxsize=256)
def template_location(mapping_dir: Path, template: str | None) -> tuple[Path, str | None]:
    """(folder, file name) of a mapping's note template; relative paths start at the mapping.

    Cached: it is asked once per deal in a batch, and resolving touches the file system."""
    if template is None:
        return mapping_dir, None
    path = (mapping_dir / template).resolve()
    return path.parent, path.name


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}%"


_NET_DAYS = re.compile(r"net\s*(\d+)", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _terms_text(value: str) -> str:
    """Canonical payment-term tokens read better spelled out: ``net60`` -> ``Net 60``.

    Remembered: a run's deals share a handful of payment terms, and this is asked for every
    deal line."""
    match = _NET_DAYS.fullmatch(value.strip())
    return f"Net {match.group(1)}" if match else value


@functools.lru_cache(maxsize=64)
def vendor_name(system: str) -> str:
    """How agents know the CRM: ``hubspot`` -> ``HubSpot`` (the connector registry's label).

    Remembered: every deal line asks it, and the registry's answer (a module lookup) does not
    change while the process runs (its plugins are the installed packages' entry points)."""
    return system_label(system)


def summary(deal: DealTerms) -> str:
    """The terms of one deal in one short clause list (each value clean before it is joined,
    so a tag at the end of one value cannot leave a gap before the next clause)."""
    return _summary(
        deal.discount_percent,
        deal.payment_terms,
        deal.free_services,
        deal.sla,
        deal.special_instructions,
        deal.valid_until,
    )


def _summary(
    discount: Decimal | None,
    payment_terms: str | None,
    free_services: tuple[str, ...],
    sla: str | None,
    special_instructions: str | None,
    valid_until: date | None,
) -> str:
    """:func:`summary` of these values, the only ones it reads.

    A value that is None or empty is skipped before cleaning (it cleans to nothing): most
    deals leave most of these terms out, and this runs for every deal line."""
    parts = []
    if discount is not None:
        parts.append(f"{_pct(discount)} discount")
    if payment_terms and (payment := clean(payment_terms)):
        parts.append(f"payment {_terms_text(payment)}")
    if free_services and (free := ", ".join(filter(None, map(clean, free_services)))):
        parts.append(f"free: {free}")
    if sla and (sla := clean(sla)):
        parts.append(f"SLA: {sla}")
    if special_instructions and (instructions := clean(special_instructions)):
        parts.append(f"note: {instructions}")
    if valid_until:
        parts.append(f"until {valid_until.isoformat()}")
    return "; ".join(parts) or "special terms (see deal)"


SUMMARY_KEPT_TEXT = 200
"""The longest text a remembered summary may hold in any of its values (see
:func:`_clean_summary`): a longer one (pasted instructions) is summarised each time, and the
remembered summaries stay small (at most a few MB)."""


def _clean_summary(deal: DealTerms) -> str:
    """``clean(summary(deal))``, remembered by the values it reads when each text among them
    is short (a run's deals share a handful of terms: a discount, a payment term, an end
    date; summarising and cleaning them was two fifths of a deal line).

    The discount is remembered by its text as well as its value: equal Decimals can print
    differently (``-0`` and ``0``), and the summary prints it."""
    free, sla, notes = deal.free_services, deal.sla, deal.special_instructions
    payment = deal.payment_terms
    short = SUMMARY_KEPT_TEXT
    if (
        (payment is not None and len(payment) > short)
        or (sla is not None and len(sla) > short)
        or (notes is not None and len(notes) > short)
        or (free and (len(free) > 8 or max(map(len, free)) > short))
    ):
        return clean(summary(deal))
    discount = deal.discount_percent
    return _remembered_summary(
        None if discount is None else str(discount),
        discount,
        payment,
        free,
        sla,
        notes,
        deal.valid_until,
    )


@functools.lru_cache(maxsize=4096, typed=True)
def _remembered_summary(
    _: str | None,
    discount: Decimal | None,
    payment_terms: str | None,
    free_services: tuple[str, ...],
    sla: str | None,
    special_instructions: str | None,
    valid_until: date | None,
) -> str:
    """:func:`_clean_summary`'s text, remembered (the first argument is the discount's text:
    the key tells apart discounts that are equal but print differently; ``typed``, values
    of other types that compare equal)."""
    return clean(
        _summary(discount, payment_terms, free_services, sla, special_instructions, valid_until)
    )


_DATA_FIELDS: dict[type, frozenset[str]] = {
    model: frozenset(model.model_fields) for model in (DealTerms, DealRef, AccountIdentity)
}
"""The declared fields of the values a template sees: plain data (text, numbers, dates,
tuples and the nested values themselves), never a callable or an internal attribute."""


class _NoteSandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with a declared field of the deal's values read at once.

    The sandbox checks every attribute a template reads (is it internal? a ``str.format``?)
    about ten times a deal line. A declared field of DealTerms, DealRef or AccountIdentity is
    data by construction, so those checks cannot refuse it; everything else (methods,
    ``__class__``, attributes of other objects) still goes through them."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        fields = _DATA_FIELDS.get(type(obj))
        if fields is not None and attribute in fields:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)


class _Loader(FileSystemLoader):
    """Jinja's file loader, remembering the source text it handed over for each template name:
    the renderer tells the shipped default template from an admin's by its text."""

    def __init__(self, searchpath: Sequence[Path]) -> None:
        super().__init__(searchpath)
        self.sources: dict[str, str] = {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        self.sources[template] = source
        return source, filename, uptodate


DEFAULT_SOURCE = (
    "{#- One line per active deal in the agent note. Variables: deal (canonical terms). -#}\n"
    "- {{ deal | summary }} | {{ deal.deal.territory }}\n"
    "{%- if deal.owner_name %}, {{ deal.owner_name }}"
    "{% if deal.owner_email %} ({{ deal.owner_email }}){% endif %}{% endif %}"
    " | {{ deal.deal.system | vendor }} {{ deal.deal.id }}\n"
)
"""The shipped ``deal-line.j2``, which :func:`default_line` renders without Jinja. The
mappings' own copy (``mappings/templates/deal-line.j2``) differs in its comment only; a
template that parses to anything else, either file edited in place included, is rendered by
Jinja's sandbox (:func:`_renders_as_default`)."""


def default_line(deal: DealTerms) -> str:
    """What :data:`DEFAULT_SOURCE` renders for ``deal`` in the sandbox, byte for byte.

    Most mappings use the shipped template, and in a backfill every deal's line is new:
    Jinja's per-render context, its generator and the sandbox's attribute reads cost about
    as much as the line's own work. These are the template's steps in its order: each
    printed value through ``finalize`` (:func:`clean`), the owner's name and email only when
    set (their truthiness, as ``{% if %}`` tests it), no whitespace where the comment,
    ``{%-`` and the dropped final newline leave none. Only declared fields of the deal's
    values are read, which the sandbox reads directly too (:class:`_NoteSandbox`)."""
    ref = deal.deal
    line = f"- {_clean_summary(deal)} | {_clean_shared(ref.territory)}"
    if deal.owner_name:
        line += f", {_clean_shared(deal.owner_name)}"
        if deal.owner_email:
            line += f" ({_clean_shared(deal.owner_email)})"
    return f"{line} | {_clean_shared(vendor_name(ref.system))} {clean(ref.id)}"


_clean_shared_text = functools.lru_cache(maxsize=1024)(clean)


def _clean_shared(value: str) -> str:
    """``clean(value)`` of a value many deals share (a territory, an owner, the CRM's label),
    remembered when short: a run's deals have a handful of each. (A deal's id, new for every
    deal of a backfill, is cleaned each time: remembering it would cost more than it saves.)"""
    if len(value) <= SHARED_TEXT and type(value) is str:
        return _clean_shared_text(value)
    return clean(value)


SHARED_TEXT = 64
"""The longest shared value :func:`_clean_shared` remembers."""


def _renders_as_default(env: SandboxedEnvironment, source: str) -> bool:
    """Whether ``source`` is :data:`DEFAULT_SOURCE` as the environment parses it: the same
    tree renders the same output (Jinja's nodes compare their fields, not their line
    numbers, and comments leave no node)."""
    return source == DEFAULT_SOURCE or env.parse(source) == env.parse(DEFAULT_SOURCE)


Render = Callable[[DealTerms], str]
"""A compiled deal-line template: a deal's terms to the template's raw output."""

StoredAs = tuple[str, datetime]
"""Stored deal terms by their fingerprint (every term but the modification time, as stage 1
stores it in ``payload_hash``) and modification time: together they name one stored terms
text exactly (the key of :mod:`sync_jobs.run.terms_cache`, which hands stage 2 these very
terms)."""

LINES_KEPT = 2000
"""Deal lines a renderer keeps for reuse (oldest out first): a daemon plans a customer
again when any one of its deals changes, and its other deals' lines are then reused."""
LINE_KEPT_MAX = 2000
"""A longer line (hostile or pasted text) is rendered each time, never kept: the fitting cuts
it anyway, and the cache's memory stays bounded (about 4 MB at most, far less for real lines)."""


class NoteTemplates:
    """Loads and renders the per-job deal-line templates in Jinja2's sandbox.

    Templates produce plain text whatever the field's format: every value goes through
    :func:`~sync_jobs.domain.note_text.clean` as it is printed, and :func:`render_note` escapes the
    finished lines for HTML fields (so a cut never splits an entity).

    A line rendered from stored terms is kept and reused for the same stored terms and the
    same template. What a line depends on, and why the key covers it:

    * the terms the template sees (every field, the modification time included): the
      fingerprint and the modification time of the stored terms (``stored``). Terms that are
      not a stored deal's exactly (a dry run's overlay, the fitting's shortened values) give
      no ``stored`` and are always rendered;
    * the template: its folder and file name, compiled once by this renderer and never
      reloaded (``auto_reload`` is off); a daemon's reload builds new renderers, so an
      edited template starts with no kept lines;
    * nothing else: the sandbox hands a template only ``deal``, its globals and filters are
      fixed when the environment is built, and nothing in them reads the date, the clock,
      the locale or the time zone (``summary`` prints ISO dates; ``vendor`` reads the
      connector registry, complete once the process has loaded its plugins). The note's
      own date-dependent parts (which deals are live, the header's date, the review
      suffix, HTML escaping, the fitting) are decided outside the line, every time.

    A template that raises is never kept (the error goes to the caller every time), and
    neither is a line longer than :data:`LINE_KEPT_MAX`."""

    def __init__(self, fmt: NoteFormat = "text") -> None:
        self.format = fmt
        self._envs: dict[str, SandboxedEnvironment] = {}
        self._renderers: dict[tuple[str, str], Render] = {}
        self._lines: OrderedDict[tuple[str, datetime, str, str], str] = OrderedDict()

    def _env(self, folder: Path) -> SandboxedEnvironment:
        key = str(folder)  # str keys: hashing a Path per render costs more than the lookup
        if key not in self._envs:
            env = _NoteSandbox(
                loader=_Loader([folder, BUILTIN_TEMPLATES]),
                autoescape=False,
                undefined=StrictUndefined,
                finalize=clean,
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

    def _renderer(self, folder: Path, name: str) -> Render:
        """The compiled template, looked up once: Jinja's own lookup per render (loader
        cache key, globals) cost about a third of rendering a line. The shipped default
        template's text renders through :func:`default_line`."""
        key = (str(folder), name)
        found = self._renderers.get(key)
        if found is None:
            env = self._env(folder)
            template = env.get_template(name)
            loader = env.loader
            # get_template loaded this name through this loader (now, or in ``check``), and
            # the environment keeps what it compiled from that text: the two are one text.
            source = loader.sources.get(name) if isinstance(loader, _Loader) else None
            if source is not None and _renders_as_default(env, source):
                found = self._renderers[key] = default_line
                return found
            # Jinja chains the template's globals (none) to the environment's in a ChainMap,
            # and each render copies it into the context key by key, every key a KeyError in
            # the empty first map: half the render. The same globals as one dict (nothing
            # changes them after the environment is built) render the same, twice as fast.
            template.globals = dict(template.globals)
            found = self._renderers[key] = lambda deal: template.render(deal=deal)
        return found

    def line(
        self,
        deal: DealTerms,
        template: str | None,
        folder: Path,
        *,
        stored: StoredAs | None = None,
    ) -> str:
        """One deal's line: the template's output as one clean line of text; the line kept
        for these stored terms and template, when ``stored`` names them (see the class)."""
        if stored is None:
            return self._render(deal, template, folder)
        key = (*stored, str(folder), template or DEFAULT_TEMPLATE)
        found = self._lines.get(key)
        if found is None:
            found = self._render(deal, template, folder)
            if len(found) <= LINE_KEPT_MAX:
                self._lines[key] = found
                if len(self._lines) > LINES_KEPT:
                    self._lines.popitem(last=False)
        return found

    def _render(self, deal: DealTerms, template: str | None, folder: Path) -> str:
        try:
            text = self._renderer(folder, template or DEFAULT_TEMPLATE)(deal)
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
        # Marked clean: the note body's own clean of the line then has nothing to scan.
        return cleaned(text)


NOTE_HEADER = "Special terms:"
"""How every note begins, with markers (a block in agents' text) or without (a whole field)."""


class RenderedNote(NamedTuple):
    """The whole field as it should read, and why it could not fit, if it could not (a
    tuple: one a note)."""

    text: str
    problem: str | None = None


def render_note(
    current: str | None,
    deals: Sequence[DealLine],
    alerts: Sequence[str],
    updated: str,
    limit: int,
    *,
    fmt: NoteFormat = "text",
    mode: NoteMode = "block",
) -> RenderedNote:
    """The note field for these deals (in listing order) and conflict lines.

    A pure function of the agents' text around the block (never of the block itself), the
    deals, the conflicts and the limit, so rendering again from its own output changes
    nothing. Raises :class:`NoteBlockDamaged` when the field's markers are not one block."""
    layout = LAYOUTS[fmt]
    around = Outside("", "") if mode == "whole" else outside(current, layout)
    if not deals and not alerts:
        return RenderedNote("" if mode == "whole" else place(current, None, layout))
    is_html = fmt == "html"
    # A field dealbridge alone writes needs no markers: in a 255-character attribute they
    # would take the room of a deal line.
    wrap = layout.block if mode == "block" else layout.line_end.join
    header = f"{NOTE_HEADER} {len(deals)} active deal(s), updated {updated}"
    room = limit - around.size
    # The fitting's first step, taken directly: every line whole nearly always fits.
    whole = whole_lines(header, deals, alerts)
    text = wrap([for_html(line) for line in whole] if is_html else whole)
    if len(text) <= room:
        return RenderedNote(around.before + text + around.after)
    return _fitted(around, deals, alerts, limit, layout, whole, wrap)


def _fitted(
    around: Outside,
    deals: Sequence[DealLine],
    alerts: Sequence[str],
    limit: int,
    layout: Layout,
    whole: list[str],
    wrap: Callable[[Sequence[str]], str],
) -> RenderedNote:
    """The note when every line whole does not fit: the fitting's later steps."""
    escape = for_html if layout.format == "html" else _same
    last: list[tuple[tuple[str, ...], str]] = []

    def block(lines: Sequence[str]) -> str:
        # The body the fitting returns is usually the last one it measured: wrapped once.
        key = tuple(lines)
        if not last or last[0][0] != key:
            last[:] = [(key, wrap([escape(line) for line in lines]))]
        return last[0][1]

    def size(lines: Sequence[str]) -> int:
        return len(block(lines))

    fitted = fit(whole[0], deals, alerts, limit - around.size, size, whole)
    text = around.before + block(fitted.lines) + around.after
    if fitted.fits:
        return RenderedNote(text)
    agents = len(around.before.removesuffix(layout.separator)) + len(around.after)
    return RenderedNote(
        text,
        f"the agents' own text ({agents} characters) leaves no room for the deal note "
        f"within the {limit} characters the desk takes; only the note's header was written "
        f"({len(deals)} deal(s) not listed); shorten the agents' text in this field",
    )


def _same(line: str) -> str:
    return line
