"""Serving: running the prediction service of a project's production model, and replaying later
data through it (simulate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.api.area import Area, Progress
from core.demo import demo_plans
from core.errors import InvalidInput
from core.serving.app import create_app
from core.serving.auth import token_authenticator
from core.serving.log import PREDICTIONS, log_folder
from core.serving.server import bind, run, url_of
from core.serving.simulate import SimulationResult, simulate

MIN_BODY_BYTES = 1_000


@dataclass(frozen=True)
class Service:
    """A prediction service that is listening: what it serves, where, and where it logs."""

    project: str
    model: str  # the served model's reference, e.g. model:ooo-replies@3
    url: str
    log_folder: Path


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
    ) -> None:
        """Serve the project's production model over HTTP in this process until interrupted
        (Ctrl-C or SIGTERM; the log is flushed first). ``ready`` is told the :class:`Service`
        once the port is bound and the model loaded (a port in use is refused before the model
        loads; ``port`` 0 picks a free one)."""
        if max_body_bytes < MIN_BODY_BYTES:
            raise InvalidInput(
                f"--max-body-bytes must be at least {MIN_BODY_BYTES}, got {max_body_bytes}."
            )
        ws = self._ws  # a missing workspace is said first
        sock = bind(host, port)
        try:
            app = create_app(
                ws,
                project,
                authenticate=token_authenticator(ws, project),
                max_body_bytes=max_body_bytes,
            )
        except BaseException:
            sock.close()
            raise
        if ready is not None:
            folder = log_folder(ws, project, PREDICTIONS).parent
            ready(Service(project, app.state.watcher.current.artifact.ref, url_of(sock), folder))
        run(app, sock, log_level=log_level, access_log=access_log)

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
    ) -> SimulationResult:
        """Replay the project's later data (or ``source``'s rows) through the service at ``url``
        (default: one started on a free port for the replay, logging as the client's user) in
        event-time order, with delayed feedback (``truth``: a CSV of the id column and 'label';
        default: the data's label column)."""
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
        )

    @staticmethod
    def sample_truth(project: str) -> Path | None:
        """The sample project's truth file (sample_data/<project>/data/truth.csv), None when
        ``project`` is not a sample project or this installation has no sample data."""
        try:
            plans = demo_plans()
        except Exception:  # no sample data in this installation (or none that reads)
            return None
        for plan in plans:
            if plan.folder.name == project and plan.truth is not None and plan.truth.is_file():
                return plan.truth
        return None
