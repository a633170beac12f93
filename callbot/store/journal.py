"""The write journal: ``<database>.journal``, where call log writes wait while the database cannot take them.

An append-only file of JSON lines, one durable write (:class:`callbot.store.durable.Op`)
each, with its sequence number: ``{"seq": 7, "op": "add_event", "call": 12, "label": …,
"args": {…}}``. The writer thread (:mod:`callbot.store.writer`) is its only user:

* it *spills* here — appends and ``fsync``s — the writes waiting in memory as soon as
  a write fails for a reason that passes (the file is locked, the disk is full or
  failing), and every new write while that lasts;
* it applies the entries in order once the database takes writes again, each in the
  same transaction as the ``write_journal`` mark (so an entry is applied once);
* when every entry is applied it truncates the file to nothing;
* a ``close()`` that cannot finish leaves the rest here; the next start (the next
  process that claims the file's call ids, :mod:`callbot.store.callids`) replays it
  before anything else, and call ids found here are never handed out again.

Only the process that inserts calls (holds ``<database>.calls-lock``) keeps a
journal, and only one Store in it: the file is locked with ``flock``. A last line
cut short by a crash is dropped when the journal is opened (its write never
returned, so nobody was told it was kept). A failed append is cut back off the
file, and the writes stay in memory (:mod:`callbot.store.writer` says what then).

:data:`FILE_WRITE` is the one place bytes reach the file: the seam a test replaces
to make the disk full.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from pathlib import Path

from callbot.store.durable import Op

log = logging.getLogger("callbot.store")

#: Writes bytes to a file descriptor (``os.write``): replaced by tests to simulate a full disk.
FILE_WRITE = os.write

_CHUNK = 1 << 16


def journal_path(database: Path) -> Path:
    return database.with_name(database.name + ".journal")


class Journal:
    """One open, locked journal file (see the module docstring). Used by one thread."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd = fd
        self._read_at = 0      # where the next unapplied entry starts
        self._head: tuple[int, Op, int] | None = None  # (seq, op, end offset) read ahead
        self.seqs: list[int] = []
        self.highest_seq = 0
        self.highest_call_id = 0
        self._size = self._scan()

    @classmethod
    def open(cls, database: Path) -> Journal | None:
        """Open and lock the journal of ``database``; None when another Store holds it."""
        path = journal_path(database)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        try:
            return cls(path, fd)
        except BaseException:
            os.close(fd)
            raise

    def _scan(self) -> int:
        """Read the entries left by an earlier run; drop a last line cut short by a crash."""
        for line, end in self._lines(0):
            entry = self._parse(line, end)
            if entry is None:
                continue
            seq, op = entry
            self.seqs.append(seq)
            self.highest_seq = max(self.highest_seq, seq)
            if isinstance(op.call_id, int):
                self.highest_call_id = max(self.highest_call_id, op.call_id)
        return os.fstat(self._fd).st_size

    def _parse(self, line: bytes, end: int | None) -> tuple[int, Op] | None:
        try:
            entry = json.loads(line)
            return int(entry["seq"]), Op.from_json(entry)
        except (ValueError, KeyError, TypeError, AttributeError):
            if end is None:  # the last line, cut short by a crash: its write never returned
                log.warning("write journal %s: dropping an incomplete last entry", self.path)
                size = os.fstat(self._fd).st_size
                os.ftruncate(self._fd, size - len(line))
                os.fsync(self._fd)
            else:
                log.error("write journal %s: a damaged entry is skipped, its write is lost: %r",
                          self.path, line[:200])
            return None

    def _lines(self, offset: int):
        """(line, offset after its newline — None for a last line without one), from ``offset``."""
        pending = b""
        while True:
            chunk = os.pread(self._fd, _CHUNK, offset + len(pending))
            if not chunk:
                if pending:
                    yield pending, None
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                offset += len(line) + 1
                yield line, offset

    @property
    def empty(self) -> bool:
        return self._size == 0

    def append(self, entries: list[tuple[int, Op]]) -> None:
        """Append and fsync ``entries``; on failure nothing of them stays in the file (OSError)."""
        data = b"".join(
            json.dumps({"seq": seq, **op.to_json()}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            for seq, op in entries
        )
        start = self._size
        try:
            view = memoryview(data)
            os.lseek(self._fd, start, os.SEEK_SET)
            while view:
                written = FILE_WRITE(self._fd, view[:_CHUNK])
                if written <= 0:
                    raise OSError(errno.ENOSPC, "no space left on device")
                view = view[written:]
            os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                log.error("write journal %s: a failed append could not be cut off", self.path)
            raise
        self._size = start + len(data)

    def head(self) -> tuple[int, Op]:
        """The next unapplied entry (read from the file); OSError when there is none."""
        while self._head is None:
            line, end = next(iter(self._lines(self._read_at)), (b"", None))
            if end is None:
                raise OSError(errno.ENODATA, f"write journal {self.path} has no entry at byte {self._read_at}")
            entry = self._parse(line, end)
            if entry is None:  # damaged (logged): the next one
                self._read_at = end
                continue
            self._head = (*entry, end)
        seq, op, _ = self._head
        return seq, op

    def advance(self) -> None:
        """The head entry is applied (or skipped for good)."""
        self.head()
        assert self._head is not None
        self._read_at = self._head[2]
        self._head = None

    def compact(self) -> None:
        """Every entry is applied: empty the file."""
        if self._size and self._read_at >= self._size:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            self._size = self._read_at = 0
            self._head = None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the flock
            self._fd = -1

