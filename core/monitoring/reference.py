"""Reference statistics: a model version's training data, summarized once and stored.

The reference of a model is the training part of the label set it was trained on (model → run →
label set and dataset): per monitored feature a distribution (exact value counts, or a quantile
sketch above ``EXACT_LIMIT`` distinct values), category counts, and each text field's length and
vocabulary; the model's own predictions on it (for prediction drift); calibration curves fitted on
the label set's test part (for estimated performance); and the model's evaluation, overall and per
slice (what alert rules compare against). Window drift then needs only the window's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import numpy as np

from core.actor import SYSTEM, Actor
from core.artifacts.models import Artifact
from core.errors import NotFound
from core.monitoring.estimate import fit_calibration
from core.monitoring.models import Feature, FeatureReference, Reference
from core.monitoring.stats import Distribution
from core.projects.spec import ProjectSpec
from core.store import Tx, Workspace, utcnow
from core.store.audit import record

TOKENS = r"\p{L}{2,}"  # a token: two or more letters (any script), lowercased first
MAX_CATEGORIES = 5000  # a category's most frequent values kept in the reference


def monitored_features(spec: ProjectSpec) -> list[Feature]:
    """What the model reads (text fields as length + vocabulary), category columns, the output."""
    types = {c.name: c.type for c in spec.columns}
    names = list(spec.inputs)
    names += [
        c.name
        for c in spec.columns
        if c.type == "category" and c.name not in names and c.name != spec.id_column
    ]
    out: list[Feature] = []
    for name in names:
        kind = types[name]
        if name in spec.text_fields or kind == "text":
            out.append(Feature(f"{name}.length", name, "numeric", integer=True))
            out.append(Feature(name, name, "vocabulary"))
        elif kind in ("integer", "number"):
            out.append(Feature(name, name, "numeric", integer=kind == "integer"))
        elif kind != "datetime":
            out.append(Feature(name, name, "category"))
    out.append(Feature("prediction", "prediction", "category"))
    return out


def summarize(
    con: duckdb.DuckDBPyConnection, table: str, features: Iterable[Feature], prefix: str = ""
) -> dict[str, FeatureReference]:
    """Reference statistics of ``features`` over ``table`` (a view or registered frame)."""
    out: dict[str, FeatureReference] = {}
    for feature in features:
        expr = feature.sql(prefix)
        total, present = con.execute(f"SELECT count(*), count({expr}) FROM {table}").fetchone() or (
            0,
            0,
        )
        missing = int(total) - int(present)
        if feature.kind == "numeric":
            values = con.execute(
                f"SELECT {expr} AS x FROM {table} WHERE x IS NOT NULL AND isfinite(x)"
            ).fetchnumpy()["x"]
            distribution = Distribution.from_values(np.asarray(values, dtype=float))
            out[feature.name] = FeatureReference(feature, distribution.n, missing, distribution)
        elif feature.kind == "category":
            rows = con.execute(
                f"SELECT {expr} AS v, count(*) AS c FROM {table} WHERE v IS NOT NULL "
                "GROUP BY v ORDER BY c DESC, v LIMIT ?",
                [MAX_CATEGORIES],
            ).fetchall()
            counts = {str(v): float(c) for v, c in rows}
            out[feature.name] = FeatureReference(
                feature, int(present), missing, categories=counts, details={"kept": len(counts)}
            )
        else:
            vocabulary = token_counts(con, table, expr)
            out[feature.name] = FeatureReference(
                feature,
                int(sum(vocabulary.values())),
                missing,
                categories=vocabulary,
                details={"tokens": int(sum(vocabulary.values())), "types": len(vocabulary)},
            )
    return out


def token_counts(con: duckdb.DuckDBPyConnection, table: str, expr: str) -> dict[str, float]:
    rows = con.execute(
        f"SELECT token, count(*) FROM (SELECT unnest(regexp_extract_all({expr}, '{TOKENS}')) "
        f"AS token FROM {table}) GROUP BY token"
    ).fetchall()
    return {str(t): float(c) for t, c in rows}


def novelty(
    con: duckdb.DuckDBPyConnection, table: str, expr: str, vocabulary: Sequence[str]
) -> float:
    """Share of the tokens in ``table`` that the vocabulary lacks."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE vocabulary AS SELECT unnest(?::VARCHAR[]) AS token",
        [list(vocabulary)],
    )
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE v.token IS NULL) FROM (SELECT "
        f"unnest(regexp_extract_all({expr}, '{TOKENS}')) AS token FROM {table}) t "
        "LEFT JOIN vocabulary v USING (token)"
    ).fetchone()
    return float(row[1] / row[0]) if row and row[0] else float("nan")


