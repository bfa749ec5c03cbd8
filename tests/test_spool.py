"""The spool files: one line per event, torn lines skipped, a dead owner's files claimed, stored lines dropped."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from webhooks import spool

ROOT = Path(__file__).resolve().parent.parent

# A process that spools two lines, then waits for a line on stdin before exiting without closing anything.
_OWNER = """
import sys
from pathlib import Path
from webhooks.spool import Spool, encode
s = Spool(Path(sys.argv[1]))
s.append(encode({"n": 1}), 1)
s.append(encode({"n": 2}), 2)
print("ready", flush=True)
sys.stdin.readline()
"""


def spooled_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{spool.SUFFIX}"))


def test_lines_round_trip_including_what_orjson_refuses():
    payloads = [{"text": "CCCD ***901 của tôi"}, {"text": "\ud800 lone"}, {"id": 2 ** 70}]
    data = b"".join(spool.encode(p) for p in payloads)
    assert data.count(b"\n") == 3
    assert spool.decode(data, Path("x.spool")) == payloads


def test_a_torn_last_line_is_skipped(caplog):
    data = spool.encode({"n": 1}) + b'{"n": 2, "te'
    assert spool.decode(data, Path("x.spool")) == [{"n": 1}]
    assert "torn" in caplog.text


def test_a_live_owners_file_is_left_and_a_dead_owners_file_is_claimed(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        assert len(spooled_files(tmp_path)) == 1
        assert list(spool.claim_orphans(tmp_path)) == []  # its lock is held: never replayed under it
    finally:
        owner.communicate("go\n", timeout=30)  # exits without closing: the kernel drops the lock
    claimed = [(path.name, payloads) for path, payloads in spool.claim_orphans(tmp_path)]
    assert [payloads for _, payloads in claimed] == [[{"n": 1}, {"n": 2}]]
    assert spooled_files(tmp_path) == []  # replayed once, then gone


def test_a_claimed_file_stays_when_its_replay_fails(tmp_path):
    subprocess.run([sys.executable, "-c", _OWNER, str(tmp_path)], cwd=ROOT, input="go\n", text=True,
                   capture_output=True, check=True, timeout=30)
    orphans = spool.claim_orphans(tmp_path)
    next(orphans)
    orphans.close()  # the caller raised before resuming: the file is not removed
    assert len(spooled_files(tmp_path)) == 1
    assert [p for _, p in spool.claim_orphans(tmp_path)] == [[{"n": 1}, {"n": 2}]]


def test_our_own_file_is_never_claimed_and_is_emptied_once_everything_is_stored(tmp_path):
    mine = spool.Spool(tmp_path)
    mine.append(spool.encode({"n": 1}), 1)
    mine.append(spool.encode({"n": 2}), 2)
    assert list(spool.claim_orphans(tmp_path, mine)) == []
    [path] = spooled_files(tmp_path)
    mine.done_through(1, everything=False)
    assert path.stat().st_size > 0  # line 2 is still waiting
    mine.done_through(2, everything=True)
    assert path.stat().st_size == 0
    mine.append(spool.encode({"n": 3}), 3)
    assert spool.decode(path.read_bytes(), path) == [{"n": 3}]  # appended at the new end
    mine.close(remove=True)
    assert spooled_files(tmp_path) == []


def test_full_files_are_retired_and_removed_once_their_lines_are_stored(tmp_path):
    small = spool.Spool(tmp_path, max_bytes=40)
    for n in range(1, 7):
        small.append(spool.encode({"n": n, "pad": "x" * 10}), n)
    assert len(spooled_files(tmp_path)) == 3  # two lines per file
    small.done_through(4, everything=False)
    assert len(spooled_files(tmp_path)) == 1
    assert [p["n"] for p in spool.decode(spooled_files(tmp_path)[0].read_bytes(), tmp_path)] == [5, 6]
    small.close(remove=False)
    assert len(spooled_files(tmp_path)) == 1  # not everything stored: left for a replay


def test_refused_events_are_kept_for_staff(tmp_path):
    spool.reject(tmp_path, {"message": {"msg_id": "m1"}}, "DataError: bad")
    assert spool.decode((tmp_path / spool.REJECTED).read_bytes(), tmp_path) == [
        {"reason": "DataError: bad", "payload": {"message": {"msg_id": "m1"}}}]
