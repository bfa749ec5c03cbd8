"""The webhook's durable point: each process appends accepted events to its own local file before the 200.

A line is one event's masked payload (what `messages.payload` will hold), written with one `write`
to a file opened with O_APPEND: once it returns the line is in the kernel's page cache and survives
the process being killed. That is the durability SQLite's WAL with `synchronous=NORMAL` (the embedded
default) gives a commit; an operating-system crash or power cut may lose the last lines, as it may
lose SQLite's last commits. The owner holds an exclusive `flock` on its files; a file whose lock can
be taken belongs to a process that died, and another process on the host replays it (see Intake).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

log = logging.getLogger(__name__)

SUFFIX = ".spool"
REJECTED = "rejected.jsonl"


def encode(payload: dict[str, Any]) -> bytes:
    """One spool line: the payload as JSON and a newline (the stdlib's escapes where orjson refuses)."""
    try:
        return orjson.dumps(payload) + b"\n"
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates, integers past 64 bits
        return json.dumps(payload).encode() + b"\n"


def decode(data: bytes, path: Path) -> list[dict[str, Any]]:
    """The payloads in a spool file's bytes; a torn or unreadable line is logged and skipped.

    A torn last line is a process killed inside its write: that request got no 200, so Zalo sends
    the event again.
    """
    payloads = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line:
            continue
        try:  # the stdlib: only a replay reads, and orjson would turn integers past 64 bits into floats
            payload = json.loads(line)
        except ValueError:
            log.warning("spool %s: line %d is torn or unreadable; skipped", path.name, number)
            continue
        if isinstance(payload, dict):
            payloads.append(payload)
    return payloads


@dataclass
class _Segment:
    path: Path
    fd: int
    size: int = 0
    last_seq: int = 0  # the last line's sequence number: once that is done, the segment may go


@dataclass
class Spool:
    """This process's append-only files in `directory`; not thread-safe (the caller's lock guards it)."""

    directory: Path
    max_bytes: int = 8 * 1024 * 1024  # a file past this is retired and a new one started
    _current: _Segment | None = None
    _retired: list[_Segment] = field(default_factory=list)
    _pid: int = 0

    def append(self, line: bytes, seq: int) -> None:
        """Write one line (one write call: concurrent appends never interleave) as number `seq`."""
        segment = self._segment()
        written = os.write(segment.fd, line)
        if written != len(line):  # a regular file only writes short on a full disk: refuse, do not ack
            raise OSError(f"spool {segment.path.name}: wrote {written} of {len(line)} bytes")
        segment.size += written
        segment.last_seq = seq
        if segment.size >= self.max_bytes:
            self._retired.append(segment)
            self._current = None

    def done_through(self, seq: int, everything: bool) -> None:
        """Lines up to `seq` are stored in the database: drop files holding nothing else.

        `everything`: no line is waiting or being stored, so the current file may be emptied too.
        """
        for segment in [s for s in self._retired if s.last_seq <= seq]:
            self._retired.remove(segment)
            _remove(segment)
        current = self._current
        if everything and current is not None and current.size and self._pid == os.getpid():
            os.ftruncate(current.fd, 0)  # O_APPEND: the next write goes to the new end, offset 0
            current.size = 0

    def close(self, remove: bool) -> None:
        """Close this process's files, removing them when everything in them is stored."""
        if self._pid != os.getpid():
            return  # a forked child never touches its parent's files
        for segment in [*self._retired, *([self._current] if self._current else [])]:
            if remove:
                _remove(segment)
            else:
                os.close(segment.fd)
        self._retired, self._current = [], None

    def owns(self, path: Path) -> bool:
        """True for a file this process is writing or retiring."""
        return self._pid == os.getpid() and any(
            s.path == path for s in [*self._retired, *([self._current] if self._current else [])])

    def _segment(self) -> _Segment:
        if self._pid != os.getpid():  # forked (gunicorn preloads the app): the parent's files are not ours
            self._current, self._retired, self._pid = None, [], os.getpid()
        if self._current is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)  # ours while this process lives
            self._current = _Segment(path, fd)
        return self._current


def _remove(segment: _Segment) -> None:
    try:
        segment.path.unlink(missing_ok=True)  # unlinked before the lock goes: nobody replays it
    finally:
        os.close(segment.fd)


def claim_orphans(directory: Path, mine: Spool | None = None) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """Spool files of dead processes, each locked while the caller replays it; removed once it resumes us.

    The caller stores every payload before asking for the next file; if it raises instead, the file
    stays for the next attempt.
    """
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        if mine is not None and mine.owns(path):
            continue
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # replayed by another process meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its owner lives
            if not path.exists():
                continue  # replayed and removed between our listing and our lock
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read()
            yield path, decode(data, path)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def reject(directory: Path, payload: dict[str, Any], reason: str) -> None:
    """Keep an event the database refused for good in `rejected.jsonl`, for staff to look at."""
    directory.mkdir(parents=True, exist_ok=True)
    line = encode({"reason": reason[:500], "payload": payload})
    with open(directory / REJECTED, "ab") as handle:
        handle.write(line)
