"""Pytest fixtures for the Zalo channel: import with `from tests.zalo_fixtures import fake_zalo  # noqa`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.fake_zalo import FakeZalo

FIXTURES = Path(__file__).parent / "fixtures" / "zalo"


def load_payload(name: str) -> Any:
    """A recorded webhook payload from tests/fixtures/zalo/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def fake_zalo() -> Iterator[FakeZalo]:
    """A started FakeZalo, stopped after the test."""
    with FakeZalo() as zalo:
        yield zalo
