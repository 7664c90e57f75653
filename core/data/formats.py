"""Reading CSV, Parquet and JSONL into all-text or typed frames, with clear refusals."""

from __future__ import annotations

import codecs
import csv
import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from core.errors import InvalidInput, expected_one_of

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_MAX_BYTES = 1 << 30
NEWLINE = b"\n"


def max_bytes() -> int:
    return int(os.environ.get("LOOPLINE_MAX_INGEST_BYTES", DEFAULT_MAX_BYTES))


def detect_format(name: str, declared: str | None = None) -> str:
    if declared:
        if declared not in set(FORMATS.values()):
            raise InvalidInput(expected_one_of("format", declared, set(FORMATS.values())))
        return declared
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(
            f"{name}: {expected_one_of('file type', suffix or '(none)', FORMATS)}",
            hint="save the data as CSV, Parquet or JSONL, or pass --format",
        )
    return FORMATS[suffix]


def read_table(path: Path, fmt: str, *, name: str, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a file as it is; values stay as the file has them (text for CSV)."""
    size = path.stat().st_size
    limit = max_bytes()
    if size > limit:
        raise InvalidInput(
            f"{name}: the file is {_human(size)}; the ingest limit is {_human(limit)}.",
            hint="split the file into parts and ingest them one after another (each appends), "
            "or raise LOOPLINE_MAX_INGEST_BYTES",
        )
    if size == 0:
        raise InvalidInput(
            f"{name}: the file is empty.",
            hint="export the data again; a header and rows are expected",
        )
    if fmt == "csv":
        return _read_csv(path, name, encoding)
    if fmt == "jsonl":
        return _read_jsonl(path, name, encoding)
    return _read_parquet(path, name)


def _check_text(path: Path, name: str, encoding: str) -> None:
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    try:
        head.decode(encoding)
    except UnicodeDecodeError as exc:
        if (wide := _wide_encoding(head)) is not None:
            raise InvalidInput(
                f"{name}: the file is {wide.upper()} text, not {encoding}.",
                hint=f"pass --encoding {wide} (it reads such files), or re-save it as UTF-8",
            ) from exc
        if exc.start < len(head) - 4:  # not a character cut at the sample's end
            raise InvalidInput(
                f"{name}: the file is not {encoding} text (line {head[: exc.start].count(NEWLINE) + 1}, "
                f"byte {exc.start} is {head[exc.start]:#04x}).",
                hint="re-save it as UTF-8, or pass --encoding (e.g. latin-1, cp1252)",
            ) from exc
    except LookupError as exc:
        raise InvalidInput(
            f"Unknown encoding {encoding!r}.", hint="use e.g. utf-8, latin-1, cp1252"
        ) from exc


def _wide_encoding(head: bytes) -> str | None:
    """The encoding a byte-order mark at the start names, for a file that is not UTF-8
    (Excel's "Unicode text" is UTF-16 with a mark), or None."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _delimiter(path: Path, encoding: str) -> str:
    """The header line's separator: a comma, else a semicolon or tab where the header has more of
    those (European exports write ``id;text;label``)."""
    with path.open("rb") as handle:
        header = handle.readline(1 << 16).decode(encoding, errors="replace")
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _read_csv(path: Path, name: str, encoding: str) -> pd.DataFrame:
    _check_text(path, name, encoding)
    separator = _delimiter(path, encoding)
    frame = _read_csv_arrow(path, separator, encoding)
    if frame is None:  # Arrow declined the file: pandas reads it, or names what is wrong
        frame = _read_csv_pandas(path, name, encoding, separator)
    if frame.empty:
        raise InvalidInput(f"{name}: the file has a header but no rows.")
    return frame


def _read_csv_arrow(path: Path, separator: str, encoding: str) -> pd.DataFrame | None:
    """The fast reader (Arrow's, multi-threaded, every column as text) for a well-formed UTF-8
    file; ~10x faster than pandas' and without a Python object per cell. None for anything it
    might not read exactly as pandas does (a ragged row, bad UTF-8 past the start, a header with
    a blank or repeated name, another encoding): the careful reader then reads the file and
    words what is wrong."""
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    names = _header(path, separator)
    if names is None or "" in names or len(set(names)) != len(names):
        return None
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.large_string()), strings_can_be_null=False
    )
    table = None
    for newlines in (False, True):  # a line break inside quotes: Arrow says so, then reads slower
        try:
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=separator, newlines_in_values=newlines),
                convert_options=convert,
            )
            break
        except (pa.ArrowInvalid, UnicodeDecodeError):
            continue
    if (
        table is None
        or table.column_names != names
        or any(t != pa.large_string() for t in table.schema.types)
    ):
        return None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _header(path: Path, separator: str) -> list[str] | None:
    """The header's column names as the csv module reads them (None when it cannot)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle, delimiter=separator), None)
    except (UnicodeDecodeError, csv.Error):
        return None


def _read_csv_pandas(path: Path, name: str, encoding: str, separator: str) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                sep=separator,
                dtype=str,
                index_col=False,  # a row with extra fields must not turn columns into an index
                keep_default_na=False,  # "NA" is a value (North America), only empty is missing
                na_filter=False,
                encoding="utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding,
            )
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{name}: the file is not {encoding} text past its start ({exc.reason}).",
            hint="re-save it as UTF-8, or pass --encoding",
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{name}: the file has no header and no rows.") from exc
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        ragged = _ragged_row(path, encoding, separator)
        detail = ragged or str(exc).strip().splitlines()[-1]
        raise InvalidInput(
            f"{name}: not a well-formed CSV file: {detail}",
            hint="check quoting (fields with commas need double quotes) and the number of fields",
        ) from exc
    ragged = _ragged_row(path, encoding, separator, fewer=True)
    if ragged is not None:
        raise InvalidInput(
            f"{name}: not a well-formed CSV file: {ragged}",
            hint="check quoting (fields with commas need double quotes) and the number of fields",
        )
    return frame


def _ragged_row(path: Path, encoding: str, separator: str, *, fewer: bool = False) -> str | None:
    """The first row whose field count differs from the header's (``fewer``: also rows with
    fewer fields; blank lines are skipped as pandas does), in words, or None."""
    text_encoding = "utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8" else encoding
    try:
        with path.open(encoding=text_encoding, newline="") as handle:
            reader = csv.reader(handle, delimiter=separator)
            header = next(reader, None)
            if header is None:
                return None
            for number, row in enumerate(reader, start=2):
                if not row or (fewer is False and len(row) < len(header)):
                    continue
                if len(row) != len(header):
                    line = f" (line {reader.line_num})" if reader.line_num != number else ""
                    return (
                        f"row {number}{line} has {len(row)} fields; the header has {len(header)}."
                    )
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


def _read_jsonl(path: Path, name: str, encoding: str) -> pd.DataFrame:
    _check_text(path, name, encoding)
    records: list[dict[str, object]] = []
    with path.open(encoding=encoding, errors="strict") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"{name}: line {number} is not valid JSON ({exc.msg} at column {exc.colno}).",
                    hint="each line must be one JSON object",
                ) from exc
            if not isinstance(record, dict):
                raise InvalidInput(
                    f"{name}: line {number} is a JSON {type(record).__name__}, not an object."
                )
            records.append(record)
    if not records:
        raise InvalidInput(f"{name}: the file has no records.")
    return pd.DataFrame.from_records(records)


def _read_parquet(path: Path, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame: pd.DataFrame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(
            f"{name}: not a readable Parquet file ({str(exc).splitlines()[0]})."
        ) from exc
    if frame.empty:
        raise InvalidInput(f"{name}: the file has columns but no rows.")
    return frame


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"
