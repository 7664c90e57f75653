"""Run Label Studio's own converter (label_studio_sdk.converter) on an export, in its test-only
venv: ``python label_studio_convert.py '{"config": PATH, "export": PATH}'``. Prints, as its last
line, the rows of its JSON_MIN, CSV and CONLL2003 outputs (CoNLL None where the converter does
not offer it for the config) and the SDK's version."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from label_studio_sdk.converter import Converter


def main() -> None:
    args = json.loads(sys.argv[1])
    config = Path(args["config"]).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        converter = Converter(config=config, project_dir=folder, download_resources=False)
        formats = [f for f in ("JSON_MIN", "CSV", "CONLL2003") if f in converter.supported_formats]
        for fmt in formats:
            converter.convert(args["export"], str(out / fmt), fmt, is_dir=False)
        with (out / "CSV" / "result.csv").open(encoding="utf-8", newline="") as rows:
            table = list(csv.DictReader(rows))
        conll = (
            next((out / "CONLL2003").glob("*.conll")).read_text(encoding="utf-8")
            if "CONLL2003" in formats
            else None  # Label Studio offers CoNLL only for a config with one text object
        )
        print(
            json.dumps(
                {
                    "json_min": json.loads((out / "JSON_MIN" / "result.json").read_text("utf-8")),
                    "csv": table,
                    "conll": conll,
                    "version": version("label-studio-sdk"),
                }
            )
        )


if __name__ == "__main__":
    main()
