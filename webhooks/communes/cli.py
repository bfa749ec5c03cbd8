"""`python -m bot communes add|list|show|oa|enable|disable|import`: the commune registry from the command line.

Secrets (app secret, OA secret key, access and refresh tokens) are asked at a hidden prompt or read
from stdin, one a line, never taken from the command line (where `ps` and shell history would keep them).
"""
from __future__ import annotations

import argparse
import csv
import getpass
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from bot.catalog import CatalogError, load_catalog
from bot.overlay import load_overlay, overlay_path
from bot.yaml_source import yaml_loader
from webhooks.communes import registry
from webhooks.settings import Settings
from webhooks.storage.engine import Database

SECRETS = (("app_secret", "App secret của ứng dụng Zalo"), ("oa_secret_key", "OA secret key (khoá ký webhook)"),
           ("access_token", "Access token của OA"), ("refresh_token", "Refresh token của OA"))


def read_secrets(stdin: TextIO | None = None, prompt: Callable[[str], str] = getpass.getpass) -> dict[str, str]:
    """The four OA secrets from hidden prompts or, when piped, four lines of stdin; RegistryError if one is empty."""
    stdin = stdin or sys.stdin
    found = {}
    for key, label in SECRETS:
        value = (stdin.readline().rstrip("\r\n") if not stdin.isatty() else prompt(f"{label}: ")).strip()
        if not value:
            raise registry.RegistryError(f"Thiếu {label}")
        found[key] = value
    return found


def write_layer(settings: Settings, slug: str, name: str, province: str) -> Path | None:
    """Start communes/<slug>/commune.yaml from the province catalog's facts, renamed; None if it exists."""
    path = overlay_path(settings.engine.communes_dir, slug)
    if path.exists():
        return None
    y = yaml_loader()
    facts = y.load(settings.engine.catalog_path.read_text(encoding="utf-8"))["commune"]
    facts["name"] = name
    if province:
        facts["province"] = province
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        out.write("# Lớp dữ liệu riêng của xã: thông tin xã (commune), sửa từng trường của thủ tục chung\n"
                  "# (overrides), thủ tục riêng (entries), thủ tục không áp dụng (disabled). Xem README.\n")
        y.dump({"commune": facts}, out)
    return path


def layer_status(settings: Settings, slug: str) -> str:
    """"ok", or the first problem of the commune's layer (file:line:col: message), or its example facts."""
    from bot.lint import example_data

    path = overlay_path(settings.engine.communes_dir, slug)
    try:
        layered = load_overlay(path, load_catalog(settings.engine.catalog_path, settings.engine.intents_dir))
    except CatalogError as exc:
        return str(exc.problems[0])
    found = example_data(layered.commune)
    if found:
        return f"{path}: commune/{found[0][0]}: {found[0][1]}"
    return "ok"


def _show(database: Database, settings: Settings, slug: str, out: TextIO) -> None:
    commune = registry.CommuneRegistry(database).by_slug(slug)
    if commune is None:
        raise registry.RegistryError(f"Không có xã {slug!r}")
    rows = [("Mã", commune.slug), ("Tên", commune.name), ("Tỉnh", commune.province), ("OA id", commune.oa_id or "-"),
            ("App id", commune.app_id or "-"), ("Bí mật OA", "đã đặt" if commune.has_oa else "chưa đặt"),
            ("Trạng thái", "đang chạy" if commune.enabled else "tạm dừng"),
            ("Webhook", f"/webhooks/zalo/{commune.slug}"),
            ("Lớp dữ liệu", str(overlay_path(settings.engine.communes_dir, slug))),
            ("Kiểm tra lớp", layer_status(settings, slug))]
    for label, value in rows:
        print(f"{label}:\t{value}", file=out)


