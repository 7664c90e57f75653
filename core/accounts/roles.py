"""The role × permission matrix and the action → permission map: the one place access is defined.

Every change names an action when it writes its audit row (``core.accounts.audit.record``); ACTIONS
maps it to a permission, and PERMISSIONS says which roles hold it. Reads name a permission
directly (``core.accounts.access.authorize``). ``admin`` holds every permission. docs/accounts.md
shows the same table (a test renders it from here and compares).
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES: dict[str, str] = {
    "annotator": "labels the items of the tasks assigned to them",
    "reviewer": "settles disagreements, freezes label sets, runs labeling tasks",
    "data_scientist": "ingests data, trains, builds and compares models",
    "release_manager": "promotes models to production and rolls them back",
    "manager": "edits requirements, sees everything, exports, reads the audit log",
    "admin": "manages users and settings; may do everything",
    "service": "a machine account (API token) that posts feedback and monitoring figures",
}
ADMIN = "admin"
ALL_PROJECTS = ""  # a grant's project: '' = every project
SYSTEM_ROLE = "system"
"""Loopline itself (``core.actor.SYSTEM``) when it stores derived data such as monitoring
references on demand; no user can hold it."""


@dataclass(frozen=True)
class Permission:
    """What a permission allows (a verb phrase for messages) and which roles hold it.

    ``workspace`` permissions are about the whole workspace (users, settings, the audit log): only
    a grant for all projects gives them. Project permissions can be granted per project.
    """

    does: str
    roles: tuple[str, ...]
    workspace: bool = False


_ANYONE = ("annotator", "reviewer", "data_scientist", "release_manager", "manager", "service")
_READERS = ("reviewer", "data_scientist", "release_manager", "manager")

PERMISSIONS: dict[str, Permission] = {
    # reading
    "project.read": Permission("see the project", _ANYONE),
    "data.read": Permission("see datasets, artifacts and lineage", _READERS),
    "labeling.read": Permission(
        "see labeling tasks, answers and agreement", ("reviewer", "data_scientist", "manager")
    ),
    "experiments.read": Permission(
        "see runs, builds and models", ("data_scientist", "release_manager", "manager")
    ),
    "requirements.read": Permission("see requirements and their evidence", _READERS),
    "monitoring.read": Permission(
        "see monitoring, drift and alerts", ("data_scientist", "release_manager", "manager")
    ),
    "export": Permission("export label sets and data", ("reviewer", "data_scientist", "manager")),
    "audit.read": Permission("read and export the audit log", ("manager",), workspace=True),
    # data management
    "data.ingest": Permission("ingest data", ("data_scientist",)),
    "project.edit": Permission("create or change project definitions", ("data_scientist",)),
    "label": Permission("label items", ("annotator",)),
    "labeling.manage": Permission(
        "create, close and assign labeling tasks or import answers", ("reviewer", "data_scientist")
    ),
    "review": Permission("settle labeling disagreements", ("reviewer",)),
    "freeze": Permission("freeze label sets", ("reviewer", "data_scientist")),
    "artifacts.register": Permission(
        "register artifacts",
        ("reviewer", "data_scientist", "release_manager", "manager", "service", SYSTEM_ROLE),
    ),
    # modeling and release
    "train": Permission("train models and log runs", ("data_scientist",)),
    "build": Permission("build models", ("data_scientist",)),
    "build.reap": Permission("close builds whose process died", (SYSTEM_ROLE,)),
    "model.register": Permission("register model versions", ("data_scientist",)),
    "promote": Permission("promote or roll back models", ("release_manager",)),
    "canary.rollback": Permission(
        "roll a canary back when a rule fires on it", ("release_manager", SYSTEM_ROLE)
    ),
    # requirements and operations
    "requirements.edit": Permission("edit requirements", ("manager",)),
    "alert.ack": Permission("acknowledge alerts", ("data_scientist", "manager")),
    "alert.act": Permission(
        "turn alerts into labeling tasks or retraining requests", ("data_scientist",)
    ),
    "monitor.record": Permission(
        "record monitoring figures", ("data_scientist", "service", SYSTEM_ROLE)
    ),
    "verify_system": Permission("run system verification", ("data_scientist",)),
    "feedback": Permission("send feedback on predictions", ("data_scientist", "service")),
    # the workspace
    "users.manage": Permission("manage users, roles and tokens", (), workspace=True),
    "settings": Permission("change workspace settings", (), workspace=True),
    "backup": Permission("back up and restore the workspace", (), workspace=True),
    "self": Permission("manage their own password and tokens", _ANYONE),
}

OPEN = None
"""Actions anyone may cause (a login attempt has no user yet); they are recorded, never refused."""

ACTIONS: dict[str, str | None] = {
    # data management
    "project.create": "project.edit",
    "project.update": "project.edit",
    "ingest": "data.ingest",
    "register": "artifacts.register",
    "task.create": "labeling.manage",
    "task.open": "labeling.manage",
    "task.closed": "labeling.manage",
    "task.assign": "labeling.manage",
    "task.unassign": "labeling.manage",
    "annotations.import": "labeling.manage",
    "annotate": "label",
    "annotate.skip": "label",
    "annotate.undo": "label",
    "review": "review",
    "freeze": "freeze",
    # modeling, builds and releases
    "run.log": "train",
    "model.register": "model.register",
    "build.running": "build",
    "build.successful": "build",
    "build.failed": "build",
    "build.aborted": "build",
    "build.reaped": "build.reap",  # Loopline closes a dead build as aborted, whoever looked
    "promote": "promote",
    "canary.rollback": "canary.rollback",
    "candidate.mode": "promote",
    # requirements and operations
    "requirements.edit": "requirements.edit",
    "requirements.import": "requirements.edit",
    "requirements.delete": "requirements.edit",
    "alert.ack": "alert.ack",
    "alert.task": "alert.act",
    "retrain.request": "alert.act",
    "monitor.record": "monitor.record",
    "monitor.reference": "monitor.record",
    "verify_system": "verify_system",
    "feedback": "feedback",
    # accounts and the audit log
    "workspace.backup": "backup",
    "workspace.restore": "backup",
    "users.add": "users.manage",
    "users.update": "users.manage",
    "users.disable": "users.manage",
    "users.enable": "users.manage",
    "users.reset_password": "users.manage",
    "users.grant": "users.manage",
    "users.revoke": "users.manage",
    "tokens.create": "self",
    "tokens.revoke": "self",
    "password.change": "self",
    "settings.update": "settings",
    "webhook.add": "settings",
    "webhook.remove": "settings",
    "webhook.test": "settings",
    "blobs.prune": "settings",
    "audit.export": "audit.read",
    "login": OPEN,
    "login.failed": OPEN,
    "logout": OPEN,
    "session.expired": OPEN,
}


def roles_with(permission: str) -> tuple[str, ...]:
    """The roles that hold ``permission`` (admin always does), in ROLES order."""
    held = set(PERMISSIONS[permission].roles) | {ADMIN}
    return tuple(role for role in ROLES if role in held)


def permissions_of(role: str) -> frozenset[str]:
    if role == ADMIN:
        return frozenset(PERMISSIONS)
    return frozenset(name for name, p in PERMISSIONS.items() if role in p.roles)


def matrix_markdown() -> str:
    """The role × permission table as Markdown (docs/accounts.md holds the same text)."""
    roles = list(ROLES)
    lines = [
        "| permission | what it allows | " + " | ".join(roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for name, permission in PERMISSIONS.items():
        held = roles_with(name)
        marks = " | ".join("✔" if role in held else "" for role in roles)
        scope = " (all projects only)" if permission.workspace else ""
        lines.append(f"| `{name}` | {permission.does}{scope} | {marks} |")
    return "\n".join(lines)


def actions_markdown() -> str:
    """Every audited action and the permission it needs."""
    lines = ["| action | permission |", "|---|---|"]
    for action, permission in ACTIONS.items():
        lines.append(f"| `{action}` | {f'`{permission}`' if permission else 'anyone (recorded)'} |")
    return "\n".join(lines)
