"""Which methods of ``core.api.Client`` the server exposes, and binding a JSON body to one.

The callable methods are found by introspection: every public method of every area of a client
(``client.<area>.<method>``), except static helpers (a remote client runs them locally), methods
taking a callback other than ``progress`` (``serving.serve``), and the app's sign-in methods.
Each is classified here as a read or a write, once: a write's response is kept for retries
(``X-Request-Id``). A method missing from ``KINDS`` is not exposed (the server logs it, and a
test names it), so a new API method is never served unclassified.
"""

from __future__ import annotations

import collections.abc
import inspect
import logging
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.api import Client
from core.api.client import AREAS
from core.server.convert import ArgumentError, Upload, from_json

READ, WRITE = "read", "write"
log = logging.getLogger("loopline.server")

# The app's own sign-in: a token already proves the user, recording another party's sign-in is
# the app's business, and its unchecked look-ups of any user (by name, by e-mail) are for the
# sign-in page only (`accounts.users` is the checked listing). data.import_mlflow reads whatever
# tracking store its URI names from the server's side (a file: URI is a folder of the server):
# it runs where the workspace is, until it refuses such URIs for a remote caller.
NOT_CALLABLE = frozenset(
    {
        "data.import_mlflow",
        "serving.serve",
        "accounts.sign_in",
        "accounts.resume",
        "accounts.sign_out",
        "accounts.record_sign_in",
        "accounts.user",
        "accounts.user_for_email",
    }
)

_READS = """
projects.get projects.list projects.overview projects.visible
artifacts.count_by_kind artifacts.find artifacts.get artifacts.lineage artifacts.list
artifacts.preview artifacts.reproduce
data.export data.profile data.quality
labeling.agreement labeling.agreement_so_far labeling.export labeling.item_history
labeling.labels_left labeling.left_for labeling.progress labeling.review_queue labeling.task
labeling.tasks
runs.check_logging runs.compare runs.get runs.search
builds.get builds.get_number builds.list builds.slice_findings
behave.run
models.find_alias models.predict_dataset models.promotion_history
models.readiness models.environments models.compare_candidate
requirements.evidence requirements.export requirements.impact requirements.list
requirements.matrix requirements.model_card requirements.status_history
requirements.status_summary requirements.trace_export requirements.versions requirements.document
monitoring.alert monitoring.alerts monitoring.dashboard monitoring.feature_distribution
monitoring.grains monitoring.incidents monitoring.latest_windows monitoring.quarantined
monitoring.retrain_requests monitoring.tasks_of monitoring.windows
serving.feedback_actor serving.logged_request_ids serving.production_model
accounts.allowed accounts.audit accounts.audit_actions accounts.audit_actors accounts.is_open
accounts.refusal accounts.tokens accounts.users
accounts.whoami
automation.bisect automation.deliveries automation.schedules automation.webhooks
"""
_WRITES = """
projects.create
artifacts.prune artifacts.verify
data.ingest
labeling.answer labeling.create_task labeling.decide labeling.freeze labeling.import_labels
labeling.next_item labeling.skip labeling.undo
runs.log_batch runs.put_file runs.reserve_ids runs.sweep runs.train
builds.abort_remote builds.finish_remote builds.renew_remote builds.run builds.start_remote
models.promote models.register_run models.rollback
models.release models.check_canary
requirements.create_derived requirements.delete requirements.edit requirements.import_file
requirements.recompute requirements.save_rows requirements.verify_system
monitoring.acknowledge monitoring.acknowledge_alerts monitoring.compute_windows
monitoring.receive_segment monitoring.request_retraining monitoring.send_to_labeling
accounts.add_user accounts.assign accounts.create_token accounts.create_user
accounts.export_audit accounts.grant accounts.reset_password accounts.revoke
accounts.revoke_token accounts.set_active accounts.update_user
serving.record_feedback serving.simulate serving.place_candidate
automation.add_webhook automation.deliver automation.remove_webhook automation.scheduler_pass
automation.test_webhook
"""
KINDS: dict[str, str] = {
    **dict.fromkeys(_READS.split(), READ),
    **dict.fromkeys(_WRITES.split(), WRITE),
}