def cmd_communes(args: argparse.Namespace, settings: Settings | None = None,
                 stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Run one `communes` subcommand; errors are printed, not raised."""
    from webhooks.storage import migrate

    out, settings = stdout or sys.stdout, settings or Settings.from_env()
    database = Database(settings.database_url)
    migrate.upgrade(database)
    try:
        if args.action == "list":
            for c in registry.CommuneRegistry(database).all():
                state = "đang chạy" if c.enabled else "tạm dừng"
                print(f"{c.slug}\t{c.name}\t{c.province}\t{c.oa_id or '-'}\t{state}", file=out)
        elif args.action == "show":
            _show(database, settings, args.slug, out)
        elif args.action == "add":
            secrets = read_secrets(stdin)
            registry.add_commune(database, slug=args.slug, name=args.name, province=args.province or "",
                                 oa_id=args.oa_id, app_id=args.app_id, enabled=True, **secrets)
            written = write_layer(settings, args.slug, args.name, args.province or "")
            print(f"Đã thêm xã {args.name} ({args.slug}); webhook: /webhooks/zalo/{args.slug}.", file=out)
            if written:
                print(f"Điền thông tin của xã vào {written}.", file=out)
        elif args.action == "oa":
            registry.set_oa(database, args.slug, oa_id=args.oa_id, app_id=args.app_id, **read_secrets(stdin))
            print(f"Đã đặt OA cho xã {args.slug}.", file=out)
        elif args.action in ("enable", "disable"):
            commune = registry.CommuneRegistry(database).by_slug(args.slug)
            if args.action == "enable" and commune is not None and not commune.has_oa:
                raise registry.RegistryError(f"Xã {args.slug} chưa có OA: chạy `communes oa {args.slug}` trước")
            if args.action == "enable" and commune is not None and (status := layer_status(settings, args.slug)) != "ok":
                raise registry.RegistryError(f"Lớp dữ liệu của xã {args.slug} chưa dùng được: {status}")
            registry.set_enabled(database, args.slug, args.action == "enable")
            print(f"Đã {'mở' if args.action == 'enable' else 'tạm dừng'} xã {args.slug}.", file=out)
        elif args.action == "import":
            with open(args.file, encoding="utf-8-sig", newline="") as handle:
                reader = csv.DictReader(handle)
                slugs = registry.import_rows(database, reader)
                rows = {r.slug: r for r in registry.CommuneRegistry(database).all()}
            for slug in slugs:
                write_layer(settings, slug, rows[slug].name, rows[slug].province)
            print(f"Đã nhập {len(slugs)} xã (tạm dừng đến khi có OA: `communes oa <mã>`).", file=out)
    except (registry.RegistryError, OSError) as exc:
        print(f"lỗi: {exc}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    return 0


def register(subparsers: Any) -> None:
    """Add `communes` to `python -m bot`."""
    communes = subparsers.add_parser("communes", help="quản lý các xã dùng chung hệ thống")
    actions = communes.add_subparsers(dest="action", required=True)
    p = actions.add_parser("add", help="thêm xã và OA của xã (bí mật hỏi khi chạy, hoặc đọc từ stdin)")
    p.add_argument("slug", help="mã xã: chữ thường không dấu, gạch nối (vd. phuong-hai-chau)")
    p.add_argument("--name", required=True)
    p.add_argument("--province")
    p.add_argument("--oa-id", required=True)
    p.add_argument("--app-id", required=True)
    p = actions.add_parser("oa", help="đặt OA cho xã (bí mật hỏi khi chạy, hoặc đọc từ stdin)")
    p.add_argument("slug")
    p.add_argument("--oa-id", required=True)
    p.add_argument("--app-id", required=True)
    actions.add_parser("list", help="liệt kê các xã")
    for name, text in (("show", "xem một xã"), ("enable", "mở lại xã"), ("disable", "tạm dừng xã")):
        actions.add_parser(name, help=text).add_argument("slug")
    actions.add_parser("import", help="nhập xã từ tệp CSV (cột name, province, tuỳ chọn slug)").add_argument("file")
    communes.set_defaults(func=lambda args, _engine_settings=None: cmd_communes(args))
