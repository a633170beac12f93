"""The ``[log]`` section -> :class:`LogSettings` (the level every command logs at).

Logging is set up by the entry points, which sit above the configuration, so the
type lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callbot.config.reader import Reader

LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class LogSettings:
    level: str = "info"


def load_log(r: Reader, t: dict[str, Any]) -> LogSettings:
    return LogSettings(level=r.choice(t, "log", "level", LogSettings.level, LOG_LEVELS))
