"""Property-based: generated request bodies for the prediction service. Every answer is a 2xx or a
4xx with an error message, never a 5xx; feedback needs a live token of a user allowed to give it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.accounts.tokens import create_token
from core.accounts.users import create_user
from core.actor import Actor
from core.store import Workspace

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from core.serving.app import create_app  # noqa: E402
from core.serving.auth import token_authenticator  # noqa: E402

PROJECT = "hw-triage"
FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


def admin_of(ws: Workspace) -> Actor:
    with ws.store.read() as tx:
        row = tx.one("SELECT user_name FROM user_roles WHERE role = 'admin' ORDER BY 1 LIMIT 1")
    if row is not None:
        return Actor(str(row[0]), "test")
    create_user(ws, Actor("bootstrap", "test"), "fuzz-admin", roles=["admin"])
    return Actor("fuzz-admin", "test")


@pytest.fixture(scope="module")
def service(
    demo_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    path = tmp_path_factory.mktemp("service") / "ws"
    shutil.copytree(demo_workspace, path)
    ws = Workspace.open(path)
    admin = admin_of(ws)
    create_user(ws, admin, "fuzz-service", roles=["service"])
    create_user(ws, admin, "fuzz-annotator", roles=["annotator"])
    tokens = {
        "service": create_token(ws, admin, "fuzz-service", "fuzz"),
        "annotator": create_token(ws, admin, "fuzz-annotator", "fuzz"),
    }
    app = create_app(ws, PROJECT, authenticate=token_authenticator(ws, PROJECT), flush_seconds=0.05)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, tokens


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=15,
)
fields = st.sampled_from(
    [
        "unit_id",
        "firmware_version",
        "reboots_30d",
        "unit_type",
        "returned_at",
        "request_id",
        "label",
        "x",
    ]
)
shaped = st.one_of(
    st.fixed_dictionaries({"inputs": st.dictionaries(fields, json_values, max_size=6)}),
    st.fixed_dictionaries(
        {
            "items": st.lists(
                st.fixed_dictionaries({"inputs": st.dictionaries(fields, json_values, max_size=6)}),
                max_size=3,
            )
        }
    ),
    st.fixed_dictionaries({"request_id": json_values, "label": json_values, "time": json_values}),
    st.dictionaries(fields, json_values, max_size=6),
)
bodies = st.one_of(
    shaped.map(lambda b: json.dumps(b).encode()),
    json_values.map(lambda b: json.dumps(b).encode()),
    st.binary(max_size=200),
    st.just(b""),
    st.just(b"{" * 2000),
)


def clear(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status < 500, (status, response.text)  # type: ignore[attr-defined]
    if status >= 400:
        assert response.json().get("error"), response.text  # type: ignore[attr-defined]


@FUZZ
@given(body=bodies)
def test_malformed_predict_requests_get_a_clear_4xx(
    service: tuple[TestClient, dict[str, str]], body: bytes
) -> None:
    client, _ = service
    clear(client.post("/predict", content=body, headers={"content-type": "application/json"}))


@FUZZ
@given(body=bodies, who=st.sampled_from(["service", "annotator", "none", "forged"]))
def test_malformed_feedback_and_tokens_get_a_clear_4xx(
    service: tuple[TestClient, dict[str, str]], body: bytes, who: str
) -> None:
    client, tokens = service
    token = {"none": "", "forged": "llt.fuzz-service.AAAA"}.get(who, tokens.get(who, ""))
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = client.post("/feedback", content=body, headers=headers)
    clear(response)
    if who != "service":
        assert response.status_code in (401, 403), (who, response.text)


def test_each_feedback_request_leaves_one_audit_row(
    service: tuple[TestClient, dict[str, str]],
) -> None:
    from core.accounts.tokens import list_tokens, revoke_token

    client, tokens = service
    ws: Workspace = client.app.state.watcher.source.ws  # type: ignore[attr-defined]
    admin = admin_of(ws)
    spare = create_token(ws, admin, "fuzz-service", "spare")

    def post(body: object, token: str) -> object:
        return client.post("/feedback", json=body, headers={"authorization": f"Bearer {token}"})

    def audited() -> list[tuple[object, ...]]:
        with ws.store.read() as tx:
            return tx.rows(
                "SELECT actor, via, project, target, details->>'answers' FROM audit_log "
                "WHERE action = 'feedback' AND target LIKE '%audit-%' ORDER BY audit_id"
            )

    one = {"request_id": "audit-1", "label": "hardware_fault"}
    two = {"items": [{"request_id": f"audit-{i}", "label": "software_fault"} for i in (2, 3)]}
    assert post(one, tokens["service"]).status_code == 200  # type: ignore[attr-defined]
    assert post(two, spare).status_code == 200  # type: ignore[attr-defined]
    assert audited() == [
        ("fuzz-service", "service", PROJECT, "request audit-1", "1"),
        ("fuzz-service", "service", PROJECT, "2 answers (audit-2 … audit-3)", "2"),
    ]
    # a token revoked while the service still has it cached: refused when the row is recorded
    (spare_id,) = [t.token_id for t in list_tokens(ws, admin) if t.label == "spare"]
    revoke_token(ws, admin, spare_id)
    refused = post({"request_id": "audit-4", "label": "hardware_fault"}, spare)
    assert refused.status_code == 403, refused.text  # type: ignore[attr-defined]
    assert len(audited()) == 2
