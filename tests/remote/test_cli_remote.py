"""The CLI in remote mode against a real `loopline server` (the ``hub`` fixture): every command
runs in a process of its own whose folder and environment know only the server's URL and a
token, and prints what the same command prints locally on the same workspace (its --json output,
else its text), errors included. The local command runs in this process (``run_cli_here``: a new
interpreter would spend ~1 s importing core for each); one test checks that it prints what a
process of its own prints."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.remote.conftest import CLEARED, ROOT, Hub, run_cli_here, run_python

CLASSES = {"billing": "invoice refund charge", "bug": "crash error broken", "sales": "buy seats"}
REQUIREMENTS = """
project: tickets
system:
  - {id: SYS-1, title: Tickets reach the right team, category: reliability, owner: maria}
  - {id: SYS-2, title: Mail tickets are routed well, parent: SYS-1, owner: maria}
ml:
  - {id: ML-1, title: Accuracy, derived_from: [SYS-1], metric: accuracy, threshold: 0.5}
  - {id: ML-2, title: Mail accuracy, derived_from: [SYS-2], metric: accuracy, slice: channel = mail, threshold: 0.5}
"""


def local(hub: Hub, *args: str, token: str = "admin") -> subprocess.CompletedProcess[str]:
    """The same command on the server's workspace, here (no server), as the same user: run in
    this process (``run_cli_here``), as a process of its own would run it."""
    env = {k: v for k, v in hub.env().items() if k not in CLEARED}
    env["LOOPLINE_TOKEN"] = hub.token(token)
    return run_cli_here(["--workspace", str(hub.workspace), *args], env=env)


def remote(hub: Hub, *args: str, token: str | None = "admin") -> subprocess.CompletedProcess[str]:
    return hub.run_client(*args, token=token)


def ok(done: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


PROGRESS = re.compile(r"^[\w-]+: +\d+% .*\n", re.MULTILINE)  # a progress bar's line on stderr
# a ReqIF file stamps the time it was written (CREATION-TIME, LAST-CHANGE)
WRITTEN_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
# a trace report says the minute it was generated: the two runs may straddle a minute
GENERATED_AT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
ELAPSED = re.compile(r" \(\d+\.\d s\)$", re.MULTILINE)  # a progress line's time so far


def same(hub: Hub, *args: str, code: int = 0, token: str = "admin") -> str:
    """Run ``args`` remotely and locally; their output must be equal (parsed when JSON)."""
    there, here = remote(hub, *args, token=token), local(hub, *args, token=token)
    out_there, out_here = ok(there, code), ok(here, code)
    if "--json" in args:
        assert json.loads(out_there) == json.loads(out_here)
    elif "reqif" in args:
        assert WRITTEN_AT.sub("T", out_there) == WRITTEN_AT.sub("T", out_here)
    elif args[0] == "trace":
        assert GENERATED_AT.sub("T", out_there) == GENERATED_AT.sub("T", out_here)
    else:
        assert out_there == out_here
    return out_there


def same_error(hub: Hub, *args: str, token: str = "admin") -> str:
    """A refusal prints the same error and hint remotely as locally (exit 2); the local
    command's progress lines aside (a remote call reports none)."""
    there, here = remote(hub, *args, token=token), local(hub, *args, token=token)
    assert there.returncode == here.returncode == 2, (there.stderr, here.stderr)
    assert there.stdout == here.stdout
    assert PROGRESS.sub("", there.stderr) == PROGRESS.sub("", here.stderr)
    return there.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The client's own files (in a folder of the client's, not the server's)."""
    folder = tmp_path_factory.mktemp("client-files")
    rows, answers = [], []
    for i in range(90):
        label = list(CLASSES)[i % 3]
        words = CLASSES[label].split()
        rows.append(
            {
                "ticket_id": f"T-{i:03d}",
                "opened_at": f"2026-0{3 + i % 2}-{i % 28 + 1:02d}T10:00:00Z",
                "channel": ["mail", "chat", "phone"][(i // 3) % 3],
                "text": f"{words[i % 2]} {words[-1]} ticket {i}",
                "priority": 1 + i % 5,
                "amount": f"{i * 1.5:.2f}",
                "vip": "true" if i % 7 == 0 else "false",
            }
        )
        answers.append({"item_id": f"T-{i:03d}", "annotator": "annotator", "label": label})
        if i % 4 == 0:  # a second opinion on a quarter, one in three of them different
            other = list(CLASSES)[(i + (1 if i % 12 == 0 else 0)) % 3]
            answers.append({"item_id": f"T-{i:03d}", "annotator": "reviewer", "label": other})
    found = {
        "data": folder / "tickets.csv",
        "labels": folder / "answers.csv",
        "bad": folder / "bad.csv",
        "requirements": folder / "tickets-requirements.yaml",
    }
    pd.DataFrame(rows).to_csv(found["data"], index=False)
    pd.DataFrame(answers).to_csv(found["labels"], index=False)
    bad = pd.DataFrame(rows[:3])
    bad.loc[1, "channel"] = "pigeon"
    bad.to_csv(found["bad"], index=False)
    found["requirements"].write_text(REQUIREMENTS, encoding="utf-8")
    return found


@pytest.fixture(scope="module")
def loop(hub: Hub, files: dict[str, Path]) -> Iterator[dict[str, str]]:
    """The tickets loop made remotely: data, labels, a label set, a trained and promoted model,
    requirements. What later tests compare."""
    made: dict[str, str] = {}
    done = ok(remote(hub, "ingest", "tickets", str(files["data"])))
    assert "dataset:tickets@1: 90 new rows, 90 in all" in done
    done = ok(remote(hub, "labels", "import", "tickets", str(files["labels"])))
    assert done.startswith("Imported 113 annotations on 90 items by 2 annotator(s) into task #")
    made["task"] = done.rsplit("#", 1)[1].strip()
    done = ok(remote(hub, "freeze", "tickets", "--task", made["task"]))
    assert " label_set:tickets@1: 82 items" in done
    done = ok(remote(hub, "train", "tickets", "--seed", "1", token="data_scientist"))
    made["run"] = done.split()[1].lstrip("#")
    done = ok(remote(hub, "register", made["run"], token="data_scientist"))
    made["model"] = done.split()[1].split(" ")[0]
    ok(
        remote(
            hub,
            "promote",
            "tickets",
            "model:tickets@1",
            "--reason",
            "first",
            token="release_manager",
        )
    )
    done = ok(remote(hub, "requirements", "import", str(files["requirements"])))
    assert "tickets" in done
    yield made


# -- reads: the same output remotely as locally ----------------------------------------------------


def test_projects_and_artifacts_read_the_same(hub: Hub, loop: dict[str, str]) -> None:
    assert "tickets" in same(hub, "projects")
    listed = json.loads(same(hub, "artifacts", "--json"))
    assert {"dataset:tickets@1", "label_set:tickets@1"} <= {a["ref"] for a in listed}
    same(hub, "show", "dataset:tickets@1")
    assert "#1 project:tickets@1" in same(hub, "lineage", "dataset:tickets@1")
    same(hub, "lineage", "--down", "project:tickets@1")


def test_labeling_reads_the_same(hub: Hub, loop: dict[str, str]) -> None:
    assert f"#{loop['task']}" in same(hub, "tasks", "tickets")
    report = json.loads(same(hub, "agreement", loop["task"], "--json"))
    assert report["items_compared"] == 23
    same(hub, "agreement", loop["task"])
    same(hub, "review", loop["task"])
    for fmt in ("csv", "label-studio"):
        same(hub, "labels", "export", "label_set:tickets@1", "--format", fmt)


def test_an_export_to_a_file_is_written_on_the_client(hub: Hub, loop: dict[str, str]) -> None:
    folder = hub.client_dir()
    done = hub.run_client(
        "labels", "export", "label_set:tickets@1", "--out", "labels.csv", cwd=folder
    )
    ok(done)
    here = folder / "local.csv"
    ok(local(hub, "labels", "export", "label_set:tickets@1", "--out", str(here)))
    assert (folder / "labels.csv").read_bytes() == here.read_bytes()
    done = hub.run_client(
        "requirements", "export", "--project", "tickets", "--out", "r.yaml", cwd=folder
    )
    assert ok(done) == "Wrote r.yaml\n" and "SYS-1" in (folder / "r.yaml").read_text()


def test_modeling_reads_the_same(hub: Hub, loop: dict[str, str]) -> None:
    same(hub, "runs", "tickets")
    same(hub, "run", loop["run"])
    assert "production" in same(hub, "models", "tickets")
    same(hub, "builds", "tickets")


def test_requirements_and_traceability_read_the_same(hub: Hub, loop: dict[str, str]) -> None:
    for fmt in ("yaml", "reqif"):
        same(hub, "requirements", "export", "--project", "tickets", "--format", fmt)
    same(hub, "requirements", "list", "tickets")
    same(hub, "requirements", "show", "tickets", "ML-2")
    for fmt in ("csv", "html"):
        same(hub, "trace", "tickets", "--format", fmt)
    impact = json.loads(same(hub, "impact", "tickets", "--model", "model:tickets@1", "--json"))
    assert impact["project"] == "tickets"
    same(hub, "model-card", "tickets")


def test_accounts_read_the_same(hub: Hub, loop: dict[str, str]) -> None:
    assert "data_scientist" in same(hub, "users", "list")
    assert same(hub, "users", "whoami") == "admin (admin) via API token\n"
    same(hub, "users", "whoami", token="annotator")
    assert "remote tests: manager" in same(hub, "tokens", "list")
    same(hub, "audit", "--action", "labels.", "--limit", "5")


def test_monitor_and_alerts_read_the_same(hub: Hub, loop: dict[str, str]) -> None:
    ok(remote(hub, "monitor", "tickets", "--json"))  # records whatever is new first
    first = json.loads(same(hub, "monitor", "tickets", "--json"))
    assert first["project"] == "tickets" and first["computed"] == 0
    same(hub, "alerts", "tickets", "--json")
    same(hub, "alerts", "tickets", "--all")


def test_verify_and_reproduce_give_the_same_verdicts(hub: Hub, loop: dict[str, str]) -> None:
    assert same(hub, "verify").splitlines()[-1].startswith("OK: ")
    assert "identical" in same(hub, "reproduce", "dataset:tickets@1")


def test_a_local_command_run_here_prints_what_its_own_process_prints(
    hub: Hub, loop: dict[str, str], files: dict[str, Path]
) -> None:
    """``local`` runs the CLI in this process: bytes written to stdout, a progress bar and an
    error on stderr, and the exit code come out as from ``python -m core.cli``."""
    env = {k: v for k, v in hub.env().items() if k not in CLEARED}
    env["LOOPLINE_TOKEN"] = hub.token("admin")
    for args in (
        ["labels", "export", "label_set:tickets@1", "--format", "csv"],
        ["ingest", "tickets", str(files["bad"])],
        ["runs", "nope", "--limit", "x"],  # a usage error: argparse exits
    ):
        argv = ["--workspace", str(hub.workspace), *args]
        here, there = run_cli_here(argv, env=env), run_python(["-m", "core.cli", *argv], env=env)
        assert (here.returncode, here.stdout) == (there.returncode, there.stdout)
        assert ELAPSED.sub("", here.stderr) == ELAPSED.sub("", there.stderr)


# -- writes: made remotely, seen locally ---------------------------------------------------------------


def test_an_ingest_again_is_no_change_both_ways(
    hub: Hub, loop: dict[str, str], files: dict[str, Path]
) -> None:
    there = ok(remote(hub, "ingest", "tickets", str(files["data"])))
    assert there.startswith("No change: #4 dataset:tickets@1 already holds exactly these rows")
    assert there == ok(local(hub, "ingest", "tickets", str(files["data"])))


def test_a_refused_ingest_prints_the_same_problems(hub: Hub, files: dict[str, Path]) -> None:
    said = same_error(hub, "ingest", "tickets", str(files["bad"]))
    assert said.startswith(
        "error: bad.csv: refused, 1 problem; nothing was written.\n  row 3, channel:"
    )


def test_a_missing_file_is_said_the_same(hub: Hub, tmp_path: Path) -> None:
    said = same_error(hub, "ingest", "tickets", str(tmp_path / "none.csv"))
    assert said == f"error: No file at {tmp_path / 'none.csv'}.\nhint: check the path\n"


def test_task_writes_and_user_admin_work_remotely(hub: Hub, loop: dict[str, str]) -> None:
    done = ok(remote(hub, "task", "create", "tickets", "--name", "remote task", "--limit", "5"))
    assert done.startswith("Task #") and "'remote task': 5 items" in done
    task = done.split()[1].lstrip("#")
    ok(remote(hub, "users", "assign", "annotator", "--task", task))
    assert f"#{task}" in same(hub, "tasks", "tickets")
    done = ok(remote(hub, "tokens", "create", "annotator", "--label", "made remotely"))
    assert done.startswith("llt.annotator.")
    assert "made remotely" in same(hub, "tokens", "list", "annotator")


def test_review_and_traceability_writes_work_remotely(hub: Hub, loop: dict[str, str]) -> None:
    done = ok(remote(hub, "decide", loop["task"], "T-000", "billing", token="reviewer"))
    assert done == f"Task #{loop['task']} item T-000: billing (decided by reviewer)\n"
    same(hub, "review", loop["task"])
    edit = ("requirements", "edit", "tickets", "ML-1", "--set", "threshold=0.4", "--note", "remote")
    assert "1 changed" in ok(remote(hub, *edit))
    assert "remote" in same(hub, "requirements", "history", "tickets", "--versions")
    done = remote(hub, "verify-system", "tickets")
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout.startswith("Verification #") and " of model:tickets@1 on " in done.stdout
    same(hub, "requirements", "history", "tickets")


# -- refusals ------------------------------------------------------------------------------------------


def test_errors_print_the_same_message_and_hint(hub: Hub, loop: dict[str, str]) -> None:
    assert same_error(hub, "tasks", "nope").startswith("error: ")
    assert same_error(hub, "show", "dataset:nope@9").startswith("error: ")
    assert same_error(
        hub, "freeze", "tickets", "--task", loop["task"], token="annotator"
    ).startswith("error: ")
    assert same_error(hub, "users", "disable", "admin", token="annotator").startswith("error: ")


def test_a_missing_or_wrong_token_is_said_with_the_variable(hub: Hub) -> None:
    done = remote(hub, "projects", token=None)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: No API token for the server at {hub.url}:")
    assert "LOOPLINE_TOKEN" in done.stderr
    done = remote(hub, "projects", token="llt.admin.not-the-secret")
    assert done.returncode == 2
    assert done.stderr.startswith("error: The server refused the API token (")
    assert "hint: set LOOPLINE_TOKEN" in done.stderr


@pytest.mark.parametrize("command", [["init"], ["demo"]])
def test_local_only_commands_refuse_and_say_why(hub: Hub, command: list[str]) -> None:
    done = remote(hub, *command)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: `loopline {command[0]}` works only on the workspace's")
    assert done.stderr.endswith(
        "hint: run it on the server's machine, without --server and with LOOPLINE_URL unset\n"
    )


def test_a_workspace_and_a_server_together_are_refused(hub: Hub) -> None:
    done = remote(hub, "--workspace", str(ROOT), "projects")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --workspace {ROOT} and the server {hub.url} both name")


def test_server_option_works_without_the_variable(hub: Hub) -> None:
    env = {k: v for k, v in hub.env("admin").items() if k != "LOOPLINE_URL"}
    done = run_python(["-m", "core.cli", "--server", hub.url, "projects"], env=env)
    assert "tickets" in ok(done)


def test_a_remote_client_process_never_imports_duckdb(hub: Hub, loop: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from core.remote import from_env\n"
        "client = from_env()\n"
        "assert [p.name for p in client.projects.list()] == ['tickets']\n"
        "assert b'item_id' in client.labeling.export('label_set:tickets@1', 'csv')[:10]\n"
        "model = client.models.find_alias('tickets')\n"
        "sha = model.files[0].blob_hash\n"
        "client.download(sha, Path('model.bin'))\n"
        "client.artifacts.lineage('dataset:tickets@1')\n"
        "assert 'duckdb' not in sys.modules, 'duckdb was imported'\n"
        "print('ok')\n"
    )
    done = hub.run_python(code)
    assert ok(done) == "ok\n"
