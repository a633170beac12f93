"""Exceptions raised by callbot's library code.

Library modules raise these; only ``callbot.cli`` turns them into messages and
exit codes. The message of every ``CallbotError`` is written for the user.
"""

from __future__ import annotations


class CallbotError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing message."""


class ConfigError(CallbotError):
    """The configuration file is unusable. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(self.problems))


class PromptError(CallbotError):
    """A prompt (recording or text) is missing or unreadable."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class AudioError(CallbotError):
    """Audio data could not be decoded or converted."""


class StoreError(CallbotError):
    """The call log database could not be opened or written."""


class SipError(CallbotError):
    """The SIP endpoint could not be started (bad address, port in use ...)."""


class ModelError(CallbotError):
    """A speech model is missing, invalid, or could not be installed or loaded."""


class RecognitionError(CallbotError):
    """Speech recognition of a caller's turn failed."""


class ScriptError(CallbotError):
    """The owner's call script (``script.toml``) is unusable. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = head + self.problems[0]
        else:
            message = head + f"{len(self.problems)} problems\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)
