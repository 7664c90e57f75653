"""A candidate against production on the same live traffic.

While a candidate runs beside production (``loopline serve --shadow`` or ``--canary``), every
request is scored by both models: the one that answered in the prediction log, the other in the
shadow log, joined by ``request_id``. From those pairs (and the feedback that came back for them):

- **agreement**: the share of requests both models label the same, with its Wilson interval;
- **estimated accuracy**: each model's mean confidence on the same requests (what it expects of
  itself before any label returns);
- **realized accuracy** (with feedback): each model's share of correct answers on the labeled
  requests, with Wilson intervals;
- **latency**: each model's median and p95 model time per item;
- the same per slice (the project's column slices), with ``n`` per slice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.accounts.access import readable
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.serving.log import FEEDBACK, PREDICTIONS, SHADOW, input_column, log_glob, segments
from core.stats import wilson
from core.store import Workspace

MIN_SLICE = 20  # a slice with fewer paired requests is shown, greyed as too few to judge


@dataclass(frozen=True)
class Rate:
    """A share of ``n`` with its 95% Wilson interval (None when n is 0)."""

    value: float | None
    n: int
    lower: float | None
    upper: float | None

    def text(self) -> str:
        if self.value is None:
            return "n = 0"
        return f"{self.value:.3f} (n = {self.n:,}, 95% CI {self.lower:.3f}–{self.upper:.3f})"


@dataclass(frozen=True)
class SideFigures:
    """One model's figures on the paired requests."""

    model_id: int
    estimated_accuracy: float | None  # mean confidence
    realized_accuracy: Rate  # on the labeled pairs
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    answered: int  # of the paired requests, how many this model answered


@dataclass(frozen=True)
class SliceComparison:
    slice: str  # ``channel = mail``
    n: int
    agreement: Rate
    production_accuracy: Rate
    candidate_accuracy: Rate

    @property
    def judged(self) -> bool:
        return self.n >= MIN_SLICE


@dataclass(frozen=True)
class CandidateComparison:
    project: str
    production_id: int
    candidate_id: int
    pairs: int  # requests both models scored
    canary_answers: int  # of them, answered by the candidate
    agreement: Rate
    production: SideFigures
    candidate: SideFigures
    slices: tuple[SliceComparison, ...]

    @property
    def mode(self) -> str:
        return "canary" if self.canary_answers else "shadow"


def _rate(successes: float, n: int) -> Rate:
    if n <= 0:
        return Rate(None, 0, None, None)
    interval = wilson(successes, n)
    return Rate(successes / n, n, interval.lower, interval.upper)


def compare_candidate(
    ws: Workspace, project: str, production_id: int, candidate_id: int
) -> CandidateComparison:
    """Production ``production_id`` and ``candidate_id`` on the requests both scored."""
    readable(ws, None, "monitoring.read", project)
    root = ws.root
    spec = get_project(ws, project).spec
    frame = paired(root, project, production_id, candidate_id, spec)
    return _comparison(project, production_id, candidate_id, frame, spec)


