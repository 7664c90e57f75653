"""The loop back from an alert: live items to a labeling task, and a retraining request.

*Send to labeling* picks the alert's live items most worth labeling — they lie in the drifted
region (the category values whose share grew, the Sturges bins of a numeric feature whose share
grew, texts with many tokens the reference never saw; items in more of these regions first) and
the model is unsure of them (small margin between its two most likely classes) — and creates a labeling task over them in uncertainty
order, the alert recorded as its trigger. Items the project's datasets hold are labeled from
there; the others are registered from their logged inputs as a new dataset version, linked to the
alert. When the task's labels are frozen, the label set is linked to the alert too, so lineage
reads alert → items → label set → build → model.

*Request retraining* is in ``retrain.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb
import numpy as np
import pandas as pd

from core.accounts.audit import record
from core.actor import Actor
from core.artifacts.models import Artifact
from core.artifacts.service import find_artifact
from core.data.service import dataset_rows_path, ingest, latest_dataset
from core.errors import InvalidInput
from core.labeling.models import Task, TaskFilter
from core.labeling.tasks import create_task, list_tasks
from core.monitoring.alerts import get_alert
from core.monitoring.drift import NOVELTY_DRIFT
from core.monitoring.log import FEATURE_PREFIX, LogReader, quote
from core.monitoring.models import Alert, FeatureReference, count
from core.monitoring.reference import TOKENS, ensure_reference
from core.monitoring.retrain import link
from core.monitoring.service import bucket_sql
from core.monitoring.stats import sturges_edges
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.store import Workspace

DEFAULT_ITEMS = 200
REGION_FEATURES = 3  # at most this many drifted features shape the region
GROWTH_COVERED = 0.8  # the grown values / bins that hold this share of the growth


def _grown(keys: list[Any], reference: np.ndarray, current: np.ndarray) -> list[Any]:
    """The keys whose share grew, largest growth first, until most of the growth is covered."""
    if reference.sum() == 0 or current.sum() == 0:
        return []
    growth = current / current.sum() - reference / reference.sum()
    order = [i for i in np.argsort(-growth) if growth[i] > 0]
    total, covered, chosen = float(growth[order].sum()) if order else 0.0, 0.0, []
    for i in order:
        chosen.append(keys[i])
        covered += float(growth[i])
        if covered >= GROWTH_COVERED * total:
            break
    return chosen


Region = tuple[str, dict[str, Any], str]  # SQL condition, its parameters, what it is in words


def _region(reader: LogReader, ref: FeatureReference) -> Region | None:
    """A SQL condition on ``candidates`` for the feature's drifted region, its parameters and a
    sentence saying what it is."""
    feature = ref.feature
    expr = feature.sql(FEATURE_PREFIX)
    key = feature.name.replace(".", "_")
    if feature.kind == "vocabulary":
        return _unseen_tokens(reader, ref, expr, key)
    rows = reader.rows(
        f"SELECT {expr} AS v, count(*) FROM candidates WHERE v IS NOT NULL GROUP BY v"
    )
    if not rows:
        return None
    current = {v: float(c) for v, c in rows}
    if feature.kind == "category":
        return _grown_categories(ref, current, expr, key)
    if ref.per_value:
        return _grown_values(ref, current, expr, key)
    return _grown_bins(ref, current, expr, key)


def _unseen_tokens(reader: LogReader, ref: FeatureReference, expr: str, key: str) -> Region:
    """Texts with at least the reference's held-out share of unseen tokens plus the drift margin."""
    feature = ref.feature
    baseline = float(ref.details.get("held_out_novelty") or 0.0)
    reader.con.execute(
        f"CREATE OR REPLACE TEMP TABLE vocabulary_{key} AS SELECT unnest(?::VARCHAR[]) AS token",
        [list(ref.categories)],
    )
    reader.con.execute(
        f"CREATE OR REPLACE TEMP TABLE novelty_{key} AS SELECT request_id, "
        "avg(CASE WHEN v.token IS NULL THEN 1.0 ELSE 0.0 END) AS novelty FROM (SELECT request_id, "
        f"unnest(regexp_extract_all({expr}, '{TOKENS}')) AS token FROM candidates) t "
        f"LEFT JOIN vocabulary_{key} v USING (token) GROUP BY request_id"
    )
    limit = baseline + NOVELTY_DRIFT
    return (
        f"request_id IN (SELECT request_id FROM novelty_{key} WHERE novelty >= ${key})",
        {key: limit},
        f"{feature.column} has at least {limit:.0%} tokens unseen in training",
    )


