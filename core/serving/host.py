"""A serving host of a Loopline server: the prediction service on a machine without the
workspace.

The host pulls the production model from the server (each file by its SHA-256, checked on
arrival and again when read) into a local cache, follows the alias by polling the server (each
answer also names the ``acceptance`` model and the project's candidate mode: that model, pulled
through the same cache, runs beside production in the shadow or as a canary), and
writes its prediction-log segments into a local spool that a background thread ships to the
server (``monitoring.receive_segment``), deleting each one only once the server has it. The
server keeps a segment under (project, host id, name), so a segment shipped twice (the answer
was lost) is counted once.

Cache layout (``$LOOPLINE_CACHE``, else ``~/.cache/loopline``)::

    objects/<sha[:2]>/<sha>                              model files, content-addressed
    servers/<server>/production/<project>.<alias>.json  the last model served (production, and
                                                         the candidate), for a restart
    servers/<server>/spool/<host id>/logs/<project>/…   segments not yet shipped

When the server is unreachable the service keeps answering with the model it has (a restarted
host starts from the cached one), segments wait in the spool, and feedback tokens checked in the
last hour keep working (their audit rows are sent when the server is back).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from core.actor import Actor
from core.artifacts.models import Artifact, ArtifactFile
from core.errors import CoreError, Forbidden, InvalidInput, NotFound
from core.ml.form import ROLE as FORM_ROLE
from core.ml.form import FormModel, FormPredictor
from core.ml.model import Model
from core.projects.spec import parse_spec
from core.serving.app import Backend
from core.serving.http import Unavailable
from core.serving.log import KINDS, logged_request_ids, segments
from core.serving.service import CANDIDATE_ALIAS, Found, Placement, ServedModel, no_model
from core.store import utcnow

log = logging.getLogger("loopline.serving")
SHIP_SECONDS = 1.0  # the shipper looks at the spool this often
MAX_BACKOFF_SECONDS = 30.0  # while the server is unreachable, tries at most this far apart
OFFLINE_TOKEN_SECONDS = 3600.0  # a feedback token checked this recently works while unreachable
SKIPPED_ROLES = ("evaluation.json",)  # model files a host does not need to serve
FORM_ROLES = ("model.json", FORM_ROLE)  # all a host needs of a model with a serving form
REFUSED = "refused"  # spool folder of segments the server refused (kept, never lost)
SHIP_LOCK = ".ship.lock"  # held by the process shipping the spool (the service's workers share it)


class Hub(Protocol):
    """The server as the host uses it (``core.remote.transport.Transport``)."""

    def call(self, area: str, method: str, kwargs: dict[str, Any]) -> Any: ...

    def upload(self, source: Path) -> str: ...

    def download(self, sha256: str, dest: Path) -> Path: ...


class Hubs(Protocol):
    """The server as the host's token (``hub``) and as another token (a feedback sender)."""

    @property
    def hub(self) -> Hub: ...

    def as_token(self, token: str) -> Hub: ...


def unreachable(error: CoreError) -> bool:
    """A failure to talk to the server (worth trying again), not one of its refusals."""
    return not isinstance(error, InvalidInput | Forbidden | NotFound)


def default_cache() -> Path:
    found = os.environ.get("LOOPLINE_CACHE", "").strip()
    return Path(found).expanduser() if found else Path.home() / ".cache" / "loopline"


def server_key(url: str) -> str:
    """A folder name for the server at ``url`` (its host and port)."""
    bare = re.sub(r"^[a-z]+://", "", url.strip().rstrip("/").lower())
    return re.sub(r"[^a-z0-9.-]+", "_", bare)[:100] or "server"


@dataclass(frozen=True)
class HostPlaces:
    """Where one host keeps things under the cache folder."""

    cache: Path
    server: str
    host_id: str

    @property
    def objects(self) -> Path:
        return self.cache / "objects"

    @property
    def production(self) -> Path:
        return self.cache / "servers" / self.server / "production"

    @property
    def spool(self) -> Path:
        return self.cache / "servers" / self.server / "spool" / self.host_id


