"""Serving: running the prediction service of a project's production model, and replaying later
data through it (simulate); what serving hosts of a Loopline server ask of it (the production
model, feedback checks and audit rows), and running such a host (:func:`serve_host`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import core.serving
from core.accounts.access import authorize
from core.api.area import Area, Progress
from core.errors import InvalidInput
from core.serving.log import PREDICTIONS, log_folder, logged_request_ids

if TYPE_CHECKING:  # at run time the annotations below resolve through core.serving's attributes
    import core.serving.hosts
    import core.serving.placements
    import core.serving.service
    import core.serving.simulate

# The web stack (FastAPI, uvicorn), the demo and the models' libraries are imported by the
# methods that use them, so that importing the API (every page, every CLI command) does not.

MIN_BODY_BYTES = 1_000


@dataclass(frozen=True)
class Service:
    """A prediction service that is listening: what it serves, where, and where it logs."""

    project: str
    model: str  # the served model's reference, e.g. model:ooo-replies@3
    url: str
    log_folder: Path
    candidate: str | None = None  # e.g. "model:ooo-replies@4 in the shadow"


class Serving(Area):
    def serve(
        self,
        project: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_body_bytes: int = 1_000_000,
        log_level: str = "warning",
        access_log: bool = False,
        ready: Callable[[Service], None] | None = None,
        shadow: bool = False,
        canary: float | None = None,
        workers: int | None = None,
    ) -> None:
        """Serve the project's production model over HTTP in this process until interrupted
        (Ctrl-C or SIGTERM; the log is flushed first). ``ready`` is told the :class:`Service`
        once the port is bound and the model loaded (a port in use is refused before the model
        loads; ``port`` 0 picks a free one). ``shadow``: the ``acceptance`` model scores every
        request beside production, never answering; ``canary``: it answers that percentage of
        the keys (sticky per key); ``workers``: processes answering on the one port (default:
        ``$LOOPLINE_SERVE_WORKERS``, else 1), each logging its own segments. Without
        ``shadow`` or ``canary`` the service follows the project's candidate mode
        (:meth:`place_candidate`) at every poll."""
        if max_body_bytes < MIN_BODY_BYTES:
            raise InvalidInput(
                f"--max-body-bytes must be at least {MIN_BODY_BYTES}, got {max_body_bytes}."
            )
        from core.serving.app import create_app
        from core.serving.auth import token_authenticator
        from core.serving.server import bind, run, url_of, worker_count

        count = worker_count(workers)  # a bad count is said before the model loads
        placement = candidate_placement(shadow, canary)
        ws = self._ws  # a missing workspace is said first
        sock = bind(host, port)
        try:
            app = create_app(
                ws,
                project,
                authenticate=token_authenticator(ws, project),
                max_body_bytes=max_body_bytes,
                placement=placement,
            )
        except BaseException:
            sock.close()
            raise
        if ready is not None:
            folder = log_folder(ws, project, PREDICTIONS).parent
            watcher = app.state.watcher
            beside = candidate_text(watcher.candidate, watcher.placement)
            ready(Service(project, watcher.current.artifact.ref, url_of(sock), folder, beside))
        run(app, sock, log_level=log_level, access_log=access_log, workers=count)

    def place_candidate(
        self, project: str, mode: str, share: float | None = None
    ) -> core.serving.placements.CandidateMode | None:
        """Run the project's ``acceptance`` model beside production on every service that
        follows the project — each serving host of the server, and ``loopline serve`` started
        without ``--shadow``/``--canary`` — from their next poll: ``mode`` ``shadow``,
        ``canary`` (answering ``share`` percent of the keys, sticky per key) or ``off``. Needs
        the ``promote`` permission; audited as ``candidate.mode``. None once it is off."""
        from core.serving.placements import set_mode

        return set_mode(self._ws, project, self._actor, mode, share)

    # what a serving host of a Loopline server asks (as its token's user)
    def production_model(
        self, project: str, alias: str = "production", serving: int | None = None
    ) -> core.serving.hosts.ProductionModel:
        """The model under ``alias`` as a serving host fetches it: its record, its files' SHA-256
        (each downloaded from ``GET /api/v1/objects/{sha256}``) and the project definition. A
        damaged model is refused (``serving``: the artifact id the host serves now, whose files
        are not re-hashed on every poll). Needs the ``monitor.record`` permission (role
        ``service``)."""
        from core.serving.hosts import production_model

        return production_model(self._ws, project, self._actor, alias, serving)

    def feedback_actor(self, project: str) -> str:
        """The client's user name when it may send feedback on the project (Forbidden when not):
        a serving host checks a feedback sender's token with it."""
        authorize(self._ws, self._actor, "feedback", project)
        return self._actor.name

    def record_feedback(self, project: str, request_ids: Sequence[str]) -> int:
        """Record a feedback request of the client's user on a serving host (the audit row a local
        service writes); how many answers it held."""
        if not request_ids:
            raise InvalidInput("A feedback record names at least one request id.")
        from core.serving.service import record_feedback

        record_feedback(self._ws, self._actor, project, list(request_ids))
        return len(request_ids)

    def logged_request_ids(self, project: str, request_ids: Sequence[str]) -> list[str]:
        """Which of ``request_ids`` the project's prediction log holds (any host's segments)."""
        authorize(self._ws, self._actor, "feedback", project)
        return sorted(logged_request_ids(self._ws, project, request_ids))

    def simulate(
        self,
        project: str,
        *,
        days: float,
        url: str | None = None,
        start: datetime | str | None = None,
        feedback_rate: float = 0.7,
        feedback_delay_days: float = 3.0,
        truth: Path | None = None,
        rate_per_hour: int | None = None,
        seed: int = 0,
        source: Path | None = None,
        token: str | None = None,
        progress: Progress | None = None,
        truth_columns: Mapping[str, str] | None = None,
    ) -> core.serving.simulate.SimulationResult:
        """Replay the project's later data (or ``source``'s rows) through the service at ``url``
        (default: one started on a free port for the replay, logging as the client's user) in
        event-time order, with delayed feedback (``truth``: a CSV of the id column and 'label',
        or of its own columns named by ``truth_columns`` ``{"id": …, "label": …}``; default:
        the data's label column)."""
        from core.serving.simulate import simulate

        return simulate(
            self._ws,
            project,
            days=days,
            url=url,
            start=start,
            feedback_rate=feedback_rate,
            feedback_delay_days=feedback_delay_days,
            truth=truth,
            rate_per_hour=rate_per_hour,
            seed=seed,
            source=source,
            token=token,
            actor=self._actor if url is None else None,
            progress=progress,
            truth_columns=truth_columns,
        )

    @staticmethod
    def sample_truth(project: str) -> Path | None:
        """The sample project's truth file (sample_data/<project>/data/truth.csv), None when
        ``project`` is not a sample project or this installation has no sample data."""
        from core.demo import demo_plans

        try:
            plans = demo_plans()
        except Exception:  # no sample data in this installation (or none that reads)
            return None
        for plan in plans:
            if plan.folder.name == project and plan.truth is not None and plan.truth.is_file():
                return plan.truth
        return None


def candidate_placement(
    shadow: bool, canary: float | None
) -> core.serving.service.Placement | None:
    from core.serving.service import Placement

    if shadow and canary is not None:
        raise InvalidInput(
            "A candidate runs either in the shadow or as a canary, not both.",
            hint="pass --shadow or --canary PERCENT",
        )
    if shadow:
        return Placement("shadow")
    return Placement("canary", canary) if canary is not None else None


def candidate_text(
    candidate: core.serving.service.ServedModel | None,
    placement: core.serving.service.Placement | None,
) -> str | None:
    """How the service describes its candidate when it starts."""
    if placement is None:
        return None
    if candidate is None:
        return f"none in acceptance yet ({placement.describe()} once one is promoted there)"
    if placement.mode == "shadow":
        return f"{candidate.artifact.ref} in the shadow"
    return f"{candidate.artifact.ref} as a canary answering {placement.share:g}% of the keys"


def __getattr__(name: str) -> Any:
    """``serve_host`` is in :mod:`core.api.hosting` (it imports the web stack); importing it
    from here still works."""
    if name == "serve_host":
        from core.api.hosting import serve_host

        return serve_host
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
