"""The baseline server: a Flask route that reads the body and answers 200, under `serve`'s own gunicorn setup."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from flask import Flask, jsonify, request

from webhooks.cli import BotServer


def bare_app() -> Flask:
    """The webhook's path without verification, storage or answering."""
    app = Flask(__name__)

    @app.post("/webhooks/zalo")
    def webhook() -> Any:
        request.get_data(cache=False)
        return jsonify(status="ok")

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    return app


def _nothing(_server: Any, _worker: Any) -> None:
    """No database nor claim loop to set up after fork."""


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.bare --port P [--workers W --threads T]`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bare")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    BotServer(bare_app(), {"bind": f"127.0.0.1:{args.port}", "workers": args.workers, "threads": args.threads,
                           "post_fork": _nothing, "worker_exit": _nothing}).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
