"""The layers of core/ and the package-level import graph: `python -m tests.layering` prints it.

Every package of ``core/`` sits in one layer; an import may point to its own layer or below, never
up, and the packages never import each other in a loop. Imports inside functions count: an import
moved into a function to dodge a cycle is still a cycle. ``app/`` imports only the public API;
``core/cli/`` imports only the public API, its own modules and the terminal progress bar.
tests/core/test_layering.py enforces all four; docs/architecture.md shows the printed graph.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("errors", "safe_csv", "progress", "stats")),
    ("store", ("store",)),
    ("identity and audit", ("actor", "accounts")),
    ("artifacts", ("artifacts",)),
    ("projects", ("projects",)),
    ("data", ("data", "spans")),
    ("labeling", ("labeling",)),
    ("ml", ("ml",)),
    ("experiments", ("experiments",)),
    ("registry", ("registry",)),
    ("behavioural tests", ("behave",)),
    ("serving", ("serving",)),
    ("requirements", ("requirements",)),
    ("monitoring", ("monitoring",)),
    ("releases", ("releases",)),
    ("builds", ("builds",)),
    ("automation", ("scheduler", "notify", "bisect")),
    ("overview and demo", ("overview", "demo")),
    ("public API", ("api",)),
    ("transport", ("server", "remote")),
    ("cli", ("cli",)),
)
PUBLIC_API = "core.api"
# What the CLI may import from core: the public API (with core.api.types and the areas' static
# helpers), its own modules, and the terminal progress bar (a foundation module that knows no
# domain). CoreError and InvalidInput come re-exported by core.api, so core.errors is not needed.
CLI_MAY_IMPORT = (PUBLIC_API, "core.cli", "core.progress", "core.server", "core.remote")
# The HTTP server and the remote client are a transport over the public API: nothing below it.
TRANSPORT_MAY_IMPORT = (PUBLIC_API, "core.server", "core.remote", "core.progress")
# Imports the CLI keeps until the public API has what they do: (file, module) -> what is missing.
# An entry no longer needed is reported too, so this list only shrinks.
CLI_WAITING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    source: str  # the importing package
    target: str  # the imported package
    where: str  # file:line
    in_function: bool


def layer_of(package: str) -> int:
    for index, (_, packages) in enumerate(LAYERS):
        if package in packages:
            return index
    raise KeyError(package)


def _imported_modules(tree: ast.AST) -> Iterator[tuple[str, int, bool]]:
    """(module, line, inside a function) for every absolute import in ``tree``."""
    functions: list[ast.AST] = [
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    nested = {id(n) for f in functions for n in ast.walk(f) if n is not f}
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            yield name, node.lineno, id(node) in nested


def core_imports(root: Path = ROOT) -> list[Import]:
    """Every import from one package of core/ into another."""
    packages = {p.stem for p in (root / "core").iterdir() if p.suffix == ".py" or p.is_dir()}
    found: list[Import] = []
    for path in sorted((root / "core").rglob("*.py")):
        parts = path.relative_to(root / "core").parts
        package = parts[0][:-3] if len(parts) == 1 else parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        seen: set[tuple[str, int]] = set()
        for module, line, in_function in _imported_modules(tree):
            pieces = module.split(".")
            if pieces[0] != "core" or len(pieces) < 2 or pieces[1] == package:
                continue
            if pieces[1] not in packages:  # `from core import __version__`
                continue
            if (pieces[1], line) in seen:
                continue
            seen.add((pieces[1], line))
            where = f"{path.relative_to(root)}:{line}"
            found.append(Import(package, pieces[1], where, in_function))
    return found


def graph(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for item in imports:
        edges.setdefault(item.source, set()).add(item.target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def upward(imports: list[Import]) -> list[Import]:
    """Imports that point from a lower layer to a higher one (or from an undeclared package)."""
    known = {p for _, packages in LAYERS for p in packages}
    return [
        item
        for item in imports
        if item.source not in known
        or item.target not in known
        or layer_of(item.target) > layer_of(item.source)
    ]


def imports_outside(
    folder: Path, allowed: tuple[str, ...], root: Path = ROOT
) -> list[tuple[str, str]]:
    """(module, file:line) for every import of core in ``folder`` that is not one of ``allowed``
    (a package or module, with everything under it)."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            for module in modules:
                inside = any(module == a or module.startswith(a + ".") for a in allowed)
                if module.split(".")[0] == "core" and not inside:
                    found.append((module, f"{path.relative_to(root)}:{node.lineno}"))
    return found


def app_imports(root: Path = ROOT) -> list[tuple[str, str]]:
    """(module, file:line) for every core import in app/ that is not the public API."""
    return imports_outside(root / "app", (PUBLIC_API,), root)


def cli_imports(root: Path = ROOT) -> list[tuple[str, str]]:
    """(module, file:line) for every core import in core/cli/ outside ``CLI_MAY_IMPORT``."""
    return imports_outside(root / "core" / "cli", CLI_MAY_IMPORT, root)


def transport_imports(root: Path = ROOT) -> list[tuple[str, str]]:
    """(module, file:line) for every core import in core/server/ and core/remote/ outside
    ``TRANSPORT_MAY_IMPORT``."""
    return [
        found
        for package in ("server", "remote")
        if (root / "core" / package).is_dir()
        for found in imports_outside(root / "core" / package, TRANSPORT_MAY_IMPORT, root)
    ]


def cli_waiting(found: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """The CLI's imports outside what it may import that are not waiting on the API, and the
    waiting entries that no import needs any more."""
    used = {(where.rsplit(":", 1)[0], module) for module, where in found}
    wrong = [
        f"{module} ({where})"
        for module, where in found
        if (where.rsplit(":", 1)[0], module) not in CLI_WAITING
    ]
    stale = [f"{module} in {path}" for path, module in CLI_WAITING if (path, module) not in used]
    return wrong, stale


def describe(imports: list[Import]) -> str:
    """The layers, bottom first, each package with the packages it imports."""
    edges = graph(imports)
    lines = []
    for index, (name, packages) in enumerate(LAYERS):
        lines.append(f"{index:2d} {name}")
        for package in packages:
            targets = ", ".join(sorted(edges.get(package, ()))) or "—"
            lines.append(f"     {package:<12} → {targets}")
    return "\n".join(lines)


def api_table() -> str:
    """The public API's areas and their methods, as docs/architecture.md shows them."""
    import inspect

    from core.api.client import area_types

    lines = ["| area | use cases |", "|---|---|"]
    for name, area in area_types().items():
        methods = [m for m, v in inspect.getmembers(area) if not m.startswith("_") and callable(v)]
        lines.append(f"| `client.{name}` | {', '.join(methods)} |")
    return "\n".join(lines)


def main() -> int:
    imports = core_imports()
    if sys.argv[1:] == ["--api"]:
        print(api_table())
        return 0
    print(describe(imports))
    problems = [f"cycle: {' ↔ '.join(c)}" for c in cycles(graph(imports))]
    problems += [f"upward: {i.source} → {i.target} ({i.where})" for i in upward(imports)]
    problems += [f"app imports {m} ({w}), not {PUBLIC_API}" for m, w in app_imports()]
    wrong, stale = cli_waiting(cli_imports())
    problems += [f"cli imports {w}, not {', '.join(CLI_MAY_IMPORT)}" for w in wrong]
    problems += [f"cli no longer imports {s}: drop it from CLI_WAITING" for s in stale]
    for (path, module), missing in CLI_WAITING.items():
        print(f"waiting: {path} imports {module} until the public API has {missing}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
