"""Exports for review meetings: the matrix as CSV, YAML or ReqIF with statuses, a printable HTML
report with the evidence, and a model card per model version listing every requirement's status."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import yaml

from core.accounts.access import readable
from core.artifacts.models import Artifact
from core.artifacts.service import find_artifact
from core.errors import InvalidInput, NotFound, expected_one_of
from core.projects.service import get_project
from core.registry.service import find_alias
from core.requirements.documents import requirement_document, requirement_schema
from core.requirements.impact import model_candidate, what_if
from core.requirements.interchange import safe_cell
from core.requirements.matrix import traceability_matrix
from core.requirements.models import HistoryEntry, Matrix, Requirement, Status
from core.requirements.reqif import to_reqif
from core.requirements.service import select_current
from core.requirements.status import select_statuses, status_history
from core.store import Workspace, utcnow

FORMATS = ("csv", "html", "yaml", "reqif")
COLORS = {
    "met": "#2b9348",
    "violated": "#d62828",
    "suspect": "#f4a261",
    "inconclusive": "#6c63ff",
    "no_evidence": "#adb5bd",
}
LABELS = {
    "met": "met",
    "violated": "violated",
    "suspect": "suspect",
    "inconclusive": "inconclusive",
    "no_evidence": "no evidence",
}
TRACE_COLUMNS = (
    "system_id",
    "system_title",
    "system_parent",
    "system_status",
    "ml_id",
    "ml_title",
    "check",
    "evidence",
    "status",
    "value",
    "n",
    "lower",
    "upper",
    "interval",
    "threshold",
    "slice",
    "alert_id",
    "evidence_ref",
    "model_version",
    "measured_at",
)


def trace_rows(matrix: Matrix) -> list[dict[str, Any]]:
    """One row per (system requirement, ML requirement) pair; a system requirement with no ML
    requirement gets one row of its own."""
    rows: list[dict[str, Any]] = []
    for row in matrix.rows:
        system = row.requirement
        head = {
            "system_id": system.requirement_id,
            "system_title": system.title,
            "system_parent": "; ".join(system.parents),  # every parent, the tree's first
            "system_status": _label(row.status),
        }
        for item, status in row.ml or ((None, None),):
            rows.append({**head, **_ml_cells(item, status)})
    return rows


def _ml_cells(item: Requirement | None, status: Status | None) -> dict[str, Any]:
    if item is None:
        return {c: "" for c in TRACE_COLUMNS[4:]}
    return {
        "ml_id": item.requirement_id,
        "ml_title": item.title,
        "check": item.check_text,
        "evidence": item.evidence_text,
        "status": _label(status),
        "value": None if status is None or status.value is None else round(status.value, 4),
        "n": _rounded(status.n if status else None, 0),
        "lower": _rounded(status.lower if status else None, 4),
        "upper": _rounded(status.upper if status else None, 4),
        "interval": (status.interval_method or "") if status else "",
        "alert_id": status.alert_id if status else None,
        "threshold": None
        if status is None or status.threshold is None
        else round(status.threshold, 4),
        "slice": status.slice if status else "",
        "evidence_ref": status.evidence_ref if status else "",
        "model_version": status.model_version if status else "",
        "measured_at": f"{status.measured_at:%Y-%m-%d %H:%M}"
        if status and status.measured_at
        else "",
    }


def _rounded(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def _label(status: Status | None) -> str:
    return LABELS[status.status] if status is not None else "not computed"


def trace_export(ws: Workspace, project: str, fmt: str) -> str:
    """The matrix with its evidence as csv, html, yaml or reqif."""
    if fmt not in FORMATS:
        raise InvalidInput(expected_one_of("format", fmt, FORMATS))
    matrix = traceability_matrix(ws, project)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(TRACE_COLUMNS)
        for row in trace_rows(matrix):
            writer.writerow([safe_cell(row[c]) for c in TRACE_COLUMNS])
        return buffer.getvalue()
    if fmt == "reqif":
        document = requirement_document(ws, project)
        schema = requirement_schema(ws, project)
        return to_reqif(
            project, list(matrix.requirements.values()), matrix.statuses, document, schema
        )
    if fmt == "yaml":
        return yaml.safe_dump(
            _trace_document(matrix), sort_keys=False, allow_unicode=True, width=100
        )
    return html_report(ws, matrix, status_history(ws, project, limit=100))


def _trace_document(matrix: Matrix) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for rid, item in matrix.requirements.items():
        status = matrix.statuses.get(rid)
        entry: dict[str, Any] = {"id": rid, "level": item.level, "title": item.title}
        if item.is_ml:
            entry.update(
                check=item.check_text,
                evidence=item.evidence_text,
                derived_from=list(item.derived_from),
            )
        elif item.parent:
            entry["parent"] = item.parent
            if item.derived_from:  # derived from several: every one, the parent first
                entry["derived_from"] = list(item.derived_from)
        entry["status"] = status.status if status else None
        if status is not None:
            entry.update(
                value=status.value,
                n=status.n,
                lower=status.lower,
                upper=status.upper,
                interval=status.interval_method,
                min_n=status.min_n,
                threshold=status.threshold,
                slice=status.slice,
                evidence=status.evidence_ref,
                model_version=status.model_version,
            )
            if status.via:
                entry["via"] = status.via
            if status.alert_id is not None:
                entry["alert_id"] = status.alert_id
        out.append(entry)
    return {
        "project": matrix.project,
        "generated_at": f"{utcnow():%Y-%m-%d %H:%M} UTC",
        "coverage": {
            "system_without_ml": list(matrix.coverage.system_without_ml),
            "ml_without_evidence": list(matrix.coverage.ml_without_evidence),
        },
        "requirements": out,
    }


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1d2433}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #dde2ea;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f8} .sys td{background:#fafbfc;font-weight:600} .sys .muted{font-weight:400}
.badge{display:inline-block;border-radius:.6rem;padding:.05rem .5rem;color:#fff;font-size:.75rem}
.muted{color:#6b7689} .num{font-variant-numeric:tabular-nums;white-space:nowrap}
@media print{body{margin:0} h2{page-break-after:avoid} tr{page-break-inside:avoid}}
"""


