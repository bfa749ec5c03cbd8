"""Accounts: the admin page, the `users` command line (password never on the command line), audit."""
from __future__ import annotations

import argparse
import io

import pytest
from sqlalchemy import select

from tests.test_admin_support import (PASSWORD, admin, admin_app, admin_client, admin_settings,  # noqa: F401
                                      catalog_copy, login, post, users)
from webhooks.admin import cli
from webhooks.admin.accounts import AccountError
from webhooks.storage.models import AuditLog, User


def test_admin_creates_an_account_that_can_log_in(admin, admin_app, db):
    response = post(admin, "/admin/tai-khoan", {"username": "Minh", "role": "reviewer",
                                                "password": "mot-mat-khau-dai", "confirm": "mot-mat-khau-dai"})
    assert response.status_code == 302
    assert "minh" in admin.get("/admin/tai-khoan").get_data(as_text=True)
    other = admin_app.test_client()
    assert login(other, "minh", "mot-mat-khau-dai").status_code == 302
    with db.session() as s:
        user = s.scalars(select(User).where(User.username == "minh")).one()
        assert user.password_hash.startswith("scrypt:") and "mot-mat-khau-dai" not in user.password_hash
        assert s.scalars(select(AuditLog.username).where(AuditLog.action == "user.add",
                                                         AuditLog.detail["user"].as_string() == "minh")).all() == ["lan"]


@pytest.mark.parametrize("data, message", [
    ({"username": "minh", "role": "reviewer", "password": "ngan", "confirm": "ngan"}, "Ít nhất 10 ký tự."),
    ({"username": "minh", "role": "reviewer", "password": "mot-mat-khau-dai", "confirm": "khac-han-roi-nhe"},
     "Hai mật khẩu không khớp."),
    ({"username": "hoa", "role": "reviewer", "password": "mot-mat-khau-dai", "confirm": "mot-mat-khau-dai"},
     "đã tồn tại"),
    ({"username": "Tên có dấu", "role": "reviewer", "password": "mot-mat-khau-dai", "confirm": "mot-mat-khau-dai"},
     "chữ thường không dấu"),
    ({"username": "", "role": "reviewer", "password": "mot-mat-khau-dai", "confirm": "mot-mat-khau-dai"},
     "Vui lòng điền mục này."),
    ({"username": "minh", "role": "sieu-nhan", "password": "mot-mat-khau-dai", "confirm": "mot-mat-khau-dai"},
     "Lựa chọn không hợp lệ."),
])
def test_new_account_form_errors(admin, data, message):
    response = post(admin, "/admin/tai-khoan", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_admin_disables_changes_role_and_resets_password(admin, admin_app, db):
    assert post(admin, "/admin/tai-khoan/hoa", {"action": "role", "role": "admin", "confirm": "y"}).status_code == 302
    assert post(admin, "/admin/tai-khoan/hoa", {"action": "passwd", "password": "mat-khau-moi-cua-hoa",
                                                "confirm": "y"}).status_code == 302
    other = admin_app.test_client()
    assert login(other, "hoa", "mat-khau-moi-cua-hoa").status_code == 302
    assert other.get("/admin/danh-muc").status_code == 200  # now an admin
    assert post(admin, "/admin/tai-khoan/hoa", {"action": "disable", "confirm": "y"}).status_code == 302
    assert other.get("/admin/cau-hoi").status_code == 302  # the disabled account's session ended
    with db.session() as s:
        actions = s.scalars(select(AuditLog.action).where(AuditLog.username == "lan",
                                                          AuditLog.action.like("user.%"))).all()
    assert actions == ["user.role", "user.passwd", "user.disable"]


def test_account_change_errors(admin):
    unconfirmed = post(admin, "/admin/tai-khoan/hoa", {"action": "disable"})
    assert unconfirmed.status_code == 400 and "Tôi chắc chắn" in unconfirmed.get_data(as_text=True)
    no_password = post(admin, "/admin/tai-khoan/hoa", {"action": "passwd", "confirm": "y"})
    assert no_password.status_code == 400 and "Vui lòng nhập mật khẩu mới." in no_password.get_data(as_text=True)
    myself = post(admin, "/admin/tai-khoan/lan", {"action": "disable", "confirm": "y"})
    assert myself.status_code == 400 and "chính mình" in myself.get_data(as_text=True)
    nobody = post(admin, "/admin/tai-khoan/khong-ai", {"action": "disable", "confirm": "y"})
    assert nobody.status_code == 400 and "Không có tài khoản" in nobody.get_data(as_text=True)


def test_reviewer_cannot_change_accounts(admin_client, users):
    login(admin_client, "hoa")
    response = post(admin_client, "/admin/tai-khoan", {"username": "x1", "role": "admin", "password": PASSWORD,
                                                       "confirm": PASSWORD}, token_from="/admin/cau-hoi")
    assert response.status_code == 403
    assert post(admin_client, "/admin/tai-khoan/lan", {"action": "disable", "confirm": "y"},
                token_from="/admin/cau-hoi").status_code == 403


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_functions_on_a_database(db):
    cli.add_user(db, "thu", "admin", "mat-khau-cua-thu-1")
    assert cli.list_users(db) == [("thu", "admin", True)]
    cli.set_active(db, "thu", False)
    cli.set_password(db, "thu", "mat-khau-khac-han-2")
    assert cli.list_users(db) == [("thu", "admin", False)]
    with pytest.raises(AccountError):
        cli.add_user(db, "thu", "reviewer", "mat-khau-cua-thu-1")
    with db.session() as s:
        assert s.scalars(select(AuditLog.username)).all() == ["cli"] * 3


def test_cli_reads_password_from_stdin_or_prompt():
    assert cli.read_password(io.StringIO("bi-mat-tu-stdin\n")) == "bi-mat-tu-stdin"
    answers = iter(["bi-mat-nhap-tay", "bi-mat-nhap-tay"])
    assert cli.read_password(_Tty(), prompt=lambda _: next(answers)) == "bi-mat-nhap-tay"
    answers = iter(["mot", "hai"])
    with pytest.raises(AccountError):
        cli.read_password(_Tty(), prompt=lambda _: next(answers))


def test_users_command_line(settings, capsys):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit):  # there is no way to pass a password as an argument
        parser.parse_args(["users", "add", "an", "--password", "x"])
    args = parser.parse_args(["users", "add", "an", "--role", "admin"])
    assert cli.cmd_users(args, settings, stdin=io.StringIO("mat-khau-cua-an-1\n")) == 0
    assert cli.cmd_users(parser.parse_args(["users", "list"]), settings) == 0
    assert "an\tadmin\tactive" in capsys.readouterr().out
    assert cli.cmd_users(parser.parse_args(["users", "disable", "an"]), settings) == 0
    assert cli.cmd_users(parser.parse_args(["users", "passwd", "an"]), settings, stdin=io.StringIO("ngan\n")) == 1
    assert "ít nhất 10 ký tự" in capsys.readouterr().err
    assert cli.cmd_users(parser.parse_args(["users", "enable", "khong-ai"]), settings) == 1
    cli.cmd_users(parser.parse_args(["users", "list"]), settings)
    assert "an\tadmin\tdisabled" in capsys.readouterr().out
