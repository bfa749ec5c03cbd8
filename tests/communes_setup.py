"""Three communes on one deployment for tests: their FakeZalo OAs, registry rows and layers."""
from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from tests.commune_layers import layer_text, write_layer
from tests.fake_zalo import FakeZalo
from webhooks.communes.registry import add_commune
from webhooks.storage.engine import Database
from webhooks.zalo.signature import sign

SLUGS = ("an-phu", "binh-minh", "cat-tien")


@dataclass
class TestCommune:
    """One commune of the test deployment."""

    id: int
    slug: str
    name: str
    phone: str
    oa_id: str
    app_id: str
    secret_key: str
    fake: FakeZalo


@contextmanager
def three_communes(database: Database, communes_dir: Path) -> Iterator[dict[str, TestCommune]]:
    """Registry rows, layers and a started FakeZalo per commune (each its own app, secret and tokens)."""
    with ExitStack() as stack:
        found = {}
        for n, slug in enumerate(SLUGS, 1):
            fake = stack.enter_context(FakeZalo(app_id=f"app-{slug}", app_secret=f"app-secret-{slug}",
                                                access_token=f"access-{slug}", refresh_token=f"refresh-{slug}"))
            name = f"Xã {slug}"
            write_layer(communes_dir, slug, layer_text(name, n, fee=f"Lệ phí của {name}"))
            commune_id = add_commune(database, slug=slug, name=name, province="Tỉnh Thử", oa_id=f"oa-{slug}",
                                     app_id=fake.app_id, app_secret=fake.app_secret, oa_secret_key=f"key-{slug}",
                                     access_token=fake.access_token, refresh_token=fake.refresh_token)
            found[slug] = TestCommune(commune_id, slug, name, f"0200 000 {n:03d}", f"oa-{slug}", fake.app_id,
                                      f"key-{slug}", fake)
        yield found


def route_to_fakes(services: Any, communes: dict[str, TestCommune]) -> None:
    """Point each commune's client at its own FakeZalo (in production they all reach Zalo's one API)."""
    clients = services.communes.clients
    original = clients.settings_for
    by_id = {c.id: c for c in communes.values()}

    def settings_for(commune: Any) -> Any:
        url = by_id[commune.id].fake.url
        return replace(original(commune), zalo_api_base=url, zalo_oauth_base=url)

    clients.settings_for = settings_for


def text_event(commune: TestCommune, user: str, text: str) -> dict[str, Any]:
    """A user_send_text event to this commune's OA."""
    return {"app_id": commune.app_id, "event_name": "user_send_text", "sender": {"id": user},
            "recipient": {"id": commune.oa_id}, "timestamp": str(int(time.time() * 1000)),
            "message": {"msg_id": uuid.uuid4().hex, "text": text}}


def post_signed(client: Any, path: str, payload: dict[str, Any], signer: TestCommune) -> Any:
    """POST `payload` to `path`, signed with `signer`'s OA secret key."""
    raw = json.dumps(payload, ensure_ascii=False).encode()
    mac = sign(app_id=signer.app_id, raw_body=raw, timestamp=payload["timestamp"], secret_key=signer.secret_key)
    return client.post(path, data=raw, headers={"Content-Type": "application/json", "X-ZEvent-Signature": mac})