def _grown_categories(
    ref: FeatureReference, current: dict[Any, float], expr: str, key: str
) -> Region | None:
    """The category values whose share grew."""
    keys = sorted(set(ref.categories) | {str(k) for k in current})
    chosen = _grown(
        keys,
        np.array([ref.categories.get(k, 0.0) for k in keys]),
        np.array([current.get(k, 0.0) for k in keys]),
    )
    if not chosen:
        return None
    return (
        f"{expr} IN (SELECT unnest(${key}::VARCHAR[]))",
        {key: chosen},
        f"{ref.feature.name} in {chosen}",
    )


def _grown_values(
    ref: FeatureReference, current: dict[Any, float], expr: str, key: str
) -> Region | None:
    """The numbers (of a feature with few distinct values) whose share grew."""
    dist = ref.distribution
    assert dist is not None
    reference = dist.value_counts()
    numbers: list[float] = sorted(set(reference) | {float(k) for k in current})
    chosen = _grown(
        numbers,
        np.array([reference.get(k, 0.0) for k in numbers]),
        np.array([current.get(k, 0.0) for k in numbers]),
    )
    if not chosen:
        return None
    return (
        f"{expr} IN (SELECT unnest(${key}::DOUBLE[]))",
        {key: chosen},
        f"{ref.feature.name} in {chosen}",
    )


def _grown_bins(
    ref: FeatureReference, current: dict[Any, float], expr: str, key: str
) -> Region | None:
    """The Sturges bins (over the reference's and the live range) whose share grew."""
    feature, dist = ref.feature, ref.distribution
    assert dist is not None
    values = np.array(list(current), dtype=float)
    counts = np.array(list(current.values()))
    edges = sturges_edges(
        min(dist.minimum, values.min()),
        max(dist.maximum, values.max()),
        dist.n + int(counts.sum()),
        feature.integer,
    )
    mine = np.histogram(values, edges, weights=counts)[0]
    bins = _grown(list(range(len(edges) - 1)), dist.histogram(edges), mine)
    if not bins:
        return None
    spans = [(float(edges[i]), float(edges[i + 1])) for i in sorted(bins)]
    condition = " OR ".join(
        f"({expr} >= ${key}_lo[{n + 1}] AND {expr} {'<=' if hi == edges[-1] else '<'} ${key}_hi[{n + 1}])"
        for n, (_, hi) in enumerate(spans)
    )
    described = ", ".join(f"{lo:.4g}…{hi:.4g}" for lo, hi in spans)
    return (
        f"({condition})",
        {f"{key}_lo": [lo for lo, _ in spans], f"{key}_hi": [hi for _, hi in spans]},
        f"{feature.name} in {described}",
    )


