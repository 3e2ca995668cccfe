"""`ciw init`: a commented configuration for the sources a user has, with their files' format
read from the files themselves.

Given where each source is (a folder or fsspec URL of POS exports or web events, a database URL
of the shop, the base URL of the helpdesk or ESP API), it writes the ``[ciw]`` list of sources
and a ``[sources.<name>]`` section each. For file sources it looks at the newest files: the
encoding (UTF-8 when they read as UTF-8, else cp1252, the commonest export of Windows tills),
the CSV delimiter (csv.Sniffer over , ; tab |), and the strptime patterns that read every date
and timestamp ISO 8601 does not. What it cannot know (the time zone of naive timestamps, a
day-first or month-first date whose days are all 12 or less) is written as a commented
question. Secrets (tokens, passwords) are never written: the file says where they go.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ingestion.quarantine import TableSpec
from ingestion.readers import file_source_tables, newest_file_head

SAMPLE_BYTES = 1 << 20
# values no format reads, under this share of a kind's sampled values, are bad rows
OUTLIER_SHARE = 0.05
# the patterns tried for dates ISO 8601 does not read, in order of preference (day-first before
# month-first: the convention of most of the world; an ambiguous sample says so)
DATE_PATTERNS = (
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
    "%m/%d/%y",
)
TIME_SUFFIXES = (" %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S")
FILE_SOURCES = ("pos", "web")
API_SOURCES = ("helpdesk", "esp")


@dataclass
class SourceProposal:
    """One source's section: settings and a comment per setting."""

    name: str
    settings: dict[str, object] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)


def propose(locations: Mapping[str, str]) -> list[SourceProposal]:
    """A proposal per source of ``locations`` (source name -> where it is)."""
    proposals = []
    for name, location in locations.items():
        if name in FILE_SOURCES:
            proposals.append(_file_source(name, location))
        elif name == "shop":
            proposals.append(
                SourceProposal(
                    "shop",
                    questions=[
                        "credentials (the database URL) go to .dlt/secrets.toml "
                        f"([sources.shop] credentials = {json.dumps(_without_password(location))}"
                        ", with its password) or SOURCES__SHOP__CREDENTIALS"
                    ],
                )
            )
        elif name in API_SOURCES:
            proposals.append(
                SourceProposal(
                    name,
                    {"base_url": location},
                    questions=[
                        f"the API token goes to .dlt/secrets.toml ([sources.{name}] token = "
                        f'"...") or SOURCES__{name.upper()}__TOKEN'
                    ],
                )
            )
        else:
            raise ValueError(f"unknown source {name!r}")
    return proposals


