"""The prediction log as monitoring reads it, and helpers that write log segments in the service's
contract format from real predictions of a registered model (test data, not a mock)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.artifacts.models import Artifact
from core.monitoring.log import LogReader, segment_folders
from core.projects.spec import ProjectSpec
from core.registry.service import load_model
from core.store import Workspace, utcnow

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"


def write_segment(folder: Path, frame: pd.DataFrame, schema: pa.Schema | None = None) -> Path:
    """One finished segment: written under a temporary name, then renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"segment-{uuid.uuid4().hex[:12]}.parquet"
    temporary = folder / f".{target.name}.tmp"
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, temporary)
    os.replace(temporary, target)
    return target


def _column_type(spec: ProjectSpec, name: str) -> pa.DataType:
    kind = spec.column(name).type
    return {"number": pa.float64(), "integer": pa.int64()}.get(kind, pa.string())


def prediction_frame(
    ws: Workspace,
    model: Artifact,
    spec: ProjectSpec,
    rows: pd.DataFrame,
    times: Sequence[datetime],
    *,
    seed: int = 0,
    latency_ms: float = 6.0,
) -> tuple[pd.DataFrame, pa.Schema]:
    """What the service logs for ``rows`` answered by ``model`` at event ``times`` (received
    now, as the service stamps them)."""
    rng = np.random.default_rng(seed)
    probabilities = load_model(ws, model).predict_proba(rows, spec)
    classes = list(spec.labels.classes)
    n = len(rows)
    frame: dict[str, object] = {
        "ts": pd.to_datetime(list(times)),
        "received_at": pd.Timestamp(utcnow()) + pd.to_timedelta(np.arange(n), unit="us"),
        "request_id": [f"r-{seed}-{i}" for i in range(n)],
        "item_id": rows[spec.id_column].astype(str).to_numpy(),
        "model_id": [str(model.artifact_id)] * n,
        "model_version": [model.version] * n,
        "prediction": [classes[i] for i in probabilities.argmax(axis=1)],
        "confidence": probabilities.max(axis=1),
        **{f"p_{c}": probabilities[:, i] for i, c in enumerate(classes)},
        "latency_ms": rng.gamma(4.0, latency_ms / 4.0, n),
        "spans": [None] * n,
        "error": [None] * n,
    }
    fields = [
        pa.field("ts", pa.timestamp("us")),
        pa.field("received_at", pa.timestamp("us")),
        pa.field("request_id", pa.string()),
        pa.field("item_id", pa.string()),
        pa.field("model_id", pa.string()),
        pa.field("model_version", pa.int32()),
        pa.field("prediction", pa.string()),
        pa.field("confidence", pa.float64()),
        *[pa.field(f"p_{c}", pa.float64()) for c in classes],
        pa.field("latency_ms", pa.float64()),
        pa.field("spans", pa.string()),
        pa.field("error", pa.string()),
    ]
    for column in spec.column_names:
        if column in (spec.id_column, spec.time_column):
            continue
        kind = _column_type(spec, column)
        values = rows[column]
        if kind == pa.float64():
            frame[f"f_{column}"] = (
                pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
            )
        elif kind == pa.int64():
            frame[f"f_{column}"] = pd.to_numeric(values, errors="coerce").astype("Int64")
        else:
            frame[f"f_{column}"] = values.astype("string").to_numpy(dtype=object, na_value=None)
        fields.append(pa.field(f"f_{column}", kind))
    return pd.DataFrame(frame), pa.schema(fields)


def feedback_frame(predictions: pd.DataFrame, truth: pd.Series, delay: timedelta) -> pd.DataFrame:
    """Ground truth for ``predictions`` (labels aligned by position), ``delay`` after them in event
    time; like the service, ``received_at`` is when it was written."""
    return pd.DataFrame(
        {
            "ts": predictions["ts"] + delay,
            "received_at": pd.Timestamp(utcnow()),
            "request_id": predictions["request_id"],
            "label": truth.astype(str).to_numpy(),
            "actor": "repair-shop",
        }
    )


def read_sample(project: str, file: str) -> pd.DataFrame:
    return pd.read_csv(SAMPLE / project / "data" / file, keep_default_na=False, na_values=[""])


def log_predictions(
    ws: Workspace,
    model: Artifact,
    spec: ProjectSpec,
    rows: pd.DataFrame,
    times: Sequence[datetime],
    *,
    truth: pd.Series | None = None,
    feedback_share: float = 0.0,
    seed: int = 0,
    segments: int = 3,
) -> pd.DataFrame:
    """Log real predictions for ``rows`` in several segments, with feedback for a share of them."""
    predictions, schema = prediction_frame(ws, model, spec, rows, times, seed=seed)
    folder, feedback_folder = segment_folders(ws.root, spec.name)
    for part in np.array_split(np.arange(len(predictions)), segments):
        write_segment(folder, predictions.iloc[part], schema)
    if truth is not None and feedback_share > 0:
        rng = np.random.default_rng(seed + 1)
        keep = rng.random(len(predictions)) < feedback_share
        write_segment(
            feedback_folder,
            feedback_frame(predictions[keep], truth[keep], timedelta(days=2)),
        )
    return predictions


# --- tests of the reader ------------------------------------------------------------------------


def test_no_segments_yet(tmp_path: Path) -> None:
    with LogReader(tmp_path, "nothing") as reader:
        assert reader.empty and reader.features() == {}
        assert reader.rows("SELECT count(*) FROM feedback") == [(0,)]


def test_segments_of_different_schemas_and_temporary_files(tmp_path: Path) -> None:
    folder, feedback = segment_folders(tmp_path, "p")
    base = {
        "ts": pd.to_datetime(["2026-08-01 10:00", "2026-08-01 11:00"]),
        "request_id": ["a", "b"],
        "prediction": ["x", "y"],
    }
    write_segment(folder, pd.DataFrame(base))
    write_segment(folder, pd.DataFrame({**base, "request_id": ["c", "d"], "f_new": [1.5, 2.5]}))
    (folder / ".segment-unfinished.parquet.tmp").write_bytes(b"half a file")
    write_segment(
        feedback,
        pd.DataFrame(
            {
                "ts": pd.to_datetime(["2026-08-02", "2026-08-03"]),
                "received_at": pd.to_datetime(["2026-08-02", "2026-08-03"]),
                "request_id": ["a", "a"],
                "label": ["x", "y"],
                "actor": ["op", "op"],
            }
        ),
    )
    with LogReader(tmp_path, "p") as reader:
        assert reader.rows("SELECT count(*), count(f_new) FROM predictions") == [(4, 2)]
        assert reader.features() == {"new": "DOUBLE"}
        assert reader.rows("SELECT request_id, label FROM feedback") == [("a", "y")]  # the latest
