"""The traceability matrix (system requirements as a tree, each with its ML requirements and their
statuses), coverage figures, and the drill-down from a requirement to its evidence."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.accounts.access import readable
from core.artifacts.models import Artifact
from core.artifacts.service import select_artifacts
from core.errors import NotFound
from core.projects.service import get_project
from core.requirements.models import (
    Coverage,
    Matrix,
    MatrixRow,
    Requirement,
    Status,
    system_tree,
)
from core.requirements.service import select_current
from core.requirements.status import select_statuses, slice_verdicts
from core.stats import Interval
from core.store import Tx, Workspace


def traceability_matrix(
    ws: Workspace,
    project: str,
    *,
    owner: str | None = None,
    category: str | None = None,
    status: str | None = None,
) -> Matrix:
    """Rows in tree order (depth-first, parents before children). A filter keeps the system
    requirements that match themselves or through one of their ML requirements."""
    get_project(ws, project)
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        items = select_current(tx, project)
        statuses = select_statuses(tx, project)
    return build_matrix(project, items, statuses, owner=owner, category=category, status=status)


def build_matrix(
    project: str,
    items: Iterable[Requirement],
    statuses: Mapping[str, Status],
    *,
    owner: str | None = None,
    category: str | None = None,
    status: str | None = None,
) -> Matrix:
    chosen = list(items)
    by_id = {r.requirement_id: r for r in chosen}
    systems = [r for r in chosen if r.level == "system"]
    children = system_tree(systems)
    derived: dict[str, list[Requirement]] = {}
    for item in chosen:
        for target in item.derived_from if item.is_ml else ():
            derived.setdefault(target, []).append(item)

    def matches(item: Requirement) -> bool:
        found = statuses.get(item.requirement_id)
        return (
            (owner is None or item.owner == owner)
            and (category is None or item.category == category)
            and (status is None or (found is not None and found.status == status))
        )

    rows: list[MatrixRow] = []

    def refined(ml: list[Requirement]) -> list[Requirement]:
        """ML requirements each followed by those that refine it (derived from it), depth
        first, each once."""
        out: dict[str, Requirement] = {}
        for one in ml:
            out.setdefault(one.requirement_id, one)
            for below in refined(derived.get(one.requirement_id, [])):
                out.setdefault(below.requirement_id, below)
        return list(out.values())

    def visit(item: Requirement, depth: int) -> None:
        ml = refined(derived.get(item.requirement_id, []))
        if matches(item) or any(matches(m) for m in ml):
            rows.append(
                MatrixRow(
                    item,
                    statuses.get(item.requirement_id),
                    depth,
                    tuple((m, statuses.get(m.requirement_id)) for m in ml),
                )
            )
        for child in children.get(item.requirement_id, []):
            visit(child, depth + 1)

    for top in children.get(None, []):
        visit(top, 0)
    ml_items = [r for r in chosen if r.is_ml]
    below: dict[str | None, list[Requirement]] = {}  # by every parent, not only the first
    for item in systems:
        for parent in item.parents:
            below.setdefault(parent, []).append(item)
    counts: dict[str, int] = {}
    for found in statuses.values():
        counts[f"{found.level}.{found.status}"] = counts.get(f"{found.level}.{found.status}", 0) + 1
    coverage = Coverage(
        len(systems),
        len(ml_items),
        tuple(r.requirement_id for r in systems if not _covered(r.requirement_id, derived, below)),
        tuple(
            r.requirement_id
            for r in ml_items
            if statuses.get(r.requirement_id) is None
            or statuses[r.requirement_id].status == "no_evidence"
        ),
        counts,
    )
    return Matrix(project, tuple(rows), coverage, by_id, dict(statuses))


def _covered(
    rid: str,
    derived: Mapping[str, list[Requirement]],
    children: Mapping[str | None, list[Requirement]],
) -> bool:
    """A system requirement is covered when an ML requirement derives from it or from one of the
    system requirements derived from it (through any of their parents)."""
    if derived.get(rid):
        return True
    return any(_covered(c.requirement_id, derived, children) for c in children.get(rid, []))


@dataclass(frozen=True)
class SliceValue:
    slice: str
    value: float | None
    threshold: float | None
    passed: bool | None
    estimated: bool | None = None
    reference: bool = False  # the slice the relative form compares with
    verdict: str | None = None  # met, violated, inconclusive (None: not measured, or reference)
    n: float | None = None
    lower: float | None = None
    upper: float | None = None
    interval_method: str | None = None

    @property
    def interval_text(self) -> str:
        if self.value is None:
            return ""
        if self.interval_method == "exact":
            return "exact"
        return Interval(self.n, self.lower, self.upper, self.interval_method or "none").text()


@dataclass(frozen=True)
class EvidenceDetail:
    """One requirement with what it is derived from or into, and the evidence behind its status."""

    requirement: Requirement
    status: Status | None
    # the system requirements it derives from (an ML requirement's, or a system requirement's
    # parents)
    upstream: tuple[tuple[Requirement, Status | None], ...]
    # the ML requirements derived from it (and from its descendants, and those refining them)
    downstream: tuple[tuple[Requirement, Status | None], ...]
    slices: tuple[SliceValue, ...]
    artifacts: Mapping[str, Artifact]
    lineage_root: int | None
    # its relations that are not derivations, both ways: (the tool's relation type, "to" when
    # it is the relation's source or "from" when the other is, the other requirement)
    related: tuple[tuple[str, str, Requirement], ...] = ()


def evidence_detail(ws: Workspace, project: str, requirement_id: str) -> EvidenceDetail:
    with ws.store.read() as tx:
        readable(tx, None, "requirements.read", project)
        items = {r.requirement_id: r for r in select_current(tx, project)}
        statuses = select_statuses(tx, project)
        item = items.get(requirement_id)
        if item is None:
            raise NotFound(
                f"No requirement {requirement_id!r} in {project!r}.",
                hint=f"list them with `loopline requirements list {project}`",
            )
        status = statuses.get(requirement_id)
        related = tuple(
            (str(r["type"]), "to", items[r["target"]])
            for r in item.relations
            if r["target"] in items
        ) + tuple(
            (str(r["type"]), "from", other)
            for other in items.values()
            for r in other.relations
            if r["target"] == requirement_id
        )
        if item.is_ml:
            upstream = tuple((items[d], statuses.get(d)) for d in item.derived_from if d in items)
            subtree = {requirement_id}
        else:
            upstream = tuple((items[d], statuses.get(d)) for d in item.parents if d in items)
            subtree = _subtree(requirement_id, items)
        below = _refinements(subtree, items) - {requirement_id}
        downstream = tuple(
            (r, statuses.get(r.requirement_id)) for r in items.values() if r.requirement_id in below
        )
        # the evidence is the requirement's own, or that of the ML requirement it comes via
        via = items.get(status.via) if status is not None and status.via else None
        slices = _slice_values(tx, via or item, status) if via or item.is_ml else ()
        evidence_of = status
        artifacts = _artifacts(tx, evidence_of)
    root = None
    for key in ("verification", "model", "build"):
        if key in artifacts:
            root = artifacts[key].artifact_id
            break
    return EvidenceDetail(item, status, upstream, downstream, slices, artifacts, root, related)


def _refinements(roots: set[str], items: Mapping[str, Requirement]) -> set[str]:
    """The ML requirements derived from any of ``roots``, and those derived from them."""
    found: set[str] = set(roots)
    frontier = list(roots)
    while frontier:
        here = frontier.pop()
        for other in items.values():
            if other.is_ml and here in other.derived_from and other.requirement_id not in found:
                found.add(other.requirement_id)
                frontier.append(other.requirement_id)
    return {rid for rid in found if items[rid].is_ml} if found else set()


def _subtree(rid: str, items: Mapping[str, Requirement]) -> set[str]:
    found, frontier = {rid}, [rid]
    while frontier:
        here = frontier.pop()
        for other in items.values():
            if (
                other.level == "system"
                and here in other.parents
                and other.requirement_id not in found
            ):
                found.add(other.requirement_id)
                frontier.append(other.requirement_id)
    return found


def _artifacts(tx: Tx, status: Status | None) -> dict[str, Artifact]:
    if status is None:
        return {}
    wanted = {
        "model": status.model_id,
        "dataset": status.dataset_id,
        "label_set": status.label_set_id,
    }
    if status.build_id is not None:
        wanted["build"] = tx.scalar(
            "SELECT artifact_id FROM builds WHERE build_id = ?", [status.build_id]
        )
    if status.verification_id is not None:
        wanted["verification"] = tx.scalar(
            "SELECT artifact_id FROM verification_runs WHERE verification_id = ?",
            [status.verification_id],
        )
    ids = [int(v) for v in wanted.values() if v is not None]
    found = {
        a.artifact_id: a
        for a in select_artifacts(tx, "WHERE artifact_id IN (SELECT unnest(?::BIGINT[]))", [ids])
    }
    return {k: found[int(v)] for k, v in wanted.items() if v is not None and int(v) in found}


def _slice_values(tx: Tx, item: Requirement, status: Status | None) -> tuple[SliceValue, ...]:
    """The evidence's value on each slice the requirement names (and the reference slice),
    judged by the status query itself: each with its n, interval and verdict."""
    if status is None or status.source is None or item.metric is None or item.comparator is None:
        return ()
    found = {
        (bool(row[9]), str(row[0])): row
        for row in slice_verdicts(tx, item.project, item.requirement_id)
    }
    out = []
    for target in item.slices or ("",):
        row = found.get((False, target))
        out.append(_slice_value(target, row, reference=False))
    if item.relative_to:
        out.append(_slice_value(item.relative_to, found.get((True, item.relative_to)), True))
    return tuple(out)


def _slice_value(name: str, row: tuple[Any, ...] | None, reference: bool) -> SliceValue:
    if row is None:
        return SliceValue(name, None, None, None, None, reference=reference)
    _, value, limit, verdict, estimated, n, lower, upper, method, _ = row
    passed = {"met": True, "violated": False}.get(verdict) if verdict else None
    return SliceValue(
        name,
        None if value is None else float(value),
        None if limit is None else float(limit),
        passed,
        None if estimated is None else bool(estimated),
        reference=reference,
        verdict=verdict,
        n=None if n is None else float(n),
        lower=lower,
        upper=upper,
        interval_method=method,
    )