def drifted_items(
    ws: Workspace, alert: Alert, limit: int = DEFAULT_ITEMS
) -> tuple[pd.DataFrame, list[str]]:
    """The alert's live predictions most worth labeling (uncertain, in the drifted region), with
    the sentences that describe the region."""
    spec = get_project(ws, alert.project).spec
    model = _alert_model(ws, alert)
    reference = ensure_reference(ws, model) if model is not None else None
    classes = list(spec.labels.classes)
    with LogReader(ws.root, alert.project) as reader:
        if reader.empty or not all(reader.has(f"p_{c}") for c in classes):
            raise InvalidInput(
                f"The prediction log of {alert.project} holds no predictions with probabilities to label."
            )
        bucket = bucket_sql(alert.grain)
        probabilities = ", ".join(quote(f"p_{c}") for c in classes)
        reader.con.execute(
            f"CREATE OR REPLACE TEMP TABLE candidates AS SELECT *, 1 - (list_sort([{probabilities}], 'DESC')[1] "
            f"- list_sort([{probabilities}], 'DESC')[2]) AS uncertainty FROM predictions "
            f"WHERE prediction IS NOT NULL AND {bucket} >= ? AND {bucket} <= ? "
            "QUALIFY row_number() OVER (PARTITION BY coalesce(item_id, request_id) ORDER BY ts DESC) = 1",
            [alert.first_window, alert.last_window],
        )
        conditions, params, described = [], {}, []
        if reference is not None:
            for ref in _region_features(alert, reference):
                found = _region(reader, ref)
                if found is not None:
                    conditions.append(found[0])
                    params.update(found[1])
                    described.append(found[2])
        # how many drifted regions a row lies in, then how unsure the model is of it
        inside = " + ".join(f"CASE WHEN {c} THEN 1 ELSE 0 END" for c in conditions) or "1"
        frame = reader.con.execute(
            f"SELECT * FROM (SELECT *, {inside} AS regions FROM candidates) WHERE regions > 0 "
            "ORDER BY regions DESC, uncertainty DESC, request_id LIMIT $limit",
            {**params, "limit": int(limit)},
        ).fetchdf()
    return frame, described


def _alert_model(ws: Workspace, alert: Alert) -> Any:
    return find_artifact(ws, alert.model_id) if alert.model_id else None


def _region_features(alert: Alert, reference: Any) -> list[FeatureReference]:
    drift = alert.evidence.get("drift") or []
    wanted: list[str] = []
    if alert.metric.startswith("drift.") and alert.metric.count(".") >= 2:
        wanted.append(alert.metric.split(".", 2)[2])
    wanted += [d["feature"] for d in drift if d.get("drifted") and d["feature"] != "prediction"]
    out: list[FeatureReference] = []
    for name in wanted:
        if name in reference.features and reference.features[name] not in out:
            out.append(reference.features[name])
    return out[:REGION_FEATURES]