def paired(
    root: Path, project: str, production_id: int, candidate_id: int, spec: ProjectSpec | None
) -> Any:
    """One row per request both models scored: each model's prediction, confidence, latency,
    who answered, the returned label (NULL without feedback) and the slice columns."""
    import duckdb
    import pandas as pd

    if not segments(root, project, SHADOW) or not segments(root, project, PREDICTIONS):
        return pd.DataFrame()
    columns = _slice_columns(spec)
    picked = ", ".join(f'a."{c}" AS "{c}"' for c in columns)
    feedback = segments(root, project, FEEDBACK)
    label = (
        "(SELECT last(label ORDER BY received_at) FROM read_parquet($feedback, "
        "union_by_name = true) f WHERE f.request_id = a.request_id)"
        if feedback
        else "NULL"
    )
    params: dict[str, Any] = {
        "answers": log_glob(root, project, PREDICTIONS),
        "shadow": log_glob(root, project, SHADOW),
        "production": str(production_id),
        "candidate": str(candidate_id),
    }
    if feedback:
        params["feedback"] = log_glob(root, project, FEEDBACK)
    mine = "CAST(a.model_id AS VARCHAR) = $production"
    both = {
        f"{who}_{what}": f"CASE WHEN {mine} THEN {first}.{column} ELSE {second}.{column} END"
        for who, first, second in (("production", "a", "s"), ("candidate", "s", "a"))
        for what, column in (
            ("prediction", "prediction"),
            ("confidence", "confidence"),
            ("latency", "latency_ms"),
        )
    }
    selected = ", ".join(f"{expression} AS {name}" for name, expression in both.items())
    sql = f"""
        SELECT a.request_id, CAST(a.model_id AS VARCHAR) = $candidate AS candidate_answered,
               {selected}, {label} AS label{", " + picked if picked else ""}
        FROM read_parquet($answers, union_by_name = true) a
        JOIN read_parquet($shadow, union_by_name = true) s USING (request_id)
        WHERE a.error IS NULL AND s.error IS NULL
          AND ((CAST(a.model_id AS VARCHAR) = $production
                AND CAST(s.model_id AS VARCHAR) = $candidate)
            OR (CAST(a.model_id AS VARCHAR) = $candidate
                AND CAST(s.model_id AS VARCHAR) = $production))
    """
    with duckdb.connect() as con:
        return con.execute(sql, params).df()


def _slice_columns(spec: ProjectSpec | None) -> list[str]:
    """The logged columns of the project's plain column slices (derived and binned ones need
    the project's slicing rules; the build's and monitoring's tables show those)."""
    if spec is None:
        return []
    return [
        input_column(s.column)
        for s in spec.slices
        if s.derive is None and not getattr(s, "bins", None) and s.column != spec.id_column
    ]


def _side(frame: Any, who: str, model_id: int, labeled: Any) -> SideFigures:
    if frame.empty:
        return SideFigures(model_id, None, _rate(0, 0), None, None, 0)
    latency = frame[f"{who}_latency"].dropna()
    correct = (labeled[f"{who}_prediction"] == labeled["label"]).sum()
    answered = frame["candidate_answered"] if who == "candidate" else ~frame["candidate_answered"]
    return SideFigures(
        model_id,
        float(frame[f"{who}_confidence"].mean()),
        _rate(float(correct), len(labeled)),
        float(latency.quantile(0.5)) if len(latency) else None,
        float(latency.quantile(0.95)) if len(latency) else None,
        int(answered.sum()),
    )


def _slices(frame: Any, spec: ProjectSpec | None) -> tuple[SliceComparison, ...]:
    if frame.empty or spec is None:
        return ()
    out = []
    for s in spec.slices:
        column = input_column(s.column)
        if column not in frame.columns:
            continue
        for value, group in frame.groupby(column, dropna=True):
            labeled = group[group["label"].notna()]
            out.append(
                SliceComparison(
                    f"{s.name} = {value}",
                    len(group),
                    _agreement(group),
                    _rate(
                        float((labeled["production_prediction"] == labeled["label"]).sum()),
                        len(labeled),
                    ),
                    _rate(
                        float((labeled["candidate_prediction"] == labeled["label"]).sum()),
                        len(labeled),
                    ),
                )
            )
    return tuple(out)


def _agreement(frame: Any) -> Rate:
    same = (frame["production_prediction"] == frame["candidate_prediction"]).sum()
    return _rate(float(same), len(frame))


def _comparison(
    project: str, production_id: int, candidate_id: int, frame: Any, spec: ProjectSpec | None
) -> CandidateComparison:
    if frame.empty:
        labeled = frame
        agreement = _rate(0, 0)
        canary = 0
    else:
        labeled = frame[frame["label"].notna()]
        agreement = _agreement(frame)
        canary = int(frame["candidate_answered"].sum())
    return CandidateComparison(
        project,
        production_id,
        candidate_id,
        len(frame),
        canary,
        agreement,
        _side(frame, "production", production_id, labeled),
        _side(frame, "candidate", candidate_id, labeled),
        _slices(frame, spec),
    )