# -- the model ------------------------------------------------------------------------------


class ModelCache:
    """Model files by SHA-256 on local disk; a file is checked every time it is read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / sha256

    def read(self, sha256: str) -> bytes | None:
        """The file's bytes when the cache holds it intact (a damaged copy is removed)."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
        log.warning("cached model file %s… is damaged; fetching it again", sha256[:12])
        path.unlink(missing_ok=True)
        return None

    def fetch(self, hub: Hub, sha256: str) -> bytes:
        """From the cache, else downloaded (checked, written atomically) and read back."""
        found = self.read(sha256)
        if found is not None:
            return found
        hub.download(sha256, self.path(sha256))
        data = self.read(sha256)
        if data is None:
            raise CoreError(f"Model file {sha256[:12]}… did not arrive intact.")
        return data


def served_from(info: dict[str, Any], files: dict[str, bytes], loaded: datetime) -> ServedModel:
    """A :class:`ServedModel` from a ``serving.production_model`` answer and its files."""
    artifact = Artifact(
        artifact_id=int(info["artifact_id"]),
        kind="model",
        name=str(info["name"]),
        version=int(info["version"]),
        project=str(info["project"]),
        content_hash=str(info["content_hash"]),
        metadata=dict(info.get("metadata") or {}),
        created_at=_time(info["created_at"]),
        created_by=str(info["created_by"]),
        files=tuple(
            ArtifactFile(str(f["role"]), str(f["sha256"]), int(f["size_bytes"]))
            for f in info["files"]
        ),
    )
    spec = parse_spec(info["spec"], f"project {info['project']} (from the server)")
    promoted = _time(info["promoted_at"])
    if FORM_ROLE in files:  # NumPy only: no scikit-learn, skops or XGBoost to import
        manifest = json.loads(files["model.json"])
        form = FormModel(manifest)
        return ServedModel(
            artifact, form, FormPredictor(json.loads(files[FORM_ROLE])), spec, loaded, promoted
        )
    model = Model.from_files(files)
    return ServedModel(
        artifact, model, model.row_predictor(spec).for_serving(), spec, loaded, promoted
    )


