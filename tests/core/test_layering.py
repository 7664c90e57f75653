"""core/ is layered: no package cycles (imports inside functions count), no import up the layers,
app/ imports only the public API, and core/cli/ only the public API, its own modules and the
progress bar. `python -m tests.layering` prints the graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.layering import (
    CLI_MAY_IMPORT,
    CLI_WAITING,
    LAYERS,
    ROOT,
    TRANSPORT_MAY_IMPORT,
    app_imports,
    cli_imports,
    cli_waiting,
    core_imports,
    cycles,
    graph,
    transport_imports,
    upward,
)


def test_core_has_no_package_cycles() -> None:
    found = cycles(graph(core_imports()))
    assert not found, "package cycles in core/: " + "; ".join(" ↔ ".join(c) for c in found)


def test_every_import_points_down_the_layers() -> None:
    wrong = upward(core_imports())
    assert not wrong, "imports against the layer order:\n" + "\n".join(
        f"  {i.source} → {i.target} at {i.where}" for i in wrong
    )


def test_the_app_imports_only_the_public_api() -> None:
    wrong = app_imports()
    assert not wrong, "app/ imports core modules other than core.api:\n" + "\n".join(
        f"  {m} at {w}" for m, w in wrong
    )


def test_the_cli_imports_only_the_public_api() -> None:
    wrong, stale = cli_waiting(cli_imports())
    assert not wrong, f"core/cli/ imports beyond {', '.join(CLI_MAY_IMPORT)}:\n" + "\n".join(
        f"  {w}" for w in wrong
    )
    assert not stale, "no longer imported, drop from CLI_WAITING: " + "; ".join(stale)


def test_the_server_and_the_remote_client_import_only_the_public_api() -> None:
    wrong = transport_imports()
    assert not wrong, (
        f"core/server/ or core/remote/ imports beyond {', '.join(TRANSPORT_MAY_IMPORT)}:\n"
        + "\n".join(f"  {m} at {w}" for m, w in wrong)
    )


def test_importing_the_public_api_and_the_cli_does_not_load_duckdb() -> None:
    """A remote client (CLI, runner, serving host) never opens a workspace: DuckDB is imported
    on first use (core.store.lazy_duckdb), not by importing core."""
    code = (
        "import sys, core.api, core.api.types, core.cli\n"
        "core.cli.build_parser()\n"
        "print('duckdb' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False", done.stderr


def test_importing_the_public_api_loads_no_web_stack_demo_or_model_libraries() -> None:
    """Every page imports core.api and core.api.types: FastAPI, uvicorn, the demo and the
    models' libraries are imported by the methods that use them (the app's first page after
    a start waited ~10 s for them), yet the server still resolves every method's types."""
    heavy = ("fastapi", "starlette", "uvicorn", "sklearn", "xgboost", "core.demo")
    code = (
        "import sys, core.api, core.api.types\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
        "from core.api.types import SimulationResult\n"
        "from core.api.serving import serve_host\n"
        "print(SimulationResult.__module__, serve_host.__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.split("\n")[:2] == [
        "[]",
        "core.serving.simulate core.api.hosting",
    ], done.stderr


def test_the_cli_check_sees_an_import_in_a_command_and_a_stale_waiting_entry(
    tmp_path: Path,
) -> None:
    _tree(
        tmp_path,
        {
            "cli/__init__.py": "from core.api import Client\nfrom core.errors import CoreError\n",
            "cli/labels.py": (
                "from core.cli.common import client\n"
                "from core.progress import Bar\n"
                "def cmd_tasks(args):\n"
                "    from core.api.types import Task\n"
                "    from core.labeling.tasks import list_tasks\n"
                "    import core.store\n"
            ),
        },
    )
    found = cli_imports(tmp_path)
    assert found == [
        ("core.errors", "core/cli/__init__.py:2"),
        ("core.labeling.tasks", "core/cli/labels.py:5"),
        ("core.store", "core/cli/labels.py:6"),
    ]
    wrong, stale = cli_waiting(found)
    assert wrong == [
        "core.errors (core/cli/__init__.py:2)",
        "core.labeling.tasks (core/cli/labels.py:5)",
        "core.store (core/cli/labels.py:6)",
    ]
    assert stale == [f"{module} in {path}" for path, module in CLI_WAITING]


def test_every_package_of_core_sits_in_one_layer() -> None:
    root = Path(__file__).resolve().parents[2] / "core"
    packages = {p.name for p in root.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in root.glob("*.py") if p.stem not in ("__init__", "__main__")}
    declared = [p for _, names in LAYERS for p in names]
    assert len(declared) == len(set(declared))
    assert (packages | modules) - set(declared) == set()


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / "core" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checker_sees_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "__init__.py": "",
            "store/__init__.py": "def open():\n    from core.accounts.access import check\n",
            "accounts/__init__.py": "",
            "accounts/access.py": "from core.store import open\n",
        },
    )
    imports = core_imports(tmp_path)
    assert cycles(graph(imports)) == [["accounts", "store"]]
    hidden = [i for i in imports if i.source == "store"]
    assert [(i.target, i.where, i.in_function) for i in hidden] == [
        ("accounts", "core/store/__init__.py:2", True)
    ]
    assert [(i.source, i.target) for i in upward(imports)] == [("store", "accounts")]


def test_the_architecture_doc_lists_the_public_api_as_it_is() -> None:
    from tests.layering import ROOT, api_table

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"<!-- api:start -->\n{api_table()}\n<!-- api:end -->" in text, (
        "regenerate the table with `python -m tests.layering --api`"
    )
