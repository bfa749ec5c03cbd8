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
import threading
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


@dataclass(eq=False)
class Segment:
    """One spool file, written by one thread only: its counters each have a single writer, so no lock."""

    path: Path
    fd: int
    pid: int
    size: int = 0
    appended: int = 0  # lines written (by the owning thread)
    done: int = 0  # of those, lines stored in the database (by the drainer)
    retired: bool = False

    def settled(self) -> bool:
        """Every line written here is stored."""
        return self.done == self.appended


@dataclass
class Spool:
    """This process's append-only files in `directory`, one per request thread.

    One file per thread keeps the request's path free of locks: a shared file needed a lock around
    each write and the drainer's truncation, and request threads queued on it (py-spy: 5.6 % of a
    loaded web process's samples). Only a file's own thread empties it, once every line is stored.
    """

    directory: Path
    empty_at: int = 64 * 1024  # a settled file past this is emptied by its thread before its next line
    retire_at: int = 8 * 1024 * 1024  # an unsettled file past this is left to settle and a new one started
    _segments: list[Segment] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def append(self, line: bytes) -> Segment:
        """Write one line to this thread's file (one write call); returns the file, for `Segment.done`."""
        segment = getattr(self._local, "segment", None)
        if segment is None or segment.pid != os.getpid():  # forked (gunicorn preloads): the parent's is not ours
            segment = self._open()
        elif segment.size >= self.empty_at and segment.settled():
            os.ftruncate(segment.fd, 0)  # O_APPEND: this line goes to the new end, offset 0
            segment.size = 0
        elif segment.size >= self.retire_at:
            segment.retired = True  # removed by collect() once settled
            segment = self._open()
        segment.appended += 1  # before the write: while a line is being written its file is not settled
        try:
            written = os.write(segment.fd, line)
            if written != len(line):  # a regular file only writes short on a full disk: refuse, do not ack
                raise OSError(f"spool {segment.path.name}: wrote {written} of {len(line)} bytes")
        except BaseException:
            segment.appended -= 1
            raise
        segment.size += written
        return segment

    def collect(self) -> None:
        """Remove retired files whose lines are all stored."""
        with self._lock:
            gone = [s for s in self._segments if s.retired and s.settled() and s.pid == os.getpid()]
            self._segments = [s for s in self._segments if s not in gone]
        for segment in gone:
            _remove(segment)

    def close(self, remove: bool) -> None:
        """Close this process's files, removing them when `remove` (everything in them is stored)."""
        with self._lock:
            mine = [s for s in self._segments if s.pid == os.getpid()]
            self._segments = [s for s in self._segments if s.pid != os.getpid()]
        for segment in mine:
            if remove:
                _remove(segment)
            else:
                os.close(segment.fd)
        self._local = threading.local()

    def _open(self) -> Segment:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours while this process lives
        segment = Segment(path, fd, os.getpid())
        with self._lock:
            self._segments.append(segment)
        self._local.segment = segment
        return segment


def _remove(segment: Segment) -> None:
    try:
        segment.path.unlink(missing_ok=True)  # unlinked before the lock goes: nobody replays it
    finally:
        os.close(segment.fd)


def claim_orphans(directory: Path) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """Spool files of dead processes, each locked while the caller replays it; removed once it resumes us.

    The caller stores every payload before asking for the next file; if it raises instead, the file
    stays for the next attempt. A live process's files, the caller's own included, are skipped by
    their lock alone: flock locks taken through different open files conflict even within one process.
    """
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
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