def needed(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model files a host fetches: with a serving form, that and the manifest only."""
    if any(f["role"] == FORM_ROLE for f in listed):
        return [f for f in listed if f["role"] in FORM_ROLES]
    return [f for f in listed if f["role"] not in SKIPPED_ROLES]


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


class ServerSource:
    """The model under the alias on the server, cached on local disk (a ``ModelSource``).

    A poll of the production alias tells the rest too (``beside``): the ``acceptance`` model and
    the project's candidate mode, so the candidate alias is read from the last answer and its
    model fetched (by hash, through the same cache) only when it changes.

    The first ``find`` falls back to the cached model when the server cannot be reached; later
    ones raise, and the watcher keeps serving what it has."""

    def __init__(self, hub: Hub, places: HostPlaces, url: str) -> None:
        self.hub, self.places, self.url = hub, places, url
        self.cache = ModelCache(places.objects)
        self.answers: dict[int, dict[str, Any]] = {}  # artifact id → production_model answer
        self.started_offline: str | None = None  # why the first model came from the cache
        self.beside: dict[str, Any] | None = None  # the last answer's candidate and mode
        self._serving: int | None = None  # the artifact id of the production model loaded last
        self._production: int | None = None  # the production model the last answer named

    def find(self, project: str, alias: str) -> Found | None:
        if alias == CANDIDATE_ALIAS:  # told by the last poll of production
            told = self.beside or {}
            if told.get("artifact_id") is None:
                return None
            return int(told["artifact_id"]), _time(told["promoted_at"])
        try:
            asked = {"project": project, "alias": alias, "serving": self._serving}
            info = self.hub.call("serving", "production_model", asked)
        except CoreError as error:
            if self._serving is not None or not unreachable(error):
                raise
            info = self._remembered(project, alias, error)
            self.started_offline = error.message
            log.warning("%s: serving the cached %s model: %s", project, alias, error.message)
        if not isinstance(info, dict):
            raise CoreError(f"The server at {self.url} answered no production model.")
        artifact_id = int(info["artifact_id"])
        self.answers[artifact_id] = info
        said = info.get("beside")
        beside: dict[str, Any] | None = said if isinstance(said, dict) else None
        if beside != self.beside and artifact_id == self._serving:
            self._remember(project, info)  # a restart without the server runs it too
        self._production, self.beside = artifact_id, beside
        return artifact_id, _time(info["promoted_at"])

    def placement(self) -> Placement | None:
        """The project's candidate mode as the last poll of production said it."""
        beside = self.beside or {}
        if beside.get("mode") is None:
            return None
        return Placement(str(beside["mode"]), float(beside.get("share") or 0.0))

    def load(self, project: str, found: Found) -> ServedModel:
        production = found[0] == self._production  # else the candidate beside it
        info = self.answers[found[0]] if production else self._candidate(project, found[0])
        files = {
            str(f["role"]): self.cache.fetch(self.hub, str(f["sha256"]))
            for f in needed(info["files"])
        }
        served = served_from(info, files, utcnow())
        self._remember(project, info)
        if production:
            self._serving = served.artifact.artifact_id
        return served

    def _candidate(self, project: str, artifact_id: int) -> dict[str, Any]:
        """The acceptance model's record (its files checked by the server), or the cached one
        while the server cannot be reached."""
        try:
            asked = {"project": project, "alias": CANDIDATE_ALIAS, "serving": None}
            info = self.hub.call("serving", "production_model", asked)
        except CoreError as error:
            if not unreachable(error):
                raise
            info = self._remembered(project, CANDIDATE_ALIAS, error)
        if not isinstance(info, dict) or int(info["artifact_id"]) != artifact_id:
            raise CoreError(  # the alias moved since the poll: the next poll catches up
                f"The {CANDIDATE_ALIAS} model of {project!r} changed while it was fetched."
            )
        return info

    def missing(self, project: str, alias: str) -> CoreError:
        return no_model(project, alias)

    def _pointer(self, project: str, alias: str) -> Path:
        return self.places.production / f"{project}.{alias}.json"

    def _remember(self, project: str, info: dict[str, Any]) -> None:
        target = self._pointer(project, str(info.get("alias", "production")))
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # workers write it too
        temporary.write_text(json.dumps(info, default=str), encoding="utf-8")
        os.replace(temporary, target)

    def _remembered(self, project: str, alias: str, error: CoreError) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads(self._pointer(project, alias).read_text("utf-8"))
        except (OSError, ValueError):
            raise CoreError(
                f"{error.message.rstrip('.')}; no {alias} model of {project!r} is cached here.",
                hint="start the host once while the server is reachable (it caches the model in "
                f"{self.places.cache}, or set LOOPLINE_CACHE)",
            ) from None
        return found


# -- the log --------------------------------------------------------------------------------


@dataclass
class ShipperStats:
    shipped: int = 0  # segments the server took (duplicates included)
    duplicates: int = 0  # of them, ones the server already had
    refused: int = 0  # segments the server refused (kept in the spool's refused folder)
    audit_waiting: int = 0
    last_shipped: float | None = None
    last_error: str | None = None


@contextmanager
def spool_lock(spool: Path, *, wait: bool = False) -> Iterator[bool]:
    """The spool's shipping lock (an advisory lock on ``<spool>/.ship.lock``), taken at once or,
    with ``wait``, once free: whether this process holds it."""
    spool.mkdir(parents=True, exist_ok=True)
    with open(spool / SHIP_LOCK, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Shipper:
    """Ships the spool's finished segments to the server, oldest first, from a thread; each is
    deleted once the server has it. Feedback audit rows that could not be sent wait here too."""

    def __init__(
        self,
        hubs: Hubs,
        project: str,
        places: HostPlaces,
        *,
        interval: float = SHIP_SECONDS,
    ) -> None:
        self.hubs, self.project, self.places, self.interval = hubs, project, places, interval
        self.stats = ShipperStats()
        self._audits: list[tuple[str, list[str]]] = []  # (token, request ids)
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def waiting(self) -> list[tuple[str, Path]]:
        """(kind, segment) of every finished segment in the spool, oldest first."""
        found = [(k, s) for k in KINDS for s in segments(self.places.spool, self.project, k)]
        return sorted(found, key=lambda pair: pair[1].name)

    def ship_once(self, *, wait: bool = False) -> int:
        """Ship what waits (stops at the first failure to reach the server); how many went.
        One process at a time ships a spool (the service's workers share it): while another
        holds the spool's lock, this one ships nothing this time (``wait``: it waits its turn)."""
        with self._ship_lock, spool_lock(self.places.spool, wait=wait) as mine:
            self._send_audits()
            sent = 0
            for kind, segment in self.waiting() if mine else []:
                if not self._ship(kind, segment):
                    break
                sent += 1
            return sent

    def _ship(self, kind: str, segment: Path) -> bool:
        hub = self.hubs.hub
        try:
            upload = hub.upload(segment)
            answer = hub.call(
                "monitoring",
                "receive_segment",
                {
                    "project": self.project,
                    "host": self.places.host_id,
                    "kind": kind,
                    "name": segment.name,
                    "path": {"$upload": upload},
                },
            )
        except CoreError as error:
            if unreachable(error) or isinstance(error, Forbidden):
                self.stats.last_error = error.message
                return False
            self._set_aside(segment, error)  # the server will never take it: keep it, go on
            return True
        segment.unlink(missing_ok=True)
        self.stats.shipped += 1
        self.stats.duplicates += bool(isinstance(answer, dict) and answer.get("duplicate"))
        self.stats.last_shipped = time.time()
        self.stats.last_error = None
        return True

    def _set_aside(self, segment: Path, error: CoreError) -> None:
        log.error("the server refused segment %s: %s", segment.name, error.message)
        folder = self.places.spool / REFUSED
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(segment, folder / segment.name)
        (folder / f"{segment.name}.why.txt").write_text(error.message + "\n", encoding="utf-8")
        self.stats.refused += 1

    # feedback's audit rows, sent as the sender's token
    def audit(self, token: str, request_ids: Sequence[str]) -> None:
        """Record a feedback request on the server as the sender; kept for later when the
        server is unreachable."""
        try:
            self._send_audit(token, list(request_ids))
        except CoreError as error:
            if not unreachable(error):
                raise
            with self._lock:
                self._audits.append((token, list(request_ids)))
                self.stats.audit_waiting = len(self._audits)

    def _send_audit(self, token: str, request_ids: list[str]) -> None:
        self.hubs.as_token(token).call(
            "serving", "record_feedback", {"project": self.project, "request_ids": request_ids}
        )

    def _send_audits(self) -> None:
        with self._lock:
            waiting, self._audits = self._audits, []
        for index, (token, ids) in enumerate(waiting):
            try:
                self._send_audit(token, ids)
            except CoreError as error:
                if unreachable(error):
                    with self._lock:
                        self._audits[:0] = waiting[index:]
                    break
                log.warning("a feedback audit row was refused: %s", error.message)
        with self._lock:
            self.stats.audit_waiting = len(self._audits)

    # the thread
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="log-shipper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            try:
                self.ship_once()
            except Exception:  # a bug: say so, keep the spool, try again
                log.exception("shipping the prediction log failed")
            failing = self.stats.last_error is not None
            pause = min(pause * 2, MAX_BACKOFF_SECONDS) if failing else self.interval

    def stop(self) -> None:
        """Stop the thread and ship what the log's last flush wrote, if the server answers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.ship_once(wait=True)  # after any other worker shipping now: its flush too
        except Exception:
            log.exception("shipping the prediction log at shutdown failed")

    def health(self) -> dict[str, Any]:
        return {
            "host_id": self.places.host_id,
            "spooled_segments": len(self.waiting()),
            "shipped_segments": self.stats.shipped,
            "refused_segments": self.stats.refused,
            "feedback_audits_waiting": self.stats.audit_waiting,
            "ship_error": self.stats.last_error,
        }


# -- feedback tokens ------------------------------------------------------------------------


class TokenChecker:
    """Checks a feedback token with the server (as that token: ``serving.feedback_actor``);
    a token checked in the last ``OFFLINE_TOKEN_SECONDS`` still passes while it is
    unreachable."""

    def __init__(self, hubs: Hubs, project: str) -> None:
        self.hubs, self.project = hubs, project
        self._checked: dict[str, tuple[str, float]] = {}  # sha256 of the token → (name, when)
        self._lock = threading.Lock()

    def __call__(self, token: str) -> Actor:
        key = hashlib.sha256(token.encode()).hexdigest()
        try:
            name = self.hubs.as_token(token).call(
                "serving", "feedback_actor", {"project": self.project}
            )
        except CoreError as error:
            if not unreachable(error):
                raise
            with self._lock:
                known = self._checked.get(key)
            if known is None or time.monotonic() - known[1] > OFFLINE_TOKEN_SECONDS:
                raise Unavailable(
                    f"{error.message.rstrip('.')}; this token cannot be checked until it is back.",
                    hint="send the feedback again later",
                ) from None
            return Actor(known[0], "service", token=token)
        with self._lock:
            self._checked[key] = (str(name), time.monotonic())
        return Actor(str(name), "service", token=token)


# -- the service ----------------------------------------------------------------------------


def spooled_request_ids(root: Path, project: str, wanted: set[str]) -> set[str]:
    """Which of ``wanted`` the spool's finished prediction segments hold (each segment read
    once; one shipped and deleted meanwhile is the server's to answer for)."""
    return logged_request_ids(root, project, wanted)


class Host:
    """What a serving host runs beside the service: the model source, the shipper, the token
    check; :meth:`backend` hands them to :func:`core.serving.app.create_app`."""

    def __init__(
        self, hubs: Hubs, project: str, places: HostPlaces, url: str, *, ship_seconds: float
    ) -> None:
        self.hubs, self.project, self.places = hubs, project, places
        self.source = ServerSource(hubs.hub, places, url)
        self.shipper = Shipper(hubs, project, places, interval=ship_seconds)
        self.tokens = TokenChecker(hubs, project)

    def backend(self) -> Backend:
        return Backend(
            source=self.source,
            log_root=self.places.spool,
            authenticate=self.tokens,
            record_feedback=self._record_feedback,
            logged_request_ids=self._logged,
            start=self.shipper.start,
            stop=self.shipper.stop,
            health=self._health,
            placement=self.source.placement,
        )

    def _record_feedback(self, actor: Actor, request_ids: Sequence[str]) -> None:
        if actor.token is None:
            raise Forbidden("Feedback needs an API token.")
        self.shipper.audit(actor.token, request_ids)

    def _logged(self, request_ids: Sequence[str]) -> set[str]:
        wanted = set(request_ids)
        found = spooled_request_ids(self.places.spool, self.project, wanted)
        rest = sorted(wanted - found)
        if not rest:
            return found
        try:
            answer = self.hubs.hub.call(
                "serving", "logged_request_ids", {"project": self.project, "request_ids": rest}
            )
        except CoreError:  # cannot ask: do not warn about ids that may well be logged
            return wanted
        return found | {str(i) for i in answer or []}

    def _health(self) -> dict[str, Any]:
        return {
            "server": self.source.url,
            "started_offline": self.source.started_offline,
            **self.shipper.health(),
        }
