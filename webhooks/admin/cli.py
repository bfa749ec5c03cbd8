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


def commune_id(session: Any, slug: str | None) -> int | None:
    """The id of the commune `slug` (None or "-": the environment's commune)."""
    if slug in (None, "", "-"):
        return None
    from sqlalchemy import select

    from webhooks.storage.models import Commune

    found = session.scalar(select(Commune.id).where(Commune.slug == slug))
    if found is None:
        raise accounts.AccountError(f"Không có xã {slug!r}")
    return found


def add_user(database: Database, username: str, role: str, password: str, commune: str | None = None,
             province: bool = False) -> None:
    """Create an account in one commune (slug; None: the environment's), or province-wide."""
    with database.session() as session:
        accounts.create_user(session, username, password, role, by=CLI_USER, province_admin=province,
                             commune_id=commune_id(session, commune))


def set_member(database: Database, username: str, commune: str, role: str | None) -> None:
    """Give an account a role in a commune, or take it away (role None)."""
    with database.session() as session:
        accounts.set_membership(session, username, commune_id(session, commune), role, by=CLI_USER)


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
            add_user(database, args.username, args.role, read_password(stdin), args.commune, args.province)
            print(f"Đã tạo tài khoản {args.username.strip().lower()} ({args.role}).", file=out)
        elif args.action == "member":
            set_member(database, args.username, args.commune, None if args.remove else args.role)
            print(f"Đã cập nhật quyền của {args.username} tại xã {args.commune}.", file=out)
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
    p.add_argument("--commune", help="mã xã (slug) của tài khoản; bỏ trống: xã của môi trường")
    p.add_argument("--province", action="store_true", help="cán bộ tỉnh: xem mọi xã")
    m = actions.add_parser("member", help="giao vai trò tại một xã (mã xã, '-' là xã của môi trường)")
    m.add_argument("username")
    m.add_argument("commune")
    m.add_argument("--role", choices=accounts.ROLES, default="reviewer")
    m.add_argument("--remove", action="store_true", help="bỏ quyền tại xã này")
    actions.add_parser("list", help="liệt kê tài khoản")
    for name, text in (("disable", "khoá tài khoản"), ("enable", "mở khoá tài khoản"),
                       ("passwd", "đặt mật khẩu mới (hỏi khi chạy, hoặc đọc từ stdin)")):
        actions.add_parser(name, help=text).add_argument("username")
    users.set_defaults(func=lambda args, _engine_settings=None: cmd_users(args))  # reads the service's settings