def _without_password(url: str) -> str:
    """``url`` with its password shown as ***: this file is no place for secrets."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError as exc:
        raise ValueError(f"--shop: not a database URL: {exc}") from exc


def render(proposals: Sequence[SourceProposal], today: dt.date) -> str:
    """The TOML text of a configuration (comments included)."""
    names = [proposal.name for proposal in proposals]
    lines = [
        f"# written by `ciw init` on {today.isoformat()}: read it, answer the questions, then run",
        "# `ciw check` (it tries every setting on your files and systems) and `ciw run --no-demo`.",
        "# Settings: docs/configuration.md; formats: docs/ingestion.md#file-formats",
        "",
        "[runtime]",
        'log_level = "WARNING"',
        "",
        "[ciw]",
        f"sources = {json.dumps(names)}",
    ]
    for proposal in proposals:
        lines += ["", f"[sources.{proposal.name}]"]
        for question in proposal.questions:
            lines.append(f"# ? {question}")
        for key, value in proposal.settings.items():
            line = f"{key} = {json.dumps(value)}"
            comment = proposal.comments.get(key)
            lines.append(f"{line}  # {comment}" if comment else line)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- file sources


def _file_source(name: str, location: str) -> SourceProposal:
    proposal = SourceProposal(name, {"bucket_url": location})
    samples: list[tuple[TableSpec, bytes]] = []
    for spec, glob in file_source_tables(name).values():
        found = newest_file_head(location, glob, SAMPLE_BYTES)
        if found is None:
            proposal.questions.append(f"no {glob} under {location} yet: {spec.table} stays empty")
            continue
        samples.append((spec, found[2]))
    if not samples:
        return proposal
    encoding = _encoding(sample for _, sample in samples)
    if encoding != "utf-8":
        proposal.settings["encoding"] = encoding
        proposal.comments["encoding"] = "the files are not UTF-8: check accented names load right"
    texts = [(spec, sample.decode(encoding, errors="replace")) for spec, sample in samples]
    rows: list[tuple[TableSpec, dict]] = []
    if name == "pos":
        delimiter = _delimiter(text for _, text in texts)
        if delimiter != ",":
            proposal.settings["delimiter"] = delimiter
            proposal.comments["delimiter"] = "read from the files"
        for spec, text in texts:
            lines = text.splitlines()[:-1] if len(text) >= SAMPLE_BYTES else text.splitlines()
            reader = csv.DictReader(lines, delimiter=delimiter)
            rows += [(spec, row) for row in reader]
    else:
        for spec, text in texts:
            for line in text.splitlines():
                try:
                    parsed = json.loads(line)
                except ValueError:
                    continue
                if isinstance(parsed, dict):
                    rows.append((spec, parsed))
    _formats(proposal, rows)
    return proposal


def _encoding(samples: Iterable[bytes]) -> str:
    """utf-8 when every sample reads as UTF-8 (a cut-off last character aside), else cp1252."""
    for sample in samples:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 3:
                return "cp1252"
    return "utf-8"


def _delimiter(texts: Iterable[str]) -> str:
    """The delimiter csv.Sniffer reads from the first lines of the files (a comma when it
    cannot tell)."""
    for text in texts:
        head = "\n".join(text.splitlines()[:50])
        try:
            return csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
        except csv.Error:
            continue
    return ","


def _formats(proposal: SourceProposal, rows: Sequence[tuple[TableSpec, dict]]) -> None:
    """The date and timestamp patterns that read the sampled values ISO 8601 does not. A few
    such values among many ISO ones (under OUTLIER_SHARE) are bad rows, not a format: they are
    named, and the loader will quarantine them."""
    unread: dict[str, list[str]] = {"date": [], "timestamp": []}
    total = {"date": 0, "timestamp": 0}
    naive = 0
    for spec, row in rows:
        for column in spec.columns:
            value = row.get(column.name)
            if column.data_type not in total or not isinstance(value, str) or not value.strip():
                continue
            total[column.data_type] += 1
            text = value.strip()
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                unread[column.data_type].append(text)
                continue
            naive += column.data_type == "timestamp" and parsed.tzinfo is None
    for kind, setting in (("date", "date_formats"), ("timestamp", "timestamp_formats")):
        found = unread[kind]
        if not found:
            continue
        if len(found) < OUTLIER_SHARE * total[kind]:
            proposal.questions.append(
                f"{len(found)} of {total[kind]} sampled {kind}s read as no date, such as "
                f"{found[0]!r}: their rows will be quarantined (no {setting} needed for them)"
            )
            continue
        patterns = DATE_PATTERNS if kind == "date" else _timestamp_patterns()
        reads = {p: sum(_reads(p, value) for value in found) for p in patterns}
        best = max(patterns, key=lambda p: reads[p])  # the first of the most reading
        if reads[best] < (1 - OUTLIER_SHARE) * len(found):
            proposal.questions.append(
                f"{kind}s such as {found[0]!r} match no pattern tried: set {setting} "
                "(strptime patterns) yourself"
            )
            continue
        proposal.settings[setting] = [best]
        proposal.comments[setting] = (
            f"reads {reads[best]} of {len(found)} sampled non-ISO value(s) such as {found[0]!r}"
        )
        swapped = best.replace("%d", "%D").replace("%m", "%d").replace("%D", "%m")
        if swapped != best and reads.get(swapped) == reads[best]:
            proposal.questions.append(
                f"{setting}: every sampled day is 12 or less, so {best!r} (day first) and "
                f"{swapped!r} (month first) both read them: day first is assumed"
            )
        if kind == "timestamp" and "%z" not in best:
            naive += reads[best]
    if naive >= OUTLIER_SHARE * max(total["timestamp"], 1):
        proposal.settings["timezone"] = "UTC"
        proposal.comments["timezone"] = (
            "? the timestamps carry no zone: set the zone they were written in (Europe/Berlin)"
        )


def _timestamp_patterns() -> list[str]:
    return [date + suffix for date in ("%Y-%m-%d", *DATE_PATTERNS) for suffix in TIME_SUFFIXES]


def _reads(pattern: str, value: str) -> bool:
    try:
        dt.datetime.strptime(value, pattern)
    except ValueError:
        return False
    return True
