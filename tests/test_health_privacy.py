"""/healthz says ok / not ok to anyone and its details only to admins and localhost; HSTS over HTTPS only."""
from __future__ import annotations

from dataclasses import replace

from tests.test_admin_support import engine_holder
from tests.test_admin_support import (admin, admin_app, admin_client, admin_settings, catalog_copy,  # noqa: F401
                                      reviewer, users)
from webhooks import create_app

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


class BrokenEngines:
    """An engine holder whose catalog does not load."""

    def get(self, fresh: bool = False):
        raise RuntimeError("/srv/bot/procedures.yaml:3:1: YAML syntax error")


def test_anyone_gets_only_ok(admin_client):
    response = admin_client.get("/healthz", environ_base=OUTSIDE)
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    proxied = admin_client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})  # via a local proxy
    assert proxied.get_json() == {"status": "ok"}


def test_localhost_gets_the_details(admin_client):
    assert admin_client.get("/healthz").get_json()["database"] == "ok"


def test_a_signed_in_admin_sees_details_from_anywhere(admin):
    report = admin.get("/healthz", environ_base=OUTSIDE).get_json()
    assert report["database"] == "ok" and "catalog_version" in report


def test_a_reviewer_does_not(reviewer):
    assert reviewer.get("/healthz", environ_base=OUTSIDE).get_json() == {"status": "ok"}


def test_not_ok_is_503_and_hides_the_error_from_outside(admin_settings, db):
    app = create_app({"SETTINGS": admin_settings, "DATABASE": db, "ENGINES": BrokenEngines(), "TESTING": True})
    client = app.test_client()
    outside = client.get("/healthz", environ_base=OUTSIDE)
    assert outside.status_code == 503 and outside.get_json() == {"status": "degraded"}
    assert "procedures.yaml" not in outside.get_data(as_text=True)
    inside = client.get("/healthz")
    assert inside.status_code == 503 and "procedures.yaml" in inside.get_json()["catalog_error"]


def test_hsts_only_over_https(admin_client, admin_settings, db):
    assert "Strict-Transport-Security" not in admin_client.get("/healthz").headers
    secure = admin_client.get("/healthz", base_url="https://bot.example")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" in admin_client.get("/admin/login", base_url="https://bot.example").headers
    proxied = create_app({"SETTINGS": replace(admin_settings, behind_proxy=True), "DATABASE": db,
                          "ENGINES": engine_holder(admin_settings.engine), "TESTING": True}).test_client()
    assert "Strict-Transport-Security" in proxied.get("/healthz", headers={"X-Forwarded-Proto": "https"}).headers
    direct = admin_client.get("/healthz", headers={"X-Forwarded-Proto": "https"})  # no proxy trusted
    assert "Strict-Transport-Security" not in direct.headers
