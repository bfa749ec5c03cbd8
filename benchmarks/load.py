"""Load generator of the webhook benchmark, its own process: `python -m benchmarks.load < spec.json` → JSON."""
# Closed loop: N keep-alive clients post back to back for T seconds (requests/s, ack latency).
# Open loop: one signed message per fresh citizen at a fixed rate; the send times go back to the caller,
# which matches them with the replies FakeZalo recorded.
from __future__ import annotations

import http.client
import json
import queue
import statistics
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from webhooks.zalo.signature import SIGNATURE_HEADER, sign

# What citizens type, with and without diacritics, plus a few things the commune does not handle.
TEXTS = (
    "lam giay khai sinh can gi", "làm giấy khai sinh cho con cần giấy tờ gì", "phi bao nhieu",
    "dang ky tam tru o dau", "đăng ký tạm trú ở đâu ạ", "làm căn cước cho con", "dang ky ket hon can gi",
    "xin giấy xác nhận tình trạng hôn nhân", "đăng ký khai tử cho bố", "thủ tục chứng thực bản sao",
    "cho hỏi làm sổ đỏ mất bao lâu", "xin chào", "uỷ ban mở cửa mấy giờ", "thời tiết hôm nay thế nào",
    "giá vàng hôm nay", "mua vé máy bay đi Hà Nội", "ad ơi cho e hỏi tí", "nộp hồ sơ online được không",
)
USER_BASE = 7_100_000_000_000_000_000  # Zalo ids are long digit strings


def percentiles(values_ms: list[float]) -> dict[str, float | None]:
    """p50 / p95 / p99 / max of latencies in milliseconds (None when there are none)."""
    if not values_ms:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    data = sorted(values_ms)
    cuts = statistics.quantiles(data, n=100, method="inclusive") if len(data) > 1 else [data[0]] * 99
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2),
            "max": round(data[-1], 2)}


def user_id(run: int, space: int, n: int) -> str:
    """A citizen id unique to this run (`run`), phase (`space`) and number `n`."""
    return str(USER_BASE + run * 10_000_000_000 + space * 1_000_000_000 + n)


def signed_event(spec: dict[str, Any], user: str, msg_id: str, text: str) -> tuple[bytes, dict[str, str]]:
    """A user_send_text body and its headers, signed like Zalo does."""
    stamp = str(int(time.time() * 1000))
    body = json.dumps({"app_id": spec["app_id"], "event_name": "user_send_text", "sender": {"id": user},
                       "recipient": {"id": "bench-oa"}, "message": {"msg_id": msg_id, "text": text},
                       "timestamp": stamp}, ensure_ascii=False).encode()
    mac = sign(app_id=spec["app_id"], raw_body=body, timestamp=stamp, secret_key=spec["secret"])
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: mac}


class Client:
    """One keep-alive HTTP/1.1 connection; reconnects after an error."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str], path: str | None = None) -> int:
        """POST (to `path`, default the URL's) and read the answer; returns the status, 0 on a connection error."""
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
            self.conn.request("POST", path or self.path, body=body, headers=headers)
            response = self.conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self.close()
            return 0

    def close(self) -> None:
        """Drop the connection."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def closed_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """N clients post back to back; only requests after the warm-up count."""
    clients, seconds, warmup = int(spec["clients"]), float(spec["seconds"]), float(spec.get("warmup", 1.0))
    users, run = int(spec.get("users", 300)), int(spec["run"])
    results: list[list[tuple[float, int]]] = [[] for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    begin = end = 0.0

    def work(k: int) -> None:
        client, n, mine = Client(spec["url"]), 0, results[k]
        start_gate.wait()
        try:
            while n < 10_000_000:  # bounded by the clock below; the count is a backstop
                now = time.perf_counter()
                if now >= end:
                    return
                n += 1
                user = user_id(run, 1, (k * 7919 + n * 31) % users)  # a few hundred citizens, interleaved
                body, headers = signed_event(spec, user, f"tp-{run}-{k}-{n}", TEXTS[(k + n) % len(TEXTS)])
                started = time.perf_counter()
                status = client.post(body, headers)
                if started >= begin:
                    mine.append((time.perf_counter() - started, status))
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    begin = time.perf_counter() + warmup
    end = begin + seconds
    start_gate.wait()
    for thread in threads:
        thread.join(timeout=seconds + warmup + 30)
    flat = [r for rs in results for r in rs]
    ok = [lat * 1000 for lat, status in flat if status == 200]
    return {"clients": clients, "seconds": seconds, "requests": len(flat), "non_200": len(flat) - len(ok),
            "rps": round(len(ok) / seconds, 1), "ack_ms": percentiles(ok)}


def open_loop(spec: dict[str, Any]) -> dict[str, Any]:
    """One message per fresh citizen, `rate` per second for `seconds`; per message: id, intended time, ack."""
    rate, seconds, run = float(spec["rate"]), float(spec["seconds"]), int(spec["run"])
    total = max(1, int(rate * seconds))
    todo: queue.Queue[tuple[int, float, float] | None] = queue.Queue()
    sent: list[list[Any]] = [[] for _ in range(total)]
    senders = int(spec.get("senders", 16))
    targets = spec.get("targets") or []  # [{path, app_id, secret}]: one per commune

    def work() -> None:
        client = Client(spec["url"])
        try:
            while (item := todo.get()) is not None:
                i, due_perf, due_wall = item
                user = user_id(run, 2, i)
                # Many communes: message i goes to commune i mod N, at its address, signed with its secret.
                target = targets[i % len(targets)] if targets else spec
                body, headers = signed_event(target, user, f"e2e-{run}-{i}", TEXTS[i % len(TEXTS)])
                started = time.perf_counter()
                status = client.post(body, headers, target.get("path"))
                # The intended send time is what counts: a late sender must not hide a slow server.
                sent[i] = [user, TEXTS[i % len(TEXTS)], due_wall, round((time.perf_counter() - started) * 1000, 2),
                           round((started - due_perf) * 1000, 2), status]
        finally:
            client.close()

    threads = [threading.Thread(target=work, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    origin_perf, origin_wall = time.perf_counter() + 0.05, time.time() + 0.05
    for i in range(total):
        due = origin_perf + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        todo.put((i, due, origin_wall + (due - origin_perf)))
    for _ in threads:
        todo.put(None)
    for thread in threads:
        thread.join(timeout=30)
    done = [s for s in sent if s]
    ok = [s[3] for s in done if s[5] == 200]
    return {"rate": rate, "seconds": seconds, "sent": len(done), "non_200": len(done) - len(ok),
            "ack_ms": percentiles(ok), "max_send_lag_ms": max((s[4] for s in done), default=None),
            "messages": done}


def main() -> int:
    """Read the spec from stdin, run it, print the result."""
    spec = json.loads(sys.stdin.read())
    result = closed_loop(spec) if spec["mode"] == "closed" else open_loop(spec)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
