"""`make run`'s server: `streamlit run app/main.py` with the app's libraries imported first.

Streamlit imports what a page needs in the first visitor's script run, so the first page after a
start waited for pandas, Plotly, core and the page components to import (seconds on two cores,
longer where Python may not keep its bytecode). Importing them here, in the server's process
before it listens, moves that wait to the start, which `make run` prints, and every visitor's
first page is as quick as the next. So is what only the first run of a process did (issue 15: a
fresh server's first Home run was ~0.6 s slower than the next): importing DuckDB, Plotly's
lazily imported figure classes and JSON writer, Streamlit's emoji table (``set_page_config``'s
icon) and inspect's table of module files (Streamlit's first element looks at the call stack
once). Arguments are those of `streamlit run`::

    python -m app.serve --server.port 8501
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

APP = Path(__file__).resolve().parent


def preload() -> list[str]:
    """Import the libraries and every module under ``app.components`` (modules of functions: no
    page runs); returns the components imported."""
    sys.path.insert(0, str(APP.parent))
    import streamlit.runtime.caching  # noqa: F401  (its loggers exist now, their level set)

    # a cached function's decorator checks its parameters against the runtime's cache storage,
    # and warns that there is none yet; its cache is made on its first call, in the runtime
    quiet = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        import pandas  # noqa: F401
        import plotly.express
        import plotly.graph_objects  # noqa: F401

        import app.components
        import app.deps  # core.api and its client

        names = [f"app.components.{m.name}" for m in pkgutil.iter_modules(app.components.__path__)]
        for name in names:
            importlib.import_module(name)
        first_run_only()
    finally:
        quiet.setLevel(level)
    return names


def first_run_only() -> None:
    """What a process's first script run did and no later run does: the workspace's driver
    (DuckDB; the store's own modules load with core.api, the one part of core the app imports),
    a Plotly figure made and written as JSON (``st.plotly_chart``),
    Streamlit's emoji table and inspect's map of module files (``inspect.stack``, once per
    process, walks every module's path the first time)."""
    import inspect

    import duckdb  # noqa: F401  (core imports it when the first workspace opens)
    import plotly.express as px
    import plotly.io
    import streamlit.emojis
    import streamlit.runtime.scriptrunner.magic_funcs  # noqa: F401

    figure = px.bar(x=[1, 2], y=["a", "b"], color=["a", "b"], orientation="h")
    figure.update_layout(margin={"l": 10})
    plotly.io.to_json(figure)
    inspect.stack()


def main(argv: Sequence[str] | None = None) -> int:
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP / "main.py"), *(sys.argv[1:] if argv is None else argv)]
    return int(cli.main() or 0)  # click's entry point: exits itself when done


if __name__ == "__main__":
    sys.exit(main())
