"""`python -m bot users add|list|disable|enable|passwd`."""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any, Callable, TextIO

from webhooks.settings import Settings
from webhooks.admin import accounts
from webhooks.storage.engine import Database

CLI_USER = "cli"  # who the audit log names for changes made from the command line


def read_password(stdin: TextIO | None = None, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """A new password from a hidden prompt (asked twice) or, when piped, the first line of stdin."""
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        return stdin.readline().rstrip("\r\n")
    first = prompt("Mật khẩu mới: ")
    if prompt("Nhập lại mật khẩu: ") != first:
        raise accounts.AccountError("Hai mật khẩu không khớp")
    return first


def add_user(database: Database, username: str, role: str, password: str) -> None:
    """Create an account."""
    with database.session() as session:
        accounts.create_user(session, username, password, role, by=CLI_USER)


def list_users(database: Database) -> list[tuple[str, str, bool]]:
    """(username, role, active) of every account."""
    with database.session() as session:
        return [(u.username, u.role, u.active) for u in accounts.list_users(session)]


def set_active(database: Database, username: str, active: bool) -> None:
    """Disable or re-enable an account."""
    with database.session() as session:
        accounts.set_active(session, username, active, by=CLI_USER)


def set_password(database: Database, username: str, password: str) -> None:
    """Set a new password."""
    with database.session() as session:
        accounts.set_password(session, username, password, by=CLI_USER)


def _database(settings: Settings) -> Database:
    from webhooks.storage import migrate

    database = Database(settings.database_url)
    migrate.upgrade(database)  # accounts are often created before the first `serve`
    return database


def cmd_users(args: argparse.Namespace, settings: Settings | None = None,
              stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run one `users` subcommand; errors are printed, not raised."""
    out = stdout or sys.stdout
    database = _database(settings or Settings.from_env())
    try:
        if args.action == "list":
            for username, role, active in list_users(database):
                print(f"{username}\t{role}\t{'active' if active else 'disabled'}", file=out)
        elif args.action == "add":
            add_user(database, args.username, args.role, read_password(stdin))
            print(f"Đã tạo tài khoản {args.username.strip().lower()} ({args.role}).", file=out)
        elif args.action in ("disable", "enable"):
            set_active(database, args.username, args.action == "enable")
            print(f"Đã {'mở khoá' if args.action == 'enable' else 'khoá'} tài khoản {args.username}.", file=out)
        elif args.action == "passwd":
            set_password(database, args.username, read_password(stdin))
            print(f"Đã đổi mật khẩu cho {args.username}.", file=out)
    except accounts.AccountError as exc:
        print(f"lỗi: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0


def register(subparsers: Any) -> None:
    """Add `users` to `python -m bot`."""
    users = subparsers.add_parser("users", help="quản lý tài khoản bảng điều khiển")
    actions = users.add_subparsers(dest="action", required=True)
    p = actions.add_parser("add", help="tạo tài khoản (mật khẩu hỏi khi chạy, hoặc đọc từ stdin)")
    p.add_argument("username")
    p.add_argument("--role", choices=accounts.ROLES, default="reviewer")
    actions.add_parser("list", help="liệt kê tài khoản")
    for name, text in (("disable", "khoá tài khoản"), ("enable", "mở khoá tài khoản"),
                       ("passwd", "đặt mật khẩu mới (hỏi khi chạy, hoặc đọc từ stdin)")):
        actions.add_parser(name, help=text).add_argument("username")
    users.set_defaults(func=lambda args, _engine_settings=None: cmd_users(args))  # reads the service's settings
