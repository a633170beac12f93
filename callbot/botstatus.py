"""The running bot's state for other processes (`callbot status`, the web page): one small JSON file.

``callbot run`` writes ``status.json`` next to the call log whenever the registration changes
(registered since, last failure and why, next try) and when it starts and stops; readers never
talk to the bot. A leaf: imports nothing of callbot. Writes are atomic (temporary file +
rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FILE_NAME = "status.json"


def status_path(database: Path) -> Path:
    return Path(database).parent / FILE_NAME


@dataclass
class BotStatus:
    pid: int
    started: float
    running: bool = True
    register: bool = True
    registrar: str = ""
    registered: bool = False
    since: float | None = None
    last_failure: float | None = None
    last_error: str | None = None
    next_try: float | None = None
    granted_expires: int | None = None
    updated: float = field(default_factory=time.time)

    def alive(self) -> bool:
        """Is the process that wrote this still there (and did it not say it stopped)?"""
        if not self.running:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def lines(self, now: float | None = None) -> list[str]:
        """The state in words (English; the web page has its own texts)."""
        now = time.time() if now is None else now
        if not self.alive():
            return [f"the bot is not running (last seen {_ago(now - self.updated)} ago)"]
        out = [f"the bot is running (pid {self.pid}, up {_ago(now - self.started)})"]
        if not self.register:
            out.append("registration: off (sip.register = false), calls come straight from the PBX")
        elif self.registered:
            out.append(f"registered at {self.registrar} since {_clock(self.since)} "
                       f"(expires {self.granted_expires}s)")
        else:
            out.append(f"NOT registered at {self.registrar} since {_clock(self.since)}: {self.last_error}")
            if self.next_try:
                out.append(f"next try in {max(0, self.next_try - now):.0f}s")
        if self.last_failure and self.registered:
            out.append(f"last failure {_clock(self.last_failure)}: {self.last_error or '-'}")
        return out


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}min"
    return f"{seconds // 3600}h"


def _clock(moment: float | None) -> str:
    if moment is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def write_status(path: Path, status: BotStatus) -> None:
    """Replace the file atomically; a failure (disk full …) raises OSError for the caller to log."""
    status.updated = time.time()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(asdict(status), indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> BotStatus | None:
    """The last written state, or None when there is none (never ran here) or it cannot be read."""
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        names = BotStatus.__dataclass_fields__
        return BotStatus(**{k: v for k, v in data.items() if k in names})
    except (OSError, ValueError, TypeError):
        return None
