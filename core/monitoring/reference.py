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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
else:
    from core.store.lazy_duckdb import duckdb
import numpy as np
import pyarrow as pa

from core.accounts.audit import record
from core.actor import SYSTEM, Actor
from core.artifacts.models import Artifact
from core.artifacts.service import get_artifact, read_file
from core.errors import NotFound
from core.ml.data import training_data
from core.monitoring.estimate import fit_calibration
from core.monitoring.models import Feature, FeatureReference, Reference
from core.monitoring.stats import Distribution, finite
from core.projects.service import get_project
from core.projects.spec import ProjectSpec
from core.registry.service import load_model
from core.store import Tx, Workspace, utcnow

TOKENS = r"\p{L}{2,}"  # a token: two or more letters (any script), lowercased first
MAX_CATEGORIES = 5000  # a category's most frequent values kept in the reference
COLUMNS_PER_READ = 4  # numeric columns read per scan: fewer scans, a few MB per column and row
GROUPS_PER_QUERY = 32  # grouping sets per scan (GROUPING() of them is one BIGINT bit mask)


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
    """Reference statistics of ``features`` over ``table`` (a view or registered frame): one
    scan counts every feature's values, one reads each numeric column, one counts every
    category (``GROUPING SETS``), one per text field counts its tokens."""
    chosen = list(features)
    total, present = _present(con, table, chosen, prefix)
    categories = _category_counts(con, table, [f for f in chosen if f.kind == "category"], prefix)
    distributions = _distributions(con, table, [f for f in chosen if f.kind == "numeric"], prefix)
    out: dict[str, FeatureReference] = {}
    for feature, found in zip(chosen, present, strict=True):
        missing = total - found
        if feature.kind == "numeric":
            distribution = distributions[feature.name]
            out[feature.name] = FeatureReference(feature, distribution.n, missing, distribution)
        elif feature.kind == "category":
            counts = categories.get(feature.name, {})
            out[feature.name] = FeatureReference(
                feature, found, missing, categories=counts, details={"kept": len(counts)}
            )
        else:
            vocabulary = token_counts(con, table, feature.sql(prefix))
            out[feature.name] = FeatureReference(
                feature,
                int(sum(vocabulary.values())),
                missing,
                categories=vocabulary,
                details={"tokens": int(sum(vocabulary.values())), "types": len(vocabulary)},
            )
    return out


def _present(
    con: duckdb.DuckDBPyConnection, table: str, features: Sequence[Feature], prefix: str
) -> tuple[int, list[int]]:
    """The table's rows and each feature's non-missing values, in one scan."""
    counts = "".join(f", count({f.sql(prefix)})" for f in features)
    row = con.execute(f"SELECT count(*){counts} FROM {table}").fetchone()
    assert row is not None
    return int(row[0]), [int(c) for c in row[1:]]


def _distributions(
    con: duckdb.DuckDBPyConnection, table: str, features: Sequence[Feature], prefix: str
) -> dict[str, Distribution]:
    """Each numeric feature's distribution of finite values, ``COLUMNS_PER_READ`` per scan."""
    out: dict[str, Distribution] = {}
    for first in range(0, len(features), COLUMNS_PER_READ):
        batch = features[first : first + COLUMNS_PER_READ]
        columns = ", ".join(f"{f.sql(prefix)} AS x{i}" for i, f in enumerate(batch))
        found = con.execute(f"SELECT {columns} FROM {table}").fetchnumpy()
        for i, feature in enumerate(batch):
            values = finite(found.pop(f"x{i}"))  # this scan's own array: sorted in place
            values.sort()
            out[feature.name] = Distribution.from_sorted(values)
    return out


def _category_counts(
    con: duckdb.DuckDBPyConnection, table: str, features: Sequence[Feature], prefix: str
) -> dict[str, dict[str, float]]:
    """Each category's ``MAX_CATEGORIES`` most frequent values and their counts (ties by value),
    32 categories per ``GROUPING SETS`` scan (``GROUPING()`` names the set of a row)."""
    out: dict[str, dict[str, float]] = {}
    for first in range(0, len(features), GROUPS_PER_QUERY):
        out.update(_category_scan(con, table, features[first : first + GROUPS_PER_QUERY], prefix))
    return out


