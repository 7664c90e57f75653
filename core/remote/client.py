"""The public API over HTTP: ``RemoteClient`` has the areas and methods of ``core.api.Client``
and returns the same dataclasses, so surfaces use either without knowing which.

    client = RemoteClient("https://loopline.example:8765", token)
    client.data.ingest("emails", Path("new.csv"))     # the file is uploaded first

The areas are generated from ``core.api``'s area classes (``core.api.client.AREAS``), each on
first use, method by method from their signatures: a new API method is remote as soon as the
server exposes it. Each call sends the
arguments given (in ``core.api.serialise`` form; a ``Path`` argument is uploaded and sent as
``{"$upload": id}``, a ``progress`` callback stays here) and rebuilds the result from JSON by the
method's return annotation. Static helpers (``Monitoring.group_alerts``…) run locally. The client
acts as its token's user; it never opens a workspace, and never imports DuckDB."""

from __future__ import annotations

import functools
import inspect
import os
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.api import Actor, CoreError, InvalidInput, serialise
from core.api.area import Area
from core.api.client import Areas, area_type
from core.api.client import area_types as area_types  # core.remote's, for its callers
from core.remote.deserialise import Json, rebuild, signature_types
from core.remote.transport import Transport

PROGRESS = "progress"
LOCAL_ONLY_HINT = "run it on the server's machine, without LOOPLINE_URL / --server"


class RemoteClient(Areas):
    """Loopline's use cases on the server at ``url``, acting as the user of ``token``."""

    def __init__(
        self, url: str, token: str | None, *, timeout: float = 300.0, retries: int = 4
    ) -> None:
        self.transport = Transport(url, token, timeout=timeout, retries=retries)
        self.location = self.transport.url
        self._actor = Actor(_token_user(token), "api", token=token)

    def _make_area(self, name: str) -> RemoteArea:
        """The area ``name``, generated from its ``core.api`` class (imported now)."""
        return _remote_area(area_type(name))(self, name)

    @property
    def actor(self) -> Actor:
        """The token's user as the token names it (the server proves it on every call)."""
        return self._actor

    @property
    def remote(self) -> bool:
        return True

    def exists(self) -> bool:
        """Whether a Loopline server answers at ``location``."""
        try:
            health = self.transport.get_json("/health")
        except CoreError:
            return False
        return isinstance(health, dict) and health.get("status") == "ok"

    def health(self) -> dict[str, Json]:
        """The server's ``/health``: status, Loopline version, API version."""
        found = self.transport.get_json("/health")
        if not isinstance(found, dict):
            raise CoreError(f"The server at {self.location} answered /health without an object.")
        return found

    def acting_as(self, actor: Actor) -> RemoteClient:
        """The same server as the same user: a remote client acts as its token's user only."""
        if actor.name != self._actor.name:
            raise CoreError(
                f"A remote client acts as its token's user ({self._actor.name}), not {actor.name}.",
                hint="use a token of that user (LOOPLINE_TOKEN)",
            )
        return self

    def init(self) -> Path:
        raise local_only("init", "a workspace is created on the machine that holds it")

    def build_demo(self, *, force: bool = False, progress: Any = None) -> Path:
        raise local_only("demo", "the demo workspace is built on the machine that holds it")

    def download(self, sha256: str, dest: Path) -> Path:
        """An object of the server's store by its SHA-256, streamed to ``dest`` and verified."""
        return self.transport.download(sha256, dest)

    def call(self, area: str, method: str, arguments: dict[str, Any]) -> Any:
        """``<area>.<method>(**arguments)`` on the server, the result rebuilt by the method's
        return annotation (the generated areas call this)."""
        function = getattr(area_type(area), method)
        hints = signature_types(function)
        sent: dict[str, Json] = {}
        for name, value in arguments.items():
            if name == PROGRESS:
                continue
            sent[name] = self._argument(f"{area}.{method}", name, value, hints.get(name, Any))
        if "file_name" in hints and sent.get("file_name") is None:
            named = next((v for k, v in arguments.items() if _takes_file(hints.get(k))), None)
            if isinstance(named, str | os.PathLike):  # the upload keeps the local file's name
                sent["file_name"] = Path(named).name
        result = self.transport.call(area, method, sent)
        if isinstance(result, bytes):
            return result
        return rebuild(result, hints.get("return", Any))

    def _argument(self, where: str, name: str, value: Any, annotation: Any) -> Json:
        if value is None:
            return None
        if _is_callback(annotation):
            raise CoreError(
                f"{where}: {name} is a callback; it cannot be sent to a server.",
                hint=LOCAL_ONLY_HINT,
            )
        if _takes_file(annotation) and _is_file_value(value, annotation):
            return {"$upload": self._upload(value)}
        return serialise(value)

    def _upload(self, value: Any) -> str:
        if isinstance(value, bytes | bytearray):
            return self.transport.upload(bytes(value))
        path = Path(value)
        if not path.is_file():
            raise InvalidInput(f"No file at {path}.", hint="check the path")
        return self.transport.upload(path)

    def __repr__(self) -> str:
        return f"RemoteClient({self.location!r}, {self._actor.name!r})"


