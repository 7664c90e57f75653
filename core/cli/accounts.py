"""Accounts commands: `loopline users …`, `loopline tokens …`, `loopline audit`.

Who runs a command: ``LOOPLINE_TOKEN`` (an API token), else the OS login of the real uid mapped
to a user (``--os-user``; ``LOGNAME``/``USER`` do not count); ``LOOPLINE_USER`` acts as another
user with that user's token or an admin's login. A workspace without users is open until the
first admin is added.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.cli.common import Adder, client, print_table

OPEN_NOTICE = (
    "notice: this workspace has no accounts yet, so it has no access control; "
    "`loopline users add NAME --role admin` starts it."
)


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    return None


def _grants(user: Any) -> str:
    return ", ".join(g.label for g in user.grants) or "-"


def _row(user: Any) -> dict[str, Any]:
    return {
        "user": user.name,
        "name": user.display_name,
        "roles": _grants(user),
        "os user": user.os_user or "-",
        "password": "yes" if user.has_password else "no",
        "active": "yes" if user.active else "DISABLED",
    }


# -- users ------------------------------------------------------------------------------------


def cmd_users_add(args: argparse.Namespace) -> int:
    api = client(args)
    added = api.accounts.add_user(
        args.name,
        roles=args.role or [],
        project=args.project,
        password=_password(args),
        temporary_password=not args.no_password,
        display_name=args.display_name,
        email=args.email,
        os_user=args.os_user,
        first_os_user=api.actor.os_user,  # the first admin is whoever sets the workspace up
    )
    user = added.user
    print(f"Added {user.name} ({_grants(user)}).")
    if added.first:
        print(
            f"Access control is on: every change is now checked. The OS user {user.os_user!r} "
            f"acts as {user.name} in the CLI."
        )
    if added.password is not None:
        print(f"Temporary password for {user.name} (shown once): {added.password}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = client(args).accounts.users()
    if not users:  # no account at all: the workspace is open
        print(OPEN_NOTICE)
    print_table([_row(u) for u in users])
    return 0


def cmd_users_whoami(args: argparse.Namespace) -> int:
    api = client(args)
    actor = api.actor
    user = api.accounts.whoami()
    if user is None:
        print(f"{actor.name} (no accounts in this workspace: everything is allowed)")
        print(OPEN_NOTICE)
        return 0
    how = "API token" if actor.token else f"OS user {actor.os_user}"
    if actor.chosen and actor.os_user:
        how += " acting through LOOPLINE_USER"
    print(f"{user.name} ({_grants(user)}) via {how}")
    return 0


def cmd_users_set_active(args: argparse.Namespace) -> int:
    active = args.users_command == "enable"
    user = client(args).accounts.set_active(args.name, active)
    print(
        f"{user.name} is {'enabled' if user.active else 'disabled (sessions ended, tokens refused)'}."
    )
    return 0


def cmd_users_reset_password(args: argparse.Namespace) -> int:
    given = _password(args)
    chosen = client(args).accounts.reset_password(args.name, given)
    if given is None:
        print(f"Temporary password for {args.name} (shown once): {chosen}")
    else:
        print(f"Password of {args.name} changed; their sessions ended.")
    return 0


def cmd_users_grant(args: argparse.Namespace) -> int:
    accounts = client(args).accounts
    change = accounts.grant if args.users_command == "grant" else accounts.revoke
    user = change(args.name, args.role, args.project)
    print(f"{user.name}: {_grants(user)}")
    return 0


def cmd_users_update(args: argparse.Namespace) -> int:
    user = client(args).accounts.update_user(
        args.name,
        display_name=args.display_name,
        email=args.email,
        os_user=args.os_user,
    )
    print_table([_row(user)])
    return 0


def cmd_users_assign(args: argparse.Namespace) -> int:
    remove = args.users_command == "unassign"
    api = client(args)
    for task in args.task:
        names = api.accounts.assign(task, [args.name], remove=remove)
        print(f"task #{task}: " + (", ".join(names) or "open to every annotator of the project"))
    return 0


def cmd_users_roles(args: argparse.Namespace) -> int:
    from core.api.accounts import Accounts

    for role, does in Accounts.roles().items():
        print(f"{role:<16} {does}")
    print()
    print(Accounts.permission_matrix())
    if args.actions:
        print()
        print(Accounts.audited_actions())
    return 0


# -- tokens -----------------------------------------------------------------------------------


def cmd_tokens_create(args: argparse.Namespace) -> int:
    token = client(args).accounts.create_token(
        args.user, args.label, expires_days=args.expires_days
    )
    print(
        f"API token for {args.user} ({args.label}); it is shown once, keep it secret "
        "(e.g. as LOOPLINE_TOKEN in your CI's secrets):",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    tokens = client(args).accounts.tokens(args.user)
    if not tokens:
        print("No API tokens.")
    print_table(
        [
            {
                "id": t.token_id,
                "user": t.user,
                "label": t.label,
                "created": f"{t.created_at:%Y-%m-%d} by {t.created_by}",
                "expires": f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "-",
                "state": f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active",
            }
            for t in tokens
        ]
    )
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    token = client(args).accounts.revoke_token(args.token_id)
    print(f"API token #{token.token_id} ({token.label}) of {token.user} is revoked.")
    return 0


# -- the audit log ----------------------------------------------------------------------------


def cmd_audit(args: argparse.Namespace) -> int:
    from core.api.types import AuditQuery

    api = client(args)
    query = AuditQuery(
        actor=args.actor,
        action=args.action,
        project=args.project,
        since=api.accounts.parse_time(args.since),
        until=api.accounts.parse_time(args.until),
        text=args.text,
        limit=args.limit,
    )
    if args.csv:
        data = api.accounts.export_audit(query)
        if args.csv == "-":
            sys.stdout.buffer.write(data)
        else:
            target = Path(args.csv)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(data)
            partial.replace(target)
            lines = data.count(b"\n") - 1
            print(f"Wrote {target} ({lines} entries).")
        return 0
    entries, total = api.accounts.audit(query)
    print_table(
        [
            {
                "id": e.audit_id,
                "at (UTC)": f"{e.at:%Y-%m-%d %H:%M:%S}",
                "actor": e.actor,
                "via": e.via,
                "action": e.action,
                "project": e.project or "-",
                "target": (e.target or "-")[:60],
            }
            for e in entries
        ]
    )
    if total > len(entries):
        print(f"… {total - len(entries):,} more; narrow the filters or raise --limit.")
    elif not entries:
        print("No audit entries match.")
    return 0


# -- wiring -----------------------------------------------------------------------------------


def _sub(parent: argparse.ArgumentParser, dest: str) -> Any:
    return parent.add_subparsers(dest=dest, metavar="COMMAND", required=True)


def _command(group: Any, name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def _password_options(parser: argparse.ArgumentParser, *, allow_none: bool) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else a temporary one is printed)",
    )
    if allow_none:
        parser.add_argument(
            "--no-password",
            action="store_true",
            help="no password: the user signs in only through an OS login or API tokens",
        )


def add_commands(add: Adder) -> None:
    users = add("users", cmd_users_list, "Accounts: add, list, disable, roles, passwords.")
    group = _sub(users, "users_command")

    p = _command(group, "add", cmd_users_add, "Add a user (the first one must be an admin).")
    p.add_argument("name", help="user name: lowercase letters, digits, . _ -")
    p.add_argument(
        "--role",
        action="append",
        metavar="ROLE",
        help="a role (repeat for several); see `users roles`",
    )
    p.add_argument("--project", help="limit the roles to this project (default: every project)")
    p.add_argument("--display-name", help="the name shown in the app")
    p.add_argument("--email", help="e-mail (matches the identity provider's with OpenID Connect)")
    p.add_argument(
        "--os-user",
        metavar="LOGIN",
        help="the OS login that acts as this user in the CLI (default for the first user: yours)",
    )
    _password_options(p, allow_none=True)

    _command(group, "list", cmd_users_list, "List users, their roles and state.")
    _command(group, "whoami", cmd_users_whoami, "Show who the CLI acts as, and how.")
    for verb, text in (
        ("disable", "Disable an account (sessions end, tokens stop)."),
        ("enable", "Enable a disabled account."),
    ):
        p = _command(group, verb, cmd_users_set_active, text)
        p.add_argument("name")
    p = _command(
        group,
        "reset-password",
        cmd_users_reset_password,
        "Set a new password (ends their sessions).",
    )
    p.add_argument("name")
    _password_options(p, allow_none=False)
    for verb, text in (("grant", "Give a user a role."), ("revoke", "Take a role from a user.")):
        p = _command(group, verb, cmd_users_grant, text)
        p.add_argument("name")
        p.add_argument("role")
        p.add_argument("--project", help="the role in this project only (default: every project)")
    p = _command(group, "update", cmd_users_update, "Change display name, e-mail or OS login.")
    p.add_argument("name")
    p.add_argument("--display-name")
    p.add_argument("--email", help="'' removes it")
    p.add_argument("--os-user", metavar="LOGIN", help="'' removes the mapping")
    for verb, text in (
        ("assign", "Assign an annotator to labeling tasks (a task with none is open to all)."),
        ("unassign", "Take an annotator off labeling tasks."),
    ):
        p = _command(group, verb, cmd_users_assign, text)
        p.add_argument("name")
        p.add_argument("--task", type=int, action="append", required=True, metavar="N")
    p = _command(group, "roles", cmd_users_roles, "Print the roles and the permission matrix.")
    p.add_argument("--actions", action="store_true", help="also every audited action")

    tokens = add("tokens", cmd_tokens_list, "API tokens for CI and the service.")
    group = _sub(tokens, "tokens_command")
    p = _command(group, "create", cmd_tokens_create, "Create an API token; it is printed once.")
    p.add_argument("user")
    p.add_argument("--label", required=True, help="where it is used, e.g. 'GitHub Actions'")
    p.add_argument(
        "--expires-days",
        type=float,
        metavar="DAYS",
        help="expire after this many days, 1 to 3650 (default: never)",
    )
    p = _command(group, "list", cmd_tokens_list, "List API tokens (never their text).")
    p.add_argument("user", nargs="?")
    p = _command(group, "revoke", cmd_tokens_revoke, "Revoke an API token by its id.")
    p.add_argument("token_id", type=int)

    p = add("audit", cmd_audit, "Read or export the audit log (managers and admins).")
    p.add_argument("--actor")
    p.add_argument("--action", help="an action, or a prefix ending in '.', e.g. users.")
    p.add_argument("--project")
    p.add_argument("--since", help="from this UTC date/time (YYYY-MM-DD[THH:MM])")
    p.add_argument("--until", help="before this UTC date/time")
    p.add_argument("--text", help="text in the target or details")
    p.add_argument("--limit", type=int, default=50, help="at most this many entries (default 50)")
    p.add_argument("--csv", metavar="FILE", help="export the matches as CSV ('-' for stdout)")