def _rows_to_register(spec: ProjectSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The project's columns rebuilt from logged inputs (the id: the item id, else the request)."""
    out = pd.DataFrame(index=frame.index)
    for column in spec.column_names:
        logged = FEATURE_PREFIX + column
        if column == spec.id_column:
            out[column] = frame["item_id"].where(
                frame["item_id"].notna(), "req-" + frame["request_id"]
            )
        elif logged in frame:
            out[column] = frame[logged]
        elif column == spec.time_column:
            out[column] = frame["ts"]
    missing = [c.name for c in spec.columns if c.required and c.name not in out]
    if missing:
        raise InvalidInput(
            f"The log lacks the required column(s) {missing} of {spec.name!r}, so the live items "
            "cannot be registered as a dataset to label.",
            hint="send every required field in the prediction requests (they are logged as f_<field>)",
        )
    return out.reset_index(drop=True)


def send_to_labeling(
    ws: Workspace,
    alert_id: int,
    actor: Actor,
    *,
    limit: int = DEFAULT_ITEMS,
    name: str | None = None,
    overlap: int = 1,
) -> Task:
    """A labeling task of the alert's drifted live items the model is least sure of."""
    if not 1 <= limit <= 10_000:
        raise InvalidInput(f"Send 1 to 10,000 items to labeling, got {limit}.")
    alert = get_alert(ws, alert_id)
    spec = _spec(ws, alert.project)
    frame, region = drifted_items(ws, alert, limit)
    if frame.empty:
        raise InvalidInput(
            f"Alert #{alert.alert_id} has no live predictions in its windows to label.",
            hint="run `loopline monitor` after the service has logged predictions",
        )
    keys = (
        frame["item_id"].where(frame["item_id"].notna(), "req-" + frame["request_id"]).astype(str)
    )
    dataset, registered = _dataset_to_label(ws, alert, spec, frame, keys, actor)
    task = create_task(
        ws,
        alert.project,
        actor,
        name=name or task_name(alert, len(frame)),
        dataset=dataset.artifact_id,
        task_filter=TaskFilter(item_ids=tuple(keys)),
        overlap=overlap,
        ordering="uncertainty",
        uncertainty="margin",
        probabilities=_probabilities(spec, frame, keys),
        model_id=alert.model_id,
        instructions=_instructions(alert, region),
        trigger_id=alert.artifact_id,
    )
    with ws.store.transaction() as tx:
        record(
            tx,
            actor,
            "alert.task",
            project=alert.project,
            target=f"alert #{alert.alert_id}",
            details={
                "task_id": task.task_id,
                "items": task.items,
                "region": region,
                "new_dataset": registered.ref if registered else None,
            },
        )
    return task


def _dataset_to_label(
    ws: Workspace,
    alert: Alert,
    spec: ProjectSpec,
    frame: pd.DataFrame,
    keys: pd.Series,
    actor: Actor,
) -> tuple[Artifact, Artifact | None]:
    """The dataset version the task labels, and the one registered for it (if any): the latest
    version when it holds every item, else a new one with the items it lacks (rebuilt from their
    logged inputs), linked to the alert."""
    dataset = latest_dataset(ws, alert.project)
    known = _known_ids(ws, spec, dataset, keys.tolist()) if dataset is not None else set()
    fresh = frame[~keys.isin(known).to_numpy()]
    if dataset is not None and not len(fresh):
        return dataset, None
    rows = _rows_to_register(spec, fresh)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"alert-{alert.alert_id}-live-items.parquet"
        rows.to_parquet(path, index=False)
        registered = ingest(ws, alert.project, path, actor).dataset
    if alert.artifact_id:
        with ws.store.transaction() as tx:
            link(tx, registered.artifact_id, "triggered_by", alert.artifact_id)
    return registered, registered


def _known_ids(ws: Workspace, spec: ProjectSpec, dataset: Artifact, keys: list[str]) -> set[str]:
    """Which of ``keys`` the dataset version already holds (by the project's id column)."""
    column = quote(spec.id_column)
    with duckdb.connect() as con:
        return {
            str(r[0])
            for r in con.execute(
                f"SELECT CAST({column} AS VARCHAR) FROM read_parquet(?) "
                f"WHERE CAST({column} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))",
                [str(dataset_rows_path(ws, dataset)), keys],
            ).fetchall()
        }


def _probabilities(spec: ProjectSpec, frame: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """What the model answered in production, per item: the task's suggestions and order."""
    classes = list(spec.labels.classes)
    return pd.DataFrame(
        frame[[f"p_{c}" for c in classes]].to_numpy(dtype=float),
        index=keys.to_numpy(),
        columns=classes,
    )


def task_name(alert: Alert, items: int) -> str:
    """A task made from an alert, named as a sentence: ``Label 300 live items the model was
    least sure of: accuracy on language = de was 0.71 in the week of 2026-08-24, below 0.87
    (alert #12)``."""
    return (
        f"Label {count(items, 'live item')} the model was least sure of: "
        f"{alert.sentence()} (alert #{alert.alert_id})"
    )


def _instructions(alert: Alert, region: list[str]) -> str:
    where = (
        "They come from the drifted region (" + "; ".join(region) + ")"
        if region
        else "They are the ones the model was least sure of"
    )
    return (
        f"Monitoring raised alert #{alert.alert_id} because {alert.sentence()}. {where}. "
        "The suggestion is what the model answered in production."
    )


def _spec(ws: Workspace, project: str) -> ProjectSpec:
    return get_project(ws, project).spec


def tasks_of(ws: Workspace, alert: Alert) -> list[Task]:
    """The labeling tasks sent from an alert."""
    if alert.artifact_id is None:
        return []
    return [t for t in list_tasks(ws, alert.project) if t.trigger_id == alert.artifact_id]
