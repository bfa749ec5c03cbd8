"""`python -m bot communes …`: add with secrets from stdin only, list, show, oa, disable/enable, import from CSV."""
from __future__ import annotations

import io
from dataclasses import replace

import pytest

from bot.cli import build_parser
from webhooks.communes import cli
from webhooks.communes.registry import CommuneRegistry, slugify
from webhooks.communes.tokens import CommuneTokenStore
from tests.commune_layers import layer_text, write_layer

SECRETS = "app-secret-1\noa-key-1\naccess-1\nrefresh-1\n"


@pytest.fixture
def cli_settings(settings, tmp_path):
    return replace(settings, engine=replace(settings.engine, communes_dir=tmp_path / "communes"))


def run(cli_settings, argv, stdin=""):
    out = io.StringIO()
    code = cli.cmd_communes(build_parser().parse_args(["communes", *argv]), cli_settings,
                            stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue()


def test_add_show_list_disable(cli_settings, db, capsys):
    code, out = run(cli_settings, ["add", "hai-chau", "--name", "Phường Hải Châu", "--province", "TP Đà Nẵng",
                                   "--oa-id", "oa-1", "--app-id", "app-1"], SECRETS)
    assert code == 0 and "/webhooks/zalo/hai-chau" in out
    commune = CommuneRegistry(db).by_slug("hai-chau")
    assert (commune.app_secret, commune.oa_secret_key, commune.enabled) == ("app-secret-1", "oa-key-1", True)
    assert CommuneTokenStore(db, commune.id).load().access_token == "access-1"
    code, out = run(cli_settings, ["show", "hai-chau"])
    assert code == 0 and "commune/example" in out and "oa-key-1" not in out and "app-secret-1" not in out
    assert run(cli_settings, ["disable", "hai-chau"])[0] == 0
    code, out = run(cli_settings, ["list"])
    assert out == "hai-chau\tPhường Hải Châu\tTP Đà Nẵng\toa-1\ttạm dừng\n"
    assert run(cli_settings, ["add", "hai-chau", "--name", "X", "--oa-id", "oa-2", "--app-id", "a"], SECRETS)[0] == 1
    assert "đã có" in capsys.readouterr().err


def test_secrets_never_come_from_the_command_line(cli_settings):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["communes", "add", "x", "--name", "X", "--oa-id", "o", "--app-id", "a",
                                   "--app-secret", "s"])


def test_a_missing_secret_adds_nothing(cli_settings, db, capsys):
    code, _ = run(cli_settings, ["add", "x", "--name", "X", "--oa-id", "o", "--app-id", "a"], "s\nk\n")
    assert code == 1 and "Access token" in capsys.readouterr().err and not CommuneRegistry(db).any()


def test_import_from_csv_then_give_an_oa(cli_settings, db, tmp_path, capsys):
    source = tmp_path / "xa.csv"
    source.write_text("name,province\nXã Đồng Xuân,Tỉnh Phú Thọ\nPhường Hải Châu,TP Đà Nẵng\n", encoding="utf-8")
    code, out = run(cli_settings, ["import", str(source)])
    assert code == 0 and "2 xã" in out
    communes = CommuneRegistry(db).all()
    assert [(c.slug, c.enabled) for c in communes] == [("phuong-hai-chau", False), ("xa-dong-xuan", False)]
    assert (cli_settings.engine.communes_dir / "xa-dong-xuan" / "commune.yaml").exists()
    assert run(cli_settings, ["enable", "xa-dong-xuan"])[0] == 1 and "chưa có OA" in capsys.readouterr().err
    assert run(cli_settings, ["oa", "xa-dong-xuan", "--oa-id", "oa-9", "--app-id", "app-9"], SECRETS)[0] == 0
    assert run(cli_settings, ["enable", "xa-dong-xuan"])[0] == 1  # its layer still holds the example facts
    assert "example" in capsys.readouterr().err
    write_layer(cli_settings.engine.communes_dir, "xa-dong-xuan", layer_text("Xã Đồng Xuân", 7).replace(
        "0200 000 007", "0210 3851 007"))
    assert run(cli_settings, ["enable", "xa-dong-xuan"])[0] == 0
    assert CommuneRegistry(db).by_slug("xa-dong-xuan").enabled


@pytest.mark.parametrize("content, message", [
    ("name,province\n,Tỉnh A\n", "dòng 2"),
    ("name,province\nXã A,T\nXã A,T\n", "trùng dòng 2"),
])
def test_a_bad_csv_imports_nothing(cli_settings, db, tmp_path, capsys, content, message):
    source = tmp_path / "xa.csv"
    source.write_text(content, encoding="utf-8")
    assert run(cli_settings, ["import", str(source)])[0] == 1
    assert message in capsys.readouterr().err and not CommuneRegistry(db).any()


def test_slugify():
    assert slugify("Phường Hải Châu") == "phuong-hai-chau" and slugify("Xã Đắk Lắk 2") == "xa-dak-lak-2"