def _category_scan(
    con: duckdb.DuckDBPyConnection, table: str, features: Sequence[Feature], prefix: str
) -> dict[str, dict[str, float]]:
    names = [f"v{i}" for i in range(len(features))]
    columns = ", ".join(f"{f.sql(prefix)} AS {n}" for f, n in zip(features, names, strict=True))
    rows = con.execute(
        f"SELECT g, v, c FROM (SELECT GROUPING({', '.join(names)}) AS g, "
        f"coalesce({', '.join(names)}) AS v, count(*) AS c FROM (SELECT {columns} FROM {table}) "
        f"GROUP BY GROUPING SETS ({', '.join(f'({n})' for n in names)})) WHERE v IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY g ORDER BY c DESC, v) <= ? ORDER BY g, c DESC, v",
        [MAX_CATEGORIES],
    ).fetchall()
    full = (1 << len(features)) - 1
    which = {full ^ (1 << (len(features) - 1 - i)): f.name for i, f in enumerate(features)}
    out: dict[str, dict[str, float]] = {f.name: {} for f in features}
    for mask, value, count in rows:
        out[which[mask]][str(value)] = float(count)
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

    out: dict[str, dict[str, float]] = {"": dict(model.metadata.get("metrics") or {})}
    if any(f.role == "evaluation.json" for f in model.files):
        data = json.loads(read_file(ws, model, "evaluation.json"))
        out[""] = {**data.get("overall", {}), **out[""]}
        out.update({str(k): dict(v) for k, v in (data.get("slices") or {}).items()})
    return out


def compute_reference(ws: Workspace, model: Artifact) -> Reference:
    """Summarize the model's training data (no store writes)."""
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


_SET_COLUMNS = (
    "model_id, project, dataset_id, label_set_id, row_count, labeled_count, evaluation, "
    "created_at, created_by"
)
_FEATURE_COLUMNS = (
    "model_id",
    "feature",
    "kind",
    "n",
    "missing",
    "distinct_values",
    "exact",
    "is_integer",
    "minimum",
    "maximum",
    "keys",
    "points",
    "counts",
    "counts_upto",
    "details",
)


