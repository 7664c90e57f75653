"""Requirements in `loopline build`: the ML requirements whose evidence is the build become a gate
check (``requirements`` in the gate's registry), so a violated one fails the build by its id."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from core.artifacts.models import Artifact
from core.builds.gate import MeetsRequirements
from core.errors import InvalidInput, NotFound
from core.requirements.service import select_current
from core.requirements.status import missing_rates, workspace_root
from core.store import BlobStore, Workspace


def requirement_check(
    ws: Workspace,
    project: str,
    checks: Sequence[Any],
    *,
    run_id: int | None = None,
    run_metrics: Mapping[str, float | None] | None = None,
    label_set: Artifact | None = None,
    dataset: Artifact | None = None,
) -> list[Any]:
    """``checks`` with the requirements check filled in: the one the gate file lists (its ``ids``
    choose the requirements), else one added for every ML requirement with evidence 'build'.
    The run's overall metrics are read from run ``run_id``, or given (``run_metrics``: a run not
    recorded yet, such as a remote build's)."""
    with ws.store.read() as tx:
        current = [r for r in select_current(tx, project) if r.is_ml]
        listed = [c for c in checks if isinstance(c, MeetsRequirements)]
        if not listed and not any("build" in r.evidence for r in current):
            return list(checks)
        extra = run_figures(tx, run_id, label_set, dataset, run_metrics)
    out: list[Any] = []
    for check in checks if listed else [*checks, MeetsRequirements()]:
        if isinstance(check, MeetsRequirements):
            wanted = tuple(check.ids)
            unknown = sorted(set(wanted) - {r.requirement_id for r in current})
            if unknown:
                raise InvalidInput(
                    f"The gate names requirement(s) {', '.join(unknown)}, which {project!r} does "
                    "not have.",
                    hint=f"list them with `loopline requirements list {project}`",
                )
            _refuse_unchecked(project, [r for r in current if r.requirement_id in wanted])
            chosen = [
                r
                for r in current
                if r.has_check and (r.requirement_id in wanted if wanted else "build" in r.evidence)
            ]
            check = dataclasses.replace(
                check,
                ids=wanted,
                rules=tuple(r.rule() for r in chosen),
                extra=extra,
                min_n={r.requirement_id: r.minimum_sample for r in chosen},
            )
        out.append(check)
    return out


def _refuse_unchecked(project: str, named: Sequence[Any]) -> None:
    """A requirement the gate names must have a check (one imported from a requirements tool
    may have none yet); unnamed ones without a check are skipped."""
    unchecked = [r.requirement_id for r in named if not r.has_check]
    if unchecked:
        raise InvalidInput(
            f"The gate names requirement(s) {', '.join(unchecked)} of {project!r}, which have "
            "no check yet (no metric and comparator): a build cannot judge them.",
            hint="give each a metric, comparator and threshold in the requirements file, or "
            "leave it out of the gate's requirements ids",
        )


def run_figures(
    tx: Any,
    run_id: int | None,
    label_set: Artifact | None,
    dataset: Artifact | None,
    run_metrics: Mapping[str, float | None] | None = None,
) -> dict[str, float]:
    """Figures of a build that its evaluation does not hold: training time and model size (from
    the run, or ``run_metrics``), label agreement (of the label set), missing-value rates (of the
    dataset)."""
    given = run_metrics if run_metrics is not None else {}
    rows = (
        tx.rows(
            "SELECT key, value FROM run_metrics WHERE run_id = ? AND slice = '' AND value IS NOT NULL",
            [run_id],
        )
        if run_id is not None
        else list(given.items())
    )
    out = {str(key): float(value) for key, value in rows if value is not None}
    if label_set is not None and label_set.metadata.get("alpha") is not None:
        out["label_agreement"] = float(label_set.metadata["alpha"])
    if dataset is not None:
        row = tx.one(
            """
            SELECT f.blob_hash FROM artifacts a JOIN artifact_files f ON f.artifact_id = a.artifact_id
            WHERE a.kind = 'report' AND f.role = 'report.json'
              AND json_extract_string(a.metadata, '$.report') = 'data_quality'
              AND TRY_CAST(json_extract_string(a.metadata, '$.dataset_id') AS BIGINT) = ?
            """,
            [dataset.artifact_id],
        )
        if row is not None:
            try:
                report = json.loads(BlobStore(workspace_root(tx) / "objects").read_bytes(row[0]))
                out.update(missing_rates(report))
            except (NotFound, ValueError):
                pass
    return out
