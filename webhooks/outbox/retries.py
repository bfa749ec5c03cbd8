"""What a send's result does to its outbox row: sent, tried again later (capped backoff), or failed with a reason."""
from __future__ import annotations

import datetime as dt
from typing import Any

from webhooks.zalo.api import SendResult

UNKNOWN_TRIES = 3  # a code we do not know is tried this many times in all before the row fails


def backoff(attempts: int, base: float, cap: float) -> dt.timedelta:
    """The wait before retry number `attempts` + 1: base × 2^attempts, at most `cap` seconds."""
    return dt.timedelta(seconds=min(cap, base * 2 ** min(attempts, 32)))


def outcome(result: SendResult, *, attempts: int, now: dt.datetime, expires_at: dt.datetime | None,
            base: float, cap: float) -> dict[str, Any]:
    """The outbox columns to write after a send that ended in `result` (status first).

    Transient faults are retried for as long as the reply is worth sending (`expires_at`); a
    retry that would come later than that fails the row now, with the last error as the reason.
    """
    error = result.message or (f"Zalo error {result.error_code}" if result.error_code is not None else None)
    if result.status == "sent":
        return {"status": "sent", "zalo_message_id": result.message_id, "sent_at": now, "last_error": None}
    if result.status == "night" and result.retry_at is not None:
        after, tried = result.retry_at, attempts  # Zalo's rule, not a fault: not counted
    elif result.status == "retry" or (result.status == "unknown" and attempts + 1 < UNKNOWN_TRIES):
        after, tried = now + backoff(attempts, base, cap), attempts + 1
    else:  # permanent, or an unknown code tried often enough
        return {"status": "failed", "attempts": attempts + (result.status == "unknown"), "last_error": error}
    if expires_at is not None and after > expires_at:
        return {"status": "failed", "attempts": tried, "last_error": f"Hết hạn gửi; lỗi cuối: {error}"}
    return {"status": "pending", "attempts": tried, "next_attempt_at": after, "last_error": error}