def _evaluation(ws: Workspace, model: Artifact) -> dict[str, dict[str, float]]:
    from core.artifacts.service import read_file

    out: dict[str, dict[str, float]] = {"": dict(model.metadata.get("metrics") or {})}
    if any(f.role == "evaluation.json" for f in model.files):
        data = json.loads(read_file(ws, model, "evaluation.json"))
        out[""] = {**data.get("overall", {}), **out[""]}
        out.update({str(k): dict(v) for k, v in (data.get("slices") or {}).items()})
    return out


def compute_reference(ws: Workspace, model: Artifact) -> Reference:
    """Summarize the model's training data (no store writes)."""
    from core.artifacts.service import get_artifact
    from core.models.data import training_data
    from core.projects.service import get_project
    from core.registry.service import load_model

    label_set_id = model.metadata.get("label_set_id")
    if not label_set_id:
        raise NotFound(
            f"{model.ref} records no training label set, so it has no reference to compare with.",
            hint="monitor a model registered from a training run (`loopline build` or `loopline register`)",
        )
    spec = get_project(ws, str(model.project)).spec
    data = training_data(ws, spec, get_artifact(ws, int(label_set_id)))
    train, test = data.part(test=False), data.part(test=True)
    trained = load_model(ws, model)
    frame = train.frame.copy()
    frame["prediction"] = trained.predict(frame, spec)
    features = monitored_features(spec)
    con = duckdb.connect()
    try:
        con.register("reference_rows", frame)
        stats = summarize(con, "reference_rows", features)
        if len(test.frame):
            con.register("held_out", test.frame)
            for ref in [r for r in stats.values() if r.feature.kind == "vocabulary"]:
                baseline = novelty(con, "held_out", ref.feature.sql(""), list(ref.categories))
                stats[ref.feature.name] = FeatureReference(
                    ref.feature,
                    ref.n,
                    ref.missing,
                    categories=ref.categories,
                    details={**ref.details, "held_out_novelty": baseline},
                )
    finally:
        con.close()
    calibration: dict[str, np.ndarray] = {}
    if len(test.frame):
        probabilities = trained.predict_proba(test.frame, spec)
        calibration = fit_calibration(
            probabilities, list(test.labels), list(spec.labels.classes), spec.labels.positive
        )
    return Reference(
        model_id=model.artifact_id,
        project=str(model.project),
        dataset_id=data.dataset.artifact_id,
        label_set_id=int(label_set_id),
        rows=len(frame),
        labeled_rows=len(test.frame),
        evaluation=_evaluation(ws, model),
        features=stats,
        calibration=calibration,
    )