def store_reference(tx: Tx, reference: Reference, actor: Actor) -> None:
    """Write a reference (replacing any earlier one of the same model) in the caller's transaction."""
    model_id = reference.model_id
    tx.execute("DELETE FROM monitor_references WHERE model_id = ?", [model_id])
    tx.execute("DELETE FROM monitor_reference_sets WHERE model_id = ?", [model_id])
    now = utcnow()
    tx.execute(
        f"INSERT INTO monitor_reference_sets ({_SET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    rows = [_feature_row(model_id, ref) for ref in reference.features.values()]
    rows += [_calibration_row(model_id, n, c) for n, c in reference.calibration.items()]
    if rows:
        tx.insert_table("monitor_references", _FEATURE_COLUMNS, _feature_table(rows))
    record(
        tx,
        actor,
        "monitor.reference",
        project=reference.project,
        target=f"model #{model_id}",
        details={"rows": reference.rows, "features": len(reference.features)},
    )


_LISTS = {
    "keys": pa.string(),
    "points": pa.float64(),
    "counts": pa.float64(),
    "counts_upto": pa.float64(),
}
_SCALARS = {
    "model_id": pa.int64(),
    "feature": pa.string(),
    "kind": pa.string(),
    "n": pa.int64(),
    "missing": pa.int64(),
    "distinct_values": pa.int64(),
    "exact": pa.bool_(),
    "is_integer": pa.bool_(),
    "minimum": pa.float64(),
    "maximum": pa.float64(),
    "details": pa.string(),
}


def _feature_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """The rows as Arrow columns (``_FEATURE_COLUMNS``); a distribution's knots and counts go in
    as whole arrays, not as Python floats one by one."""
    columns: dict[str, pa.Array] = {}
    for name in _FEATURE_COLUMNS:
        values = [row[name] for row in rows]
        columns[name] = (
            _list_array(values, _LISTS[name])
            if name in _LISTS
            else pa.array(values, _SCALARS[name])
        )
    return pa.table(columns)


def _list_array(parts: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """A list column from one array (or list, or None) per row."""
    lengths = [0 if part is None else len(part) for part in parts]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    present = [part for part in parts if part is not None and len(part)]
    if kind == pa.float64():
        flat = (
            np.concatenate([np.asarray(p, dtype=float) for p in present])
            if present
            else np.zeros(0)
        )
        values = pa.array(flat, type=kind)
    else:
        values = pa.array([str(v) for p in present for v in p], type=kind)
    mask = pa.array([part is None for part in parts])
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def _feature_row(model_id: int, ref: FeatureReference) -> dict[str, Any]:
    """One feature's profile as a ``monitor_references`` row (``_FEATURE_COLUMNS``)."""
    d = ref.distribution
    return {
        "model_id": model_id,
        "feature": ref.feature.name,
        "kind": ref.feature.kind,
        "n": ref.n,
        "missing": ref.missing,
        "distinct_values": d.distinct if d is not None else len(ref.categories),
        "exact": d.exact if d is not None else True,
        "is_integer": ref.feature.integer,
        "minimum": d.minimum if d is not None and d.n else None,
        "maximum": d.maximum if d is not None and d.n else None,
        "keys": list(ref.categories) if d is None else None,
        "points": d.knots if d is not None else None,
        "counts": d.below if d is not None else list(ref.categories.values()),
        "counts_upto": d.upto if d is not None else None,
        "details": json.dumps({"column": ref.feature.column, **ref.details}, default=float),
    }


def _calibration_row(model_id: int, name: str, curve: np.ndarray) -> dict[str, Any]:
    """One class's calibration curve as a ``monitor_references`` row (kind ``calibration``)."""
    return {
        "model_id": model_id,
        "feature": name,
        "kind": "calibration",
        "n": 0,
        "missing": 0,
        "distinct_values": None,
        "exact": True,
        "is_integer": False,
        "minimum": 0.0,
        "maximum": 1.0,
        "keys": None,
        "points": None,
        "counts": curve,
        "counts_upto": None,
        "details": json.dumps({"column": name}),
    }


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
    table = tx.arrow(
        "SELECT feature, kind, n, missing, exact, is_integer, keys, points, counts, counts_upto, "
        "details FROM monitor_references WHERE model_id = ? ORDER BY rowid",
        [model_id],
    )
    scalars = table.select(["feature", "kind", "n", "missing", "exact", "is_integer", "details"])
    keys = table.column("keys").to_pylist()
    points, counts, upto = (_arrays(table.column(c)) for c in ("points", "counts", "counts_upto"))
    for i, (name, kind, n, missing, exact, integer, details) in enumerate(
        zip(*(c.to_pylist() for c in scalars.columns), strict=True)
    ):
        extra = json.loads(details)
        if kind == "calibration":
            calibration[name] = counts[i]
            continue
        feature = Feature(name, str(extra.pop("column", name)), kind, bool(integer))
        if kind == "numeric":
            distribution = Distribution(int(n), points[i], counts[i], upto[i], bool(exact))
            features[name] = FeatureReference(feature, int(n), int(missing), distribution)
        else:
            categories = dict(zip(keys[i] or [], counts[i].tolist(), strict=True))
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


def _arrays(column: pa.ChunkedArray) -> list[np.ndarray]:
    """Each row's list of floats as an array (empty for NULL), sliced from the column's values."""
    out: list[np.ndarray] = []
    for chunk in column.chunks:
        offsets = chunk.offsets.to_numpy()
        values = chunk.values.to_numpy(zero_copy_only=False).astype(float, copy=False)
        out += [values[offsets[i] : offsets[i + 1]] for i in range(len(chunk))]
    return out


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