def local_only(command: str, why: str) -> CoreError:
    """The refusal of something that works only where the workspace is."""
    return CoreError(
        f"`loopline {command}` works only on the workspace's machine: {why}.", hint=LOCAL_ONLY_HINT
    )


class RemoteArea:
    """An area of a :class:`RemoteClient` (its methods are generated by ``remote_area``)."""

    def __init__(self, client: RemoteClient, name: str) -> None:
        self._client = client
        self._name = name

    def __repr__(self) -> str:
        return f"<remote {self._name} of {self._client.location}>"


_AREAS: dict[type[Area], type[RemoteArea]] = {}


def _remote_area(area: type[Area]) -> type[RemoteArea]:
    found = _AREAS.get(area)
    if found is None:
        found = _AREAS[area] = remote_area(area)
    return found


def remote_area(area: type[Area]) -> type[RemoteArea]:
    """A class with ``area``'s public methods, each a call to the server; its static methods
    as they are (they need no workspace)."""
    members: dict[str, Any] = {"__doc__": area.__doc__}
    for name, found in inspect.getmembers(area):
        if name.startswith("_") or isinstance(inspect.getattr_static(area, name), property):
            continue
        if isinstance(inspect.getattr_static(area, name), staticmethod):
            members[name] = staticmethod(found)
        elif inspect.isfunction(found):
            members[name] = _remote_method(name, found)
    return type(f"Remote{area.__name__}", (RemoteArea,), members)


def _remote_method(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(function)

    def method(self: RemoteArea, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))  # self
        return self._client.call(self._name, name, arguments)

    functools.update_wrapper(method, function)
    method.__wrapped__ = function  # type: ignore[attr-defined]
    return method


def _arms(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return (annotation,)


def _takes_file(annotation: Any) -> bool:
    """A ``Path`` parameter (or ``bytes | Path``): the file goes up as an upload."""
    return any(isinstance(a, type) and issubclass(a, os.PathLike) for a in _arms(annotation))


def _is_file_value(value: Any, annotation: Any) -> bool:
    if isinstance(value, os.PathLike):
        return True
    if isinstance(value, bytes | bytearray):
        return bytes in _arms(annotation)
    return isinstance(value, str) and str not in _arms(annotation)


def _is_callback(annotation: Any) -> bool:
    import collections.abc as abc

    return any(a is abc.Callable or typing.get_origin(a) is abc.Callable for a in _arms(annotation))


def _token_user(token: str | None) -> str:
    """The user name an API token carries (``llt.<user>.<secret>``)."""
    prefix = "llt."
    if token and token.startswith(prefix):
        user, _, secret = token[len(prefix) :].rpartition(".")
        if user and secret:
            return user
    return "(token)"
