"""``loopline server``: Loopline's public API over HTTP, a thin transport over
``core.api.Client`` (docs/team.md).

    app = create_app(Path(".loopline"))            # a FastAPI app (tests, ASGI servers)
    run_server(Path(".loopline"), port=8765)       # on uvicorn until interrupted

Wire protocol v1: ``GET /health``; ``POST /api/v1/call/{area}/{method}`` with the keyword
arguments as a JSON object (``Authorization: Bearer <API token>``, ``X-Request-Id`` on writes);
``POST /api/v1/uploads``; ``GET /api/v1/objects/{sha256}``. Errors are
``{"error": {"kind", "message", "hint"}}``.
"""

from core.server.app import API_VERSION, create_app
from core.server.run import run_server

__all__ = ["API_VERSION", "create_app", "run_server"]