@dataclass(frozen=True)
class Method:
    """One callable method: ``area.name``, its parameters' types, and read or write."""

    area: str
    name: str
    kind: str
    parameters: Mapping[str, inspect.Parameter]
    hints: Mapping[str, Any]
    returns: Any

    @property
    def key(self) -> str:
        return f"{self.area}.{self.name}"

    def bind(self, body: Any, upload: Upload) -> dict[str, Any]:
        """The keyword arguments of a JSON body, each converted to its parameter's type;
        ArgumentError names a missing, unknown or mistyped one."""
        if not isinstance(body, dict):
            raise ArgumentError(
                f"{self.key}: the body must be a JSON object of keyword arguments.",
                hint='e.g. {"project": "emails"}',
            )
        unknown = sorted(set(body) - set(self.parameters))
        if unknown:
            allowed = ", ".join(self.parameters) or "none"
            raise ArgumentError(
                f"{self.key}: unknown argument {unknown[0]!r}. Expected some of: {allowed}."
            )
        missing = [
            name
            for name, p in self.parameters.items()
            if p.default is inspect.Parameter.empty and name not in body
        ]
        if missing:
            raise ArgumentError(f"{self.key}: missing argument {missing[0]!r}.")
        return {
            name: from_json(value, self.hints.get(name, Any), name, upload)
            for name, value in body.items()
        }

    def call(self, client: Client, kwargs: Mapping[str, Any]) -> Any:
        bound: Callable[..., Any] = getattr(getattr(client, self.area), self.name)
        return bound(**kwargs)


def callable_methods(client: Client) -> dict[str, Method]:
    """Every method of ``client``'s areas the server exposes, by ``area.method`` (the ones
    ``KINDS`` classifies)."""
    found: dict[str, Method] = {}
    for area_name, area in _areas(client):
        for name in sorted(dir(type(area))):
            method = _method(area_name, type(area), name)
            if method is not None:
                found[method.key] = method
    return found


def unclassified(client: Client) -> list[str]:
    """Public API methods the server would expose but ``KINDS`` does not classify."""
    return [
        f"{area_name}.{name}"
        for area_name, area in _areas(client)
        for name in sorted(dir(type(area)))
        if _candidate(area_name, type(area), name) and f"{area_name}.{name}" not in KINDS
    ]


def stale(client: Client) -> list[str]:
    """Entries of ``KINDS`` that name no method the server could expose."""
    found = {
        f"{area_name}.{name}"
        for area_name, area in _areas(client)
        for name in dir(type(area))
        if _candidate(area_name, type(area), name)
    }
    return sorted(set(KINDS) - found)


def unresolved(client: Client) -> list[str]:
    """Public API methods whose annotations do not resolve at run time (not served)."""
    return [
        f"{area_name}.{name}"
        for area_name, area in _areas(client)
        for name in sorted(dir(type(area)))
        if _exposable(type(area), name) and _hints(type(area), name) is None
    ]


def _areas(client: Client) -> list[tuple[str, Any]]:
    """Every area of ``client`` (``core.api.client.AREAS``; the server imports them all)."""
    return [(name, getattr(client, name)) for name in AREAS]


def _exposable(area: type, name: str) -> bool:
    if name.startswith("_"):
        return False
    attr = inspect.getattr_static(area, name)
    return inspect.isfunction(attr)


def _candidate(area_name: str, area: type, name: str) -> bool:
    """A public method that is not refused outright (static helpers, callbacks, NOT_CALLABLE)."""
    if not _exposable(area, name) or f"{area_name}.{name}" in NOT_CALLABLE:
        return False
    hints = _hints(area, name)
    if hints is None:
        return False
    return not any(
        _is_callback(hint) for p, hint in hints.items() if p not in ("progress", "return")
    )


def _hints(area: type, name: str) -> dict[str, Any] | None:
    """The method's resolved annotations (None, logged, when one names a type that cannot be
    resolved at run time, e.g. one imported only for type checking: such a method is not
    served)."""
    try:
        return typing.get_type_hints(inspect.getattr_static(area, name))
    except (NameError, TypeError) as error:
        log.warning(
            "%s.%s is not served: its annotations do not resolve (%s)", area.__name__, name, error
        )
        return None


def _method(area_name: str, area: type, name: str) -> Method | None:
    key = f"{area_name}.{name}"
    if not _candidate(area_name, area, name):
        return None
    if key not in KINDS:
        log.warning("%s is not served: it is not classified in core.server.dispatch.KINDS", key)
        return None
    function = inspect.getattr_static(area, name)
    hints = _hints(area, name) or {}
    parameters = {
        p.name: p
        for p in list(inspect.signature(function).parameters.values())[1:]  # without self
        if p.name != "progress"  # a client-side callback: never sent
    }
    return Method(area_name, name, KINDS[key], parameters, hints, hints.get("return"))


def _is_callback(annotation: Any) -> bool:
    if annotation is None:
        return False
    if typing.get_origin(annotation) is collections.abc.Callable:
        return True
    return any(_is_callback(a) for a in typing.get_args(annotation))
