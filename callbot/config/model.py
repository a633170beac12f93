"""The whole configuration: :class:`Config`, one field per section of the file, each
holding the settings type of the component that uses it (defined with the component,
filled by :mod:`callbot.config.load`), plus :func:`default_config` and
:meth:`Config.redacted` (the secrets masked, for display).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callbot.call.settings import CallSettings, HandoffSettings, PhoneSettings
from callbot.config.sections.log import LogSettings
from callbot.config.sections.web import WebSettings
from callbot.notify.settings import NotifySettings
from callbot.prompts.settings import DEFAULT_PROMPTS, PromptSettings
from callbot.speech.settings import (
    DEFAULT_MODELS,
    DEFAULT_MODELS_DIR,
    DEFAULT_PROMPT_CACHE,
    SpeechSettings,
    TtsSettings,
)
from callbot.speech.turns import TurnSettings
from callbot.store.settings import DEFAULT_DATABASE, DEFAULT_RECORDINGS, RetentionSettings, StorageSettings
from callbot.telephony.settings import SipSettings


@dataclass(frozen=True)
class Config:
    sip: SipSettings
    calls: CallSettings
    phone: PhoneSettings
    storage: StorageSettings
    prompts: PromptSettings
    log: LogSettings
    speech: SpeechSettings
    turns: TurnSettings = TurnSettings()
    tts: TtsSettings = TtsSettings()
    handoff: HandoffSettings = HandoffSettings()
    web: WebSettings = WebSettings()
    retention: RetentionSettings = RetentionSettings()
    notify: NotifySettings = NotifySettings()
    source: Path | None = None  # the file it came from

    def redacted(self) -> dict:
        """Nested plain dict (str/int/float/bool/None only) safe to display."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if dataclasses.is_dataclass(value):
                out[f.name] = {
                    sf.name: _plain(getattr(value, sf.name)) for sf in dataclasses.fields(value)
                }
            else:
                out[f.name] = _plain(value)
        out["sip"]["password"] = "***" if self.sip.password else ""
        out["web"]["password_hash"] = "***" if self.web.password_hash else ""
        out["web"]["session_secret"] = "***" if self.web.session_secret else ""
        out["notify"]["smtp_password"] = "***" if self.notify.smtp_password else ""
        out["notify"]["webhook_secret"] = "***" if self.notify.webhook_secret else ""
        out["notify"]["rule"] = [rule.to_plain() for rule in self.notify.rule]
        return out


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


#: The sections of the file, in the order problems and suggestions list them.
SECTIONS: dict[str, type] = {
    "sip": SipSettings,
    "calls": CallSettings,
    "phone": PhoneSettings,
    "storage": StorageSettings,
    "prompts": PromptSettings,
    "log": LogSettings,
    "speech": SpeechSettings,
    "handoff": HandoffSettings,
    "turns": TurnSettings,
    "tts": TtsSettings,
    "web": WebSettings,
    "retention": RetentionSettings,
    "notify": NotifySettings,
}
#: The keys each section knows: the fields of its settings type.
KNOWN_KEYS: dict[str, list[str]] = {
    name: [f.name for f in dataclasses.fields(cls)] for name, cls in SECTIONS.items()
}
#: Keys whose values are never shown (only their type, in a problem).
SECRET_KEYS = {("sip", "password"), ("web", "password_hash"), ("web", "session_secret"),
               ("notify", "smtp_password"), ("notify", "webhook_secret")}


def default_config(base_dir: str | Path) -> Config:
    """All defaults, with the data and prompt paths under ``base_dir``."""
    base = Path(base_dir)
    return Config(
        sip=SipSettings(),
        calls=CallSettings(),
        phone=PhoneSettings(),
        storage=StorageSettings(database=base / DEFAULT_DATABASE, recordings=base / DEFAULT_RECORDINGS),
        prompts=PromptSettings(dir=base / DEFAULT_PROMPTS),
        log=LogSettings(),
        speech=SpeechSettings(model=base / DEFAULT_MODELS_DIR / DEFAULT_MODELS["de"]),
        tts=TtsSettings(cache=base / DEFAULT_PROMPT_CACHE),
        web=WebSettings(),
        source=None,
    )
