"""Running a serving host of a Loopline server (:func:`serve_host`): it imports the web stack,
so it lives apart from :mod:`core.api.serving`, which every page and command imports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.api.serving import MIN_BODY_BYTES, Service, candidate_placement, candidate_text
from core.errors import InvalidInput
from core.serving.app import create_app
from core.serving.host import SHIP_SECONDS, Host, HostPlaces, Hubs, default_cache, server_key
from core.serving.hosts import check_host_id
from core.serving.server import bind, run, url_of
from core.serving.service import POLL_SECONDS


def serve_host(
    hubs: Hubs,
    url: str,
    project: str,
    *,
    host_id: str,
    cache: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body_bytes: int = 1_000_000,
    log_level: str = "warning",
    access_log: bool = False,
    poll_seconds: float = POLL_SECONDS,
    ship_seconds: float = SHIP_SECONDS,
    ready: Callable[[Service], None] | None = None,
    shadow: bool = False,
    canary: float | None = None,
) -> None:
    """A serving host of the Loopline server at ``url`` (``hubs``: its transport, as the host's
    token and as a feedback sender's): serve the project's production model, pulled from the
    server and cached under ``cache`` (default ``$LOOPLINE_CACHE`` or ``~/.cache/loopline``),
    following the alias every ``poll_seconds``, and ship the log to the server every
    ``ship_seconds``, as host ``host_id``. The ``acceptance`` model runs beside production as
    the project's candidate mode on the server says (``loopline candidate PROJECT --shadow |
    --canary P | --off``), followed at every poll; ``shadow`` or ``canary`` fix this host's
    mode instead. Runs until interrupted, like ``Serving.serve``."""
    if max_body_bytes < MIN_BODY_BYTES:
        raise InvalidInput(
            f"--max-body-bytes must be at least {MIN_BODY_BYTES}, got {max_body_bytes}."
        )
    placement = candidate_placement(shadow, canary)
    places = HostPlaces(cache or default_cache(), server_key(url), check_host_id(host_id))
    sock = bind(host, port)
    try:
        serving_host = Host(hubs, project, places, url, ship_seconds=ship_seconds)
        app = create_app(
            serving_host.backend(),
            project,
            max_body_bytes=max_body_bytes,
            poll_seconds=poll_seconds,
            placement=placement,
        )
    except BaseException:
        sock.close()
        raise
    if ready is not None:
        watcher = app.state.watcher
        beside = candidate_text(watcher.candidate, watcher.placement)
        folder = places.spool / "logs" / project
        ready(Service(project, watcher.current.artifact.ref, url_of(sock), folder, beside))
    run(app, sock, log_level=log_level, access_log=access_log)