def badge(status: str | None) -> str:
    key = status or "no_evidence"
    return f'<span class="badge" style="background:{COLORS.get(key, "#adb5bd")}">{escape(LABELS.get(key, key))}</span>'


def html_report(ws: Workspace, matrix: Matrix, history: Sequence[HistoryEntry]) -> str:
    project = get_project(ws, matrix.project)
    production = find_alias(ws, matrix.project)
    counts = matrix.coverage.by_status
    summary = " · ".join(
        f"{badge(s)} {counts.get(f'{level}.{s}', 0)}"
        for level in ("system",)
        for s in ("met", "violated", "inconclusive", "suspect", "no_evidence")
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(project.title)}: traceability</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(project.title)}: requirements traceability</h1>",
        f"<p class='muted'>Project {escape(project.name)} · production "
        f"{escape(production.ref) if production else 'none'} · generated "
        f"{utcnow():%Y-%m-%d %H:%M} UTC by Loopline</p>",
        f"<p>System requirements: {summary}</p>",
        f"<p class='muted'>{matrix.coverage.system} system and {matrix.coverage.ml} ML requirements; "
        f"without an ML requirement: {escape(', '.join(matrix.coverage.system_without_ml) or 'none')}; "
        f"ML requirements without evidence: {escape(', '.join(matrix.coverage.ml_without_evidence) or 'none')}.</p>",
        "<h2>Matrix</h2><table><tr><th>Requirement</th><th>Check</th><th>Evidence</th>"
        "<th>Status</th><th>Value vs threshold</th><th>Measured on</th></tr>",
    ]
    for row in matrix.rows:
        system = row.requirement
        pad = "&nbsp;" * 4 * row.depth
        parts.append(
            f"<tr class='sys'><td>{pad}{escape(system.requirement_id)} {escape(system.title)}"
            f"<div class='muted'>{escape(system.statement)}</div></td><td></td><td></td>"
            f"<td>{badge(row.status.status if row.status else None)}</td>"
            f"<td class='num'>{escape(_via(row.status))}</td><td></td></tr>"
        )
        for item, status in row.ml:
            parts.append(
                f"<tr><td>{pad}&nbsp;&nbsp;↳ {escape(item.requirement_id)} {escape(item.title)}</td>"
                f"<td>{escape(item.check_text)}</td><td>{escape(item.evidence_text)}</td>"
                f"<td>{badge(status.status if status else None)}</td>"
                f"<td class='num'>{escape(status.value_text if status else '—')}"
                f"<br><span class='muted'>{escape(status.interval_text if status else '')}"
                f"{escape(_alert_note(status))}</span></td>"
                f"<td>{escape((status.evidence_ref or '') if status else '')}</td></tr>"
            )
    parts.append("</table>")
    if history:
        parts.append(
            "<h2>Status changes</h2><table><tr><th>When (UTC)</th><th>Requirement</th><th>From</th>"
            "<th>To</th><th>Evidence</th><th>Cause</th></tr>"
        )
        for entry in history:
            parts.append(
                f"<tr><td class='num'>{entry.at:%Y-%m-%d %H:%M}</td><td>{escape(entry.requirement_id)}</td>"
                f"<td>{badge(entry.previous_status) if entry.previous_status else ''}</td>"
                f"<td>{badge(entry.status) if entry.status in COLORS else escape(entry.status)}</td>"
                f"<td>{escape(entry.evidence_ref or '')}</td><td>{escape(entry.cause)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _alert_note(status: Status | None) -> str:
    return f" · alert #{status.alert_id} open" if status and status.alert_id is not None else ""


def _via(status: Status | None) -> str:
    if status is None or not status.via:
        return ""
    return f"via {status.via}: {status.value_text}"


@dataclass(frozen=True)
class ModelCard:
    model: Artifact
    in_production: bool
    dataset: str | None
    label_set: str | None
    metrics: Mapping[str, float]
    requirements: tuple[tuple[Requirement, Status | None], ...]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item, status in self.requirements:
            if item.is_ml and status is not None:
                out[status.status] = out.get(status.status, 0) + 1
        return out


def model_card(ws: Workspace, project: str, version: int | None = None) -> ModelCard:
    """A model version's card: what it is, what it was trained on, and every requirement's status
    (the current one for the production model, what promoting it would give for another)."""
    production = find_alias(ws, project)
    if version is None and production is None:
        raise NotFound(f"{project!r} has no model in production.", hint="pass --version N")
    model = production if version is None else find_artifact(ws, f"model:{project}@{version}")
    if model is None:
        raise NotFound(
            f"No model version {version} in {project!r}.",
            hint=f"list them with `loopline models {project}`",
        )
    current = production is not None and production.artifact_id == model.artifact_id
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        items = select_current(tx, project)
        statuses = (
            select_statuses(tx, project)
            if current
            else what_if(tx, model_candidate(ws, project, model.artifact_id))
        )
        refs = dict(
            tx.rows(
                "SELECT artifact_id, kind || ':' || name || '@' || version FROM artifacts "
                "WHERE artifact_id IN (?, ?)",
                [model.metadata.get("dataset_id"), model.metadata.get("label_set_id")],
            )
        )
    metrics = {
        k: float(v)
        for k, v in (model.metadata.get("metrics") or {}).items()
        if isinstance(v, (int, float)) and k != "n"
    }
    return ModelCard(
        model,
        current,
        refs.get(model.metadata.get("dataset_id")),
        refs.get(model.metadata.get("label_set_id")),
        metrics,
        tuple((r, statuses.get(r.requirement_id)) for r in items),
    )


def model_card_markdown(card: ModelCard) -> str:
    model = card.model
    lines = [
        f"# Model card: {model.ref}",
        "",
        f"- Trainer: {model.metadata.get('trainer', '?')}; registered {model.created_at:%Y-%m-%d %H:%M} UTC by {model.created_by}",
        f"- Trained on {card.dataset or '?'} with {card.label_set or '?'}",
        f"- {'In production' if card.in_production else 'Not in production: statuses are what promoting it would give'}",
        "",
        "## Metrics (overall)",
        "",
        *[f"- {k}: {v:.4g}" for k, v in sorted(card.metrics.items())],
        "",
        "## Requirements",
        "",
        "| id | requirement | check | status | value vs threshold | evidence |",
        "|---|---|---|---|---|---|",
    ]
    for item, status in card.requirements:
        cells = [
            item.requirement_id,
            item.title,
            item.check_text or "(system requirement)",
            _label(status),
            status.value_text if status else "—",
            (status.evidence_ref or "") if status else "",
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def model_card_html(card: ModelCard) -> str:
    body = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Model card {escape(card.model.ref)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Model card: {escape(card.model.ref)}</h1>",
        f"<p class='muted'>Trainer {escape(str(card.model.metadata.get('trainer', '?')))} · trained on "
        f"{escape(card.dataset or '?')} with {escape(card.label_set or '?')} · "
        f"{'in production' if card.in_production else 'not in production (statuses if it were promoted)'}</p>",
        "<h2>Metrics</h2><table>",
        *[
            f"<tr><td>{escape(k)}</td><td class='num'>{v:.4g}</td></tr>"
            for k, v in sorted(card.metrics.items())
        ],
        "</table><h2>Requirements</h2><table><tr><th>Requirement</th><th>Check</th><th>Status</th>"
        "<th>Value vs threshold</th><th>Evidence</th></tr>",
    ]
    for item, status in card.requirements:
        body.append(
            f"<tr class='{'sys' if item.level == 'system' else ''}'><td>{escape(item.requirement_id)} "
            f"{escape(item.title)}</td><td>{escape(item.check_text)}</td>"
            f"<td>{badge(status.status if status else None)}</td>"
            f"<td class='num'>{escape(status.value_text if status else '—')}</td>"
            f"<td>{escape((status.evidence_ref or '') if status else '')}</td></tr>"
        )
    body.append("</table></body></html>")
    return "\n".join(body)
