"""The store's settings: ``[storage]`` (where the call log and recordings live) and
``[retention]`` (how long they are kept, applied by ``callbot.privacy``).

Defined here with the component, filled by ``callbot.config`` (paths resolved against
the config file's folder). Imports nothing of callbot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE = Path("data") / "callbot.db"
DEFAULT_RECORDINGS = Path("data") / "recordings"
#: Longest retention.days accepted (100 years).
RETENTION_DAYS_MAX = 36500
#: storage.min_free_mb: below this much free space on the data's disk `callbot run` and
#: `callbot check` warn (0 = never); the largest value accepted is 100 TB.
DEFAULT_MIN_FREE_MB = 200
MIN_FREE_MB_MAX = 100_000_000


@dataclass(frozen=True)
class StorageSettings:
    database: Path
    recordings: Path
    record: bool = True  # false: keep no audio of callers at all (and skip the recording notice)
    min_free_mb: int = DEFAULT_MIN_FREE_MB  # warn at start (and in `callbot check`) below this much free disk space


@dataclass(frozen=True)
class RetentionSettings:
    days: int = 90               # recordings and transcripts older than this are deleted (`callbot prune`); 0 = keep
    keep_call_rows: bool = True  # true: calls and their decision trail stay; false: old calls are deleted whole
