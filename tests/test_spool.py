"""The spool files: one line per event, torn lines skipped, a dead owner's files claimed, stored lines dropped."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from webhooks import spool

ROOT = Path(__file__).resolve().parent.parent

# A process that spools two lines, then waits for a line on stdin before exiting without closing anything.
_OWNER = """
import sys
from pathlib import Path
from webhooks.spool import Spool, encode
s = Spool(Path(sys.argv[1]))
s.append(encode({"n": 1}))
s.append(encode({"n": 2}))
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
    mine = spool.Spool(tmp_path, empty_at=1)
    first = mine.append(spool.encode({"n": 1}))
    assert mine.append(spool.encode({"n": 2})) is first  # one file per thread
    assert list(spool.claim_orphans(tmp_path)) == []
    first.done += 1  # line 1 stored, line 2 still waiting: nothing may be dropped
    mine.append(spool.encode({"n": 3}))
    assert [p["n"] for p in spool.decode(first.path.read_bytes(), first.path)] == [1, 2, 3]
    first.done += 2  # all stored: the thread empties its file before its next line
    mine.append(spool.encode({"n": 4}))
    assert spool.decode(first.path.read_bytes(), first.path) == [{"n": 4}]
    mine.close(remove=True)
    assert spooled_files(tmp_path) == []


def test_each_thread_writes_its_own_file(tmp_path):
    mine = spool.Spool(tmp_path)
    here = mine.append(spool.encode({"n": 1}))
    there: list = []
    worker = threading.Thread(target=lambda: there.append(mine.append(spool.encode({"n": 2}))))
    worker.start()
    worker.join()
    assert there[0] is not here and len(spooled_files(tmp_path)) == 2
    mine.close(remove=False)


def test_a_full_unsettled_file_is_retired_and_removed_once_its_lines_are_stored(tmp_path):
    small = spool.Spool(tmp_path, retire_at=40)
    segments = [small.append(spool.encode({"n": n, "pad": "x" * 10})) for n in range(1, 7)]
    assert len(spooled_files(tmp_path)) == 3  # two lines per file
    small.collect()
    assert len(spooled_files(tmp_path)) == 3  # nothing stored yet
    segments[0].done += 2  # the first file's lines are stored; the second's are not
    small.collect()
    assert len(spooled_files(tmp_path)) == 2 and not segments[0].path.exists()
    small.close(remove=False)
    assert len(spooled_files(tmp_path)) == 2  # not everything stored: left for a replay


def test_refused_events_are_kept_for_staff(tmp_path):
    spool.reject(tmp_path, {"message": {"msg_id": "m1"}}, "DataError: bad")
    assert spool.decode((tmp_path / spool.REJECTED).read_bytes(), tmp_path) == [
        {"reason": "DataError: bad", "payload": {"message": {"msg_id": "m1"}}}]
