"""`ask` and `chat` from the command line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_ask_json(capsys):
    assert main(["ask", "lam the can cuoc mat bao lau", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "the-can-cuoc" and data["outcome"] == "answered"
    assert data["alternatives"] and data["replies"][0]["text"]


def test_ask_text_output(capsys):
    assert main(["ask", "đóng thuế đất hằng năm bao nhiêu"]) == 0
    out = capsys.readouterr().out
    assert "fallback" in out


def test_chat_keeps_state_between_lines():
    proc = subprocess.run([sys.executable, "-m", "bot", "chat"], input="đăng ký kết hôn\nphí bao nhiêu\n/thoat\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Lệ phí – Đăng ký kết hôn" in proc.stdout