def store_reference(tx: Tx, reference: Reference, actor: Actor) -> None:
    """Write a reference (replacing any earlier one of the same model) in the caller's transaction."""
    model_id = reference.model_id
    tx.execute("DELETE FROM monitor_references WHERE model_id = ?", [model_id])
    tx.execute("DELETE FROM monitor_reference_sets WHERE model_id = ?", [model_id])
    now = utcnow()
    tx.execute(
        "INSERT INTO monitor_reference_sets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            model_id,
            reference.project,
            reference.dataset_id,
            reference.label_set_id,
            reference.rows,
            reference.labeled_rows,
            json.dumps(reference.evaluation, sort_keys=True),
            now,
            actor.name,
        ],
    )
    rows: list[list[Any]] = []
    for ref in reference.features.values():
        d = ref.distribution
        rows.append(
            [
                model_id,
                ref.feature.name,
                ref.feature.kind,
                ref.n,
                ref.missing,
                d.distinct if d is not None else len(ref.categories),
                d.exact if d is not None else True,
                ref.feature.integer,
                d.minimum if d is not None and d.n else None,
                d.maximum if d is not None and d.n else None,
                list(ref.categories) if d is None else None,
                d.knots.tolist() if d is not None else None,
                d.below.tolist() if d is not None else list(ref.categories.values()),
                d.upto.tolist() if d is not None else None,
                json.dumps({"column": ref.feature.column, **ref.details}, default=float),
            ]
        )
    for name, curve in reference.calibration.items():
        rows.append(
            [
                model_id,
                name,
                "calibration",
                0,
                0,
                None,
                True,
                False,
                0.0,
                1.0,
                None,
                None,
                curve.tolist(),
                None,
                json.dumps({"column": name}),
            ]
        )
    tx.executemany(
        "INSERT INTO monitor_references VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    record(
        tx,
        actor,
        "monitor.reference",
        project=reference.project,
        target=f"model #{model_id}",
        details={"rows": reference.rows, "features": len(reference.features)},
    )


def find_reference(tx: Tx, model_id: int) -> Reference | None:
    head = tx.one(
        "SELECT project, dataset_id, label_set_id, row_count, labeled_count, evaluation, created_at "
        "FROM monitor_reference_sets WHERE model_id = ?",
        [model_id],
    )
    if head is None:
        return None
    features: dict[str, FeatureReference] = {}
    calibration: dict[str, np.ndarray] = {}
    for (
        name,
        kind,
        n,
        missing,
        exact,
        integer,
        keys,
        points,
        counts,
        upto,
        details,
    ) in tx.rows(
        "SELECT feature, kind, n, missing, exact, is_integer, keys, points, counts, counts_upto, "
        "details FROM monitor_references WHERE model_id = ? ORDER BY rowid",
        [model_id],
    ):
        extra = json.loads(details)
        if kind == "calibration":
            calibration[name] = np.asarray(counts, dtype=float)
            continue
        feature = Feature(name, str(extra.pop("column", name)), kind, bool(integer))
        if kind == "numeric":
            distribution = Distribution(
                int(n),
                np.asarray(points or [], dtype=float),
                np.asarray(counts or [], dtype=float),
                np.asarray(upto or [], dtype=float),
                bool(exact),
            )
            features[name] = FeatureReference(feature, int(n), int(missing), distribution)
        else:
            categories = dict(zip(keys or [], counts or [], strict=True))
            features[name] = FeatureReference(
                feature, int(n), int(missing), categories=categories, details=extra
            )
    return Reference(
        model_id=model_id,
        project=head[0],
        dataset_id=head[1],
        label_set_id=head[2],
        rows=int(head[3]),
        labeled_rows=int(head[4]),
        evaluation=json.loads(head[5]),
        features=features,
        calibration=calibration,
        created_at=head[6],
    )


def ensure_reference(ws: Workspace, model: Artifact, actor: Actor = SYSTEM) -> Reference:
    """The model's stored reference; computed and stored the first time it is needed."""
    with ws.store.read() as tx:
        found = find_reference(tx, model.artifact_id)
    if found is not None:
        return found
    reference = compute_reference(ws, model)
    with ws.store.transaction() as tx:
        if find_reference(tx, model.artifact_id) is None:  # another process may have been faster
            store_reference(tx, reference, actor)
        stored = find_reference(tx, model.artifact_id)
    assert stored is not None
    return stored
