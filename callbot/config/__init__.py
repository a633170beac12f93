"""Typed settings loaded from a TOML file.

``load_config`` reads the file with :mod:`tomllib`, checks every value and
collects *all* problems before raising a single :class:`ConfigError` whose
``problems`` list has one line per problem, each naming the key path and how
to fix it, e.g.::

    sip.port: expected an integer 1-65535, got "abc"
    sip.prot: unknown key — did you mean 'port'?

The SIP password is a secret: it is excluded from ``repr()``, masked in
``Config.redacted()`` and never echoed in a problem message. The environment
variable ``CALLBOT_SIP_PASSWORD`` (when set and non-empty) overrides
``sip.password`` from the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers

from callbot.errors import ConfigError

__all__ = [
    "CallsConfig",
    "Config",
    "LogConfig",
    "HandoffConfig",
    "SpeechConfig",
    "TurnsConfig",
    "TtsConfig",
    "WEB_PASSWORD_HASH_ENV",
    "WEB_SECRET_ENV",
    "WebConfig",
    "PASSWORD_ENV",
    "PhoneConfig",
    "PromptsConfig",
    "SipConfig",
    "RetentionConfig",
    "StorageConfig",
    "default_config",
    "load_config",
]

PASSWORD_ENV = "CALLBOT_SIP_PASSWORD"
WEB_PASSWORD_HASH_ENV = "CALLBOT_WEB_PASSWORD_HASH"
WEB_SECRET_ENV = "CALLBOT_WEB_SECRET"
WEB_SECRET_MIN = 32  # characters of a configured session secret
_WEB_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

WITHHELD_MODES = ("announce", "reject")
UNKNOWN_MODES = ("screen", "greet")
BLOCKED_MODES = ("announce", "counter_offer")
HANDOFF_MODES = ("ignore", "reject", "transfer")
GENUINE_MODES = ("message", "transfer")
TRANSCRIPTION_MODES = ("required", "optional", "off")
#: Upper bound of speech.decoders (threads decoding at once).
MAX_DECODERS = 64
#: Model directory used when speech.model is not set, per prompt language
#: (the names `callbot models install de|en` installs under data/models/).
DEFAULT_MODELS = {"de": "vosk-model-small-de-0.15", "en": "vosk-model-small-en-us-0.15"}
DEFAULT_MODELS_DIR = Path("data") / "models"
LANGUAGES = ("de", "en")
LOG_LEVELS = ("debug", "info", "warning", "error")

DEFAULT_DATABASE = Path("data") / "callbot.db"
DEFAULT_RECORDINGS = Path("data") / "recordings"
DEFAULT_PROMPTS = Path("prompts")
DEFAULT_PROMPT_CACHE = Path("data") / "cache" / "prompts"
TTS_ENGINES = ("espeak-ng", "piper")
TTS_SPEED_MIN, TTS_SPEED_MAX = 80, 400
_TTS_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SipConfig:
    server: str = "127.0.0.1"  # registrar / PBX host
    port: int = 5060
    username: str = "callbot"
    password: str = field(default="", repr=False)  # env CALLBOT_SIP_PASSWORD overrides
    local_ip: str = "127.0.0.1"  # IP literal reachable by the PBX (goes into SDP)
    local_port: int = 5062
    rtp_port_min: int = 10000
    rtp_port_max: int = 10999
    register: bool = True
    register_expires: int = 300  # seconds asked of the registrar
    rtp_timeout: float = 30.0  # seconds without inbound RTP before hanging up (phones with silence suppression send none while quiet)
    max_call_duration: float = 600.0  # hard cap per call, seconds
    answer_delay: float = 0.0  # seconds of ringing before answering
    user_agent: str = "callbot"


@dataclass(frozen=True)
class CallsConfig:
    withheld: str = "announce"  # "announce" or "reject" (433 Anonymity Disallowed)
    keep_withheld_evidence: bool = False  # store P-Asserted-Identity of withheld callers
    unknown: str = "screen"  # numbered callers: "screen" (ask who and why) or "greet" (hello, hang up)
    blocked: str = "announce"  # blocked callers: "announce" (prompt `blocked`, hang up) or "counter_offer"
    counter_offer_step: str = "ask_website"  # the script step where the counter-offer starts


@dataclass(frozen=True)
class HandoffConfig:
    mode: str = "ignore"        # allowed/known callers: "ignore" (let the PBX ring on), "reject", "transfer"
    reject_status: int = 486    # final status for mode = "reject" (400-699)
    transfer_to: str = ""       # SIP URI for mode = "transfer", e.g. "sip:100@192.168.178.1"
    genuine: str = "message"    # screened genuine callers (script outcome message_taken): "message" or "transfer"


@dataclass(frozen=True)
class PhoneConfig:
    default_region: str = "DE"  # ISO 3166 alpha-2, upper case


@dataclass(frozen=True)
class StorageConfig:
    database: Path
    recordings: Path
    record: bool = True  # false: keep no audio of callers at all (and skip the recording notice)


@dataclass(frozen=True)
class RetentionConfig:
    days: int = 90               # recordings and transcripts older than this are deleted (`callbot prune`); 0 = keep
    keep_call_rows: bool = True  # true: calls and their decision trail stay; false: old calls are deleted whole


@dataclass(frozen=True)
class PromptsConfig:
    dir: Path
    language: str = "de"


@dataclass(frozen=True)
class SpeechConfig:
    model: Path                      # Vosk model directory
    transcription: str = "required"  # required: refuse to start without a model; optional: warn, no text; off
    decoders: int = 0                # turns decoded at once; 0 = "auto": one per CPU core


@dataclass(frozen=True)
class TurnsConfig:
    speech_threshold_dbfs: float = -35.0  # a 20 ms frame at or above this level is speech
    min_speech: float = 0.2               # seconds of speech before a turn counts
    end_silence: float = 0.8              # seconds of silence that end the caller's turn
    no_speech_timeout: float = 5.0        # give up listening after this long without speech
    max_turn: float = 20.0                # longest caller turn, seconds
    pre_roll: float = 0.3                 # audio kept before the detected speech start


@dataclass(frozen=True)
class TtsConfig:
    engine: str = "espeak-ng"  # "espeak-ng" or "piper": speaks prompts that have only a text
    voice: str = ""  # espeak-ng voice ("de", "en-us", "de+f3"); empty = the prompt language
    speed: int = 150  # words per minute (espeak-ng), 80-400
    piper_model: Path | None = None  # Piper voice (.onnx); required when engine = "piper"
    cache: Path = DEFAULT_PROMPT_CACHE  # rendered prompts, keyed by content hash


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"


@dataclass(frozen=True)
class WebConfig:
    host: str = "127.0.0.1"  # address `callbot web` listens on (an IP; 0.0.0.0 only via --host)
    port: int = 8080
    user: str = "owner"  # the login's name, recorded as who blocked/allowed a number
    password_hash: str = field(default="", repr=False)  # scrypt$...; env CALLBOT_WEB_PASSWORD_HASH overrides
    session_secret: str = field(default="", repr=False)  # signs the session cookie; env CALLBOT_WEB_SECRET overrides
    secure_cookies: bool = False  # true when the page is served over https (reverse proxy)
    session_hours: int = 12  # a login lasts this long
    per_page: int = 50  # calls per page


@dataclass(frozen=True)
class Config:
    sip: SipConfig
    calls: CallsConfig
    phone: PhoneConfig
    storage: StorageConfig
    prompts: PromptsConfig
    log: LogConfig
    speech: SpeechConfig
    turns: TurnsConfig = TurnsConfig()
    tts: TtsConfig = TtsConfig()
    handoff: HandoffConfig = HandoffConfig()
    web: WebConfig = WebConfig()
    retention: RetentionConfig = RetentionConfig()
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
        return out


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


_SECTIONS: dict[str, type] = {
    "sip": SipConfig,
    "calls": CallsConfig,
    "phone": PhoneConfig,
    "storage": StorageConfig,
    "prompts": PromptsConfig,
    "log": LogConfig,
    "speech": SpeechConfig,
    "handoff": HandoffConfig,
    "turns": TurnsConfig,
    "tts": TtsConfig,
    "web": WebConfig,
    "retention": RetentionConfig,
}
_KNOWN_KEYS: dict[str, list[str]] = {
    name: [f.name for f in dataclasses.fields(cls)] for name, cls in _SECTIONS.items()
}
_SECRET_KEYS = {("sip", "password"), ("web", "password_hash"), ("web", "session_secret")}


def default_config(base_dir: str | Path) -> Config:
    """All defaults, with the data and prompt paths under ``base_dir``."""
    base = Path(base_dir)
    return Config(
        sip=SipConfig(),
        calls=CallsConfig(),
        phone=PhoneConfig(),
        storage=StorageConfig(database=base / DEFAULT_DATABASE, recordings=base / DEFAULT_RECORDINGS),
        prompts=PromptsConfig(dir=base / DEFAULT_PROMPTS),
        log=LogConfig(),
        speech=SpeechConfig(model=base / DEFAULT_MODELS_DIR / DEFAULT_MODELS["de"]),
        tts=TtsConfig(cache=base / DEFAULT_PROMPT_CACHE),
        web=WebConfig(),
        source=None,
    )


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem."""
    if env is None:
        env = os.environ
    source = Path(os.path.abspath(Path(path).expanduser()))
    data = _read_toml(source)
    base = source.parent

    r = _Reader()
    sections = r.sections(data)

    sip = _load_sip(r, sections["sip"], env)
    calls = _load_calls(r, sections["calls"])
    phone = _load_phone(r, sections["phone"])
    storage = _load_storage(r, sections["storage"], base)
    prompts = _load_prompts(r, sections["prompts"], base)
    log = _load_log(r, sections["log"])
    speech = _load_speech(r, sections["speech"], base, prompts.language)
    handoff = _load_handoff(r, sections["handoff"])
    turns = _load_turns(r, sections["turns"])
    tts = _load_tts(r, sections["tts"], base)
    web = _load_web(r, sections["web"], env)
    retention = _load_retention(r, sections["retention"])

    if r.problems:
        raise ConfigError(r.problems, str(source))
    return Config(
        sip=sip, calls=calls, phone=phone, storage=storage, prompts=prompts, log=log,
        speech=speech, turns=turns, handoff=handoff, tts=tts, web=web, retention=retention,
        source=source,
    )


_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def _read_toml(source: Path) -> dict[str, Any]:
    where = str(source)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [f"config file {source} does not exist — check the path, or copy the example "
             f"config.toml from the callbot repository"],
            where,
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            [f"config file {source} is a directory — give the path of the .toml file inside it"],
            where,
        ) from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(
            [f"config file {source} cannot be read ({reason}) — check its permissions"], where
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"line {line}: the file is not valid UTF-8 — save it as UTF-8 text"], where
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        if m:
            pos = f"line {m.group(1)}, column {m.group(2)}"
            msg = msg[: m.start()]
        elif _TOML_END.search(msg):
            pos = f"line {max(1, len(text.splitlines()))} (end of file)"
            msg = _TOML_END.sub("", msg)
        else:
            pos = "somewhere in the file"
        reason = msg[:1].lower() + msg[1:] if msg else "syntax error"
        raise ConfigError(
            [f"{pos}: invalid TOML ({reason}) — check quotes, brackets and the "
             f"'key = value' form on that line"],
            where,
        ) from None


# --------------------------------------------------------------------------
# Value checking
# --------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_MISSING = object()


def _key(*parts: str) -> str:
    return ".".join(p if _BARE_KEY.match(p) else json.dumps(p, ensure_ascii=False) for p in parts)


def _describe(value: Any) -> str:
    """What the user wrote, the way they wrote it (for non-secret values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    return _kind(value)


def _kind(value: Any) -> str:
    """Type only, never the value (used for secrets)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time"


def _unquote_hint(value: Any) -> str:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "false"):
            return " — write it without quotes"
        try:
            float(v)
        except ValueError:
            return ""
        return " — write the number without quotes"
    return ""


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.bad: set[str] = set()  # key paths that already have a problem

    def add(self, problem: str) -> None:
        self.problems.append(problem)
        self.bad.add(problem.split(":", 1)[0])

    # -- structure ---------------------------------------------------------

    def sections(self, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        for name, value in data.items():
            if name in _SECTIONS:
                if isinstance(value, dict):
                    out[name] = value
                    self._unknown_keys(name, value)
                else:
                    self.add(
                        f"{_key(name)}: expected a section [{name}], got {_kind(value)} — "
                        f"write the settings as key = value lines under a [{name}] header"
                    )
                continue
            if not isinstance(value, dict):
                owners = [s for s, keys in _KNOWN_KEYS.items() if name in keys]
                if owners:
                    self.add(
                        f"{_key(name)}: key outside any section — move it below the "
                        f"[{owners[0]}] header"
                    )
                    continue
            self.add(f"{_key(name)}: unknown section — {_suggest(name, list(_SECTIONS), 'sections')}")
        return out

    def _unknown_keys(self, section: str, table: dict[str, Any]) -> None:
        known = _KNOWN_KEYS[section]
        for key in table:
            if key not in known:
                self.add(f"{_key(section, key)}: unknown key — {_suggest(key, known, 'keys')}")

    # -- typed getters -----------------------------------------------------
    # Each returns the checked value, or the default after recording a problem.

    def string(
        self,
        table: dict[str, Any],
        section: str,
        key: str,
        default: str,
        *,
        nonempty: bool = False,
        single_line: bool = True,
    ) -> str:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            return default
        secret = (section, key) in _SECRET_KEYS
        path = _key(section, key)
        if not isinstance(value, str):
            got = _kind(value) if secret else _describe(value)
            hint = "" if secret else " — put the text in double quotes"
            self.add(f"{path}: expected a text string, got {got}{hint}")
            return default
        if nonempty and not value.strip():
            self.add(f"{path}: must not be empty")
            return default
        if single_line and any(c in value for c in "\r\n\x00"):
            self.add(f"{path}: must be a single line without line breaks")
            return default
        return value

    def choice(
        self, table: dict[str, Any], section: str, key: str, default: str, choices: tuple[str, ...]
    ) -> str:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            return default
        allowed = ", ".join(f'"{c}"' for c in choices)
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        self.add(f"{_key(section, key)}: expected one of {allowed}, got {_describe(value)}")
        return default

    def integer(
        self, table: dict[str, Any], section: str, key: str, default: int, lo: int, hi: int
    ) -> int:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return value
        self.add(
            f"{_key(section, key)}: expected an integer {lo}-{hi}, got {_describe(value)}"
            f"{_unquote_hint(value)}"
        )
        return default

    def number(
        self,
        table: dict[str, Any],
        section: str,
        key: str,
        default: float,
        *,
        lo: float,
        hi: float | None = None,
        lo_exclusive: bool = False,
        unit: str = "seconds",
    ) -> float:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            return default
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > lo if lo_exclusive else value >= lo) and (hi is None or value <= hi)
        if ok:
            return float(value)
        if hi is None:
            want = f"greater than {lo:g}" if lo_exclusive else f"at least {lo:g}"
        else:
            want = f"{lo:g}-{hi:g}"
        self.add(
            f"{_key(section, key)}: expected a number of {unit} {want}, got {_describe(value)}"
            f"{_unquote_hint(value)}"
        )
        return default

    def boolean(self, table: dict[str, Any], section: str, key: str, default: bool) -> bool:
        value = table.get(key, _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        hint = ""
        if isinstance(value, str):
            hint = " — write true or false without quotes"
        self.add(f"{_key(section, key)}: expected true or false, got {_describe(value)}{hint}")
        return default

    def path(
        self, table: dict[str, Any], section: str, key: str, default: Path, base: Path
    ) -> Path | None:
        """A path resolved against ``base``; ``None`` if the value is unusable."""
        value = table.get(key, _MISSING)
        if value is _MISSING:
            return base / default
        p = _key(section, key)
        if not isinstance(value, str):
            self.add(f"{p}: expected a path in double quotes, got {_describe(value)}")
            return None
        if not value.strip():
            self.add(f"{p}: must not be empty — give a path, relative to the config file's folder")
            return None
        if "\x00" in value:
            self.add(f"{p}: contains a NUL character — give a plain path")
            return None
        return Path(os.path.normpath(base / Path(value).expanduser()))


def _suggest(word: str, candidates: list[str], what: str) -> str:
    lowered = {c.lower(): c for c in candidates}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    if match:
        return f"did you mean '{lowered[match[0]]}'?"
    return f"valid {what} are: " + ", ".join(candidates)


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


def _load_sip(r: _Reader, t: dict[str, Any], env: Mapping[str, str]) -> SipConfig:
    d = SipConfig()
    s = "sip"
    server = r.string(t, s, "server", d.server)
    port = r.integer(t, s, "port", d.port, 1, 65535)
    username = r.string(t, s, "username", d.username, nonempty=True)
    password = r.string(t, s, "password", d.password, single_line=False)
    env_password = env.get(PASSWORD_ENV)
    if env_password:
        password = env_password
    if any(c in password for c in "\r\n\x00"):
        origin = PASSWORD_ENV if env_password else "sip.password"
        r.add(f"{origin}: the password must not contain line breaks or NUL characters")

    local_ip = d.local_ip
    raw_ip = t.get("local_ip", _MISSING)
    if raw_ip is not _MISSING:
        local_ip = _check_local_ip(r, raw_ip) or d.local_ip

    local_port = r.integer(t, s, "local_port", d.local_port, 1, 65535)
    rtp_min = r.integer(t, s, "rtp_port_min", d.rtp_port_min, 1024, 65535)
    rtp_max = r.integer(t, s, "rtp_port_max", d.rtp_port_max, 1024, 65535)
    rtp_ok = not r.bad & {"sip.rtp_port_min", "sip.rtp_port_max"}
    if rtp_ok and rtp_max < rtp_min + 1:
        r.add(
            f"sip.rtp_port_max: must be at least rtp_port_min + 1 (got rtp_port_min = {rtp_min}, "
            f"rtp_port_max = {rtp_max}) — the RTP range needs at least 2 ports, e.g. 10000-10999"
        )
    elif rtp_ok and "sip.local_port" not in r.bad and rtp_min <= local_port <= rtp_max:
        r.add(
            f"sip.local_port: {local_port} lies inside the RTP range {rtp_min}-{rtp_max} — "
            f"choose a SIP port outside it, e.g. 5062"
        )

    register = r.boolean(t, s, "register", d.register)
    if register and not server.strip():
        r.add(
            "sip.server: is empty but sip.register = true — give the registrar/PBX host, "
            "or set register = false"
        )
    if server.strip() == local_ip and port == local_port:
        r.add(
            f"sip.local_port: {local_port} is the PBX's own port on {local_ip} — "
            f"use a different local port, e.g. 5062"
        )
    register_expires = r.integer(t, s, "register_expires", d.register_expires, 10, 86400)
    rtp_timeout = r.number(t, s, "rtp_timeout", d.rtp_timeout, lo=0, lo_exclusive=True)
    max_call = r.number(t, s, "max_call_duration", d.max_call_duration, lo=0, lo_exclusive=True)
    answer_delay = r.number(t, s, "answer_delay", d.answer_delay, lo=0, hi=30)
    user_agent = r.string(t, s, "user_agent", d.user_agent, nonempty=True)
    return SipConfig(
        server=server.strip(),
        port=port,
        username=username,
        password=password,
        local_ip=local_ip,
        local_port=local_port,
        rtp_port_min=rtp_min,
        rtp_port_max=rtp_max,
        register=register,
        register_expires=register_expires,
        rtp_timeout=rtp_timeout,
        max_call_duration=max_call,
        answer_delay=answer_delay,
        user_agent=user_agent,
    )


def _check_local_ip(r: _Reader, value: Any) -> str | None:
    if not isinstance(value, str):
        r.add(f'sip.local_ip: expected an IP address in quotes such as "192.168.1.20", '
              f"got {_describe(value)}")
        return None
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        r.add(
            f"sip.local_ip: expected an IP address such as \"192.168.1.20\", got "
            f"{_describe(value)} — host names are not allowed here; use this machine's "
            f"address on the network the PBX can reach"
        )
        return None
    if ip.is_unspecified:
        r.add(
            f"sip.local_ip: {ip} is not a reachable address — the PBX sends audio (RTP) to the "
            f"address in the SDP, so give this machine's real IP, e.g. \"192.168.1.20\", "
            f"or \"127.0.0.1\" when the PBX runs on the same machine"
        )
        return None
    if ip.is_multicast:
        r.add(f"sip.local_ip: {ip} is a multicast address — give this machine's own IP address")
        return None
    return str(ip)


def _load_calls(r: _Reader, t: dict[str, Any]) -> CallsConfig:
    d = CallsConfig()
    return CallsConfig(
        withheld=r.choice(t, "calls", "withheld", d.withheld, WITHHELD_MODES),
        keep_withheld_evidence=r.boolean(
            t, "calls", "keep_withheld_evidence", d.keep_withheld_evidence
        ),
        unknown=r.choice(t, "calls", "unknown", d.unknown, UNKNOWN_MODES),
        blocked=r.choice(t, "calls", "blocked", d.blocked, BLOCKED_MODES),
        counter_offer_step=r.string(t, "calls", "counter_offer_step", d.counter_offer_step, nonempty=True),
    )


def _load_handoff(r: _Reader, t: dict[str, Any]) -> HandoffConfig:
    d = HandoffConfig()
    mode = r.choice(t, "handoff", "mode", d.mode, HANDOFF_MODES)
    status = r.integer(t, "handoff", "reject_status", d.reject_status, 400, 699)
    target = r.string(t, "handoff", "transfer_to", d.transfer_to).strip()
    if target and not re.match(r"^sips?:[^\s@]+@[^\s]+$", target):
        r.add(f'handoff.transfer_to: expected a SIP URI such as "sip:100@192.168.178.1", got {_describe(target)}')
    elif mode == "transfer" and not target:
        r.add('handoff.transfer_to: is empty but handoff.mode = "transfer" — give the SIP URI of the phone '
              'or group that takes the calls, e.g. "sip:100@192.168.178.1"')
    genuine = r.choice(t, "handoff", "genuine", d.genuine, GENUINE_MODES)
    if genuine == "transfer" and not target and mode != "transfer":
        r.add('handoff.transfer_to: is empty but handoff.genuine = "transfer" — give the SIP URI of the phone '
              'or group that takes genuine callers, e.g. "sip:100@192.168.178.1"')
    return HandoffConfig(mode=mode, reject_status=status, transfer_to=target, genuine=genuine)


def _load_phone(r: _Reader, t: dict[str, Any]) -> PhoneConfig:
    d = PhoneConfig()
    value = t.get("default_region", _MISSING)
    if value is _MISSING:
        return d
    if isinstance(value, str) and value.strip().upper() in phonenumbers.SUPPORTED_REGIONS:
        return PhoneConfig(default_region=value.strip().upper())
    r.add(
        f"phone.default_region: expected a two-letter country code such as \"DE\", \"AT\" or "
        f"\"CH\", got {_describe(value)}"
    )
    return d


def _load_storage(r: _Reader, t: dict[str, Any], base: Path) -> StorageConfig:
    database = r.path(t, "storage", "database", DEFAULT_DATABASE, base)
    recordings = r.path(t, "storage", "recordings", DEFAULT_RECORDINGS, base)
    if database is not None:
        try:
            _check_database(r, database)
        except OSError as exc:
            r.add(f"storage.database: cannot check {database} ({exc.strerror or exc}) — "
                  f"choose another path")
    if recordings is not None:
        try:
            _check_writable_dir(r, "storage.recordings", recordings)
        except OSError as exc:
            r.add(f"storage.recordings: cannot check {recordings} ({exc.strerror or exc}) — "
                  f"choose another path")
    return StorageConfig(
        database=database if database is not None else base / DEFAULT_DATABASE,
        recordings=recordings if recordings is not None else base / DEFAULT_RECORDINGS,
        record=r.boolean(t, "storage", "record", StorageConfig.record),
    )


#: Longest retention.days accepted (100 years).
RETENTION_DAYS_MAX = 36500


def _load_retention(r: _Reader, t: dict[str, Any]) -> RetentionConfig:
    d = RetentionConfig()
    return RetentionConfig(
        days=r.integer(t, "retention", "days", d.days, 0, RETENTION_DAYS_MAX),
        keep_call_rows=r.boolean(t, "retention", "keep_call_rows", d.keep_call_rows),
    )


def _nearest_existing(p: Path) -> Path:
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _check_database(r: _Reader, database: Path) -> None:
    if database.is_dir():
        r.add(
            f"storage.database: {database} is a directory — give a file path such as "
            f"data/callbot.db"
        )
        return
    _check_writable_dir(r, "storage.database", database.parent, what="the database's folder")


def _check_writable_dir(r: _Reader, key: str, directory: Path, what: str = "") -> None:
    """``directory`` must be a writable dir, or creatable under a writable dir."""
    ancestor = _nearest_existing(directory)
    label = f" ({what})" if what else ""
    if not ancestor.is_dir():
        r.add(
            f"{key}: {ancestor} is a file, not a directory, so {directory}{label} cannot be "
            f"created — choose another path"
        )
    elif not os.access(ancestor, os.W_OK | os.X_OK):
        target = (
            f"directory {ancestor} is not writable"
            if ancestor == directory
            else f"{directory}{label} cannot be created because {ancestor} is not writable"
        )
        r.add(f"{key}: {target} — fix its permissions or choose another path")


def _load_prompts(r: _Reader, t: dict[str, Any], base: Path) -> PromptsConfig:
    directory = r.path(t, "prompts", "dir", DEFAULT_PROMPTS, base)
    language = r.choice(t, "prompts", "language", PromptsConfig.language, LANGUAGES)
    lang_ok = "prompts.language" not in r.bad
    if directory is not None:
        if not directory.exists():
            r.add(
                f"prompts.dir: directory {directory} does not exist — create it or point "
                f"prompts.dir at the bundled prompts/"
            )
        elif not directory.is_dir():
            r.add(
                f"prompts.dir: {directory} is a file, not a directory — point prompts.dir at "
                f"the bundled prompts/"
            )
        elif lang_ok and not (directory / language).is_dir():
            present = sorted(l for l in LANGUAGES if (directory / l).is_dir())
            alt = f" or choose one that exists ({', '.join(present)})" if present else ""
            r.add(
                f"prompts.language: directory {directory / language} does not exist — "
                f"add the {language!r} prompts there{alt}"
            )
    return PromptsConfig(
        dir=directory if directory is not None else base / DEFAULT_PROMPTS, language=language
    )


def _load_log(r: _Reader, t: dict[str, Any]) -> LogConfig:
    return LogConfig(level=r.choice(t, "log", "level", LogConfig.level, LOG_LEVELS))


def _load_speech(r: _Reader, t: dict[str, Any], base: Path, language: str) -> SpeechConfig:
    default_model = DEFAULT_MODELS_DIR / DEFAULT_MODELS.get(language, DEFAULT_MODELS["de"])
    model = r.path(t, "speech", "model", default_model, base)
    transcription = r.choice(t, "speech", "transcription", SpeechConfig.transcription, TRANSCRIPTION_MODES)
    decoders = SpeechConfig.decoders
    value = t.get("decoders", "auto")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DECODERS:
        decoders = value
    elif not (isinstance(value, str) and value.strip().lower() == "auto"):
        r.add(f'speech.decoders: expected "auto" or an integer 1-{MAX_DECODERS}, got {_describe(value)}')
    return SpeechConfig(model=model if model is not None else base / default_model, transcription=transcription,
                        decoders=decoders)


def _load_turns(r: _Reader, t: dict[str, Any]) -> TurnsConfig:
    from callbot.speech.turns import TurnSettings  # pure; its checks are the single source of truth

    d = TurnsConfig()
    s = "turns"
    threshold = r.number(t, s, "speech_threshold_dbfs", d.speech_threshold_dbfs, lo=-96, hi=0, unit="dBFS")
    values = {
        key: r.number(t, s, key, getattr(d, key), lo=0, lo_exclusive=True, hi=300)
        for key in ("min_speech", "end_silence", "no_speech_timeout", "max_turn", "pre_roll")
    }
    turns = TurnsConfig(speech_threshold_dbfs=threshold, **values)
    if not any(p.startswith("turns.") for p in r.bad):
        try:
            TurnSettings(**dataclasses.asdict(turns))
        except ValueError as exc:
            r.add(f"turns: {exc}")
            return d
    return turns


def _load_tts(r: _Reader, t: dict[str, Any], base: Path) -> TtsConfig:
    d = TtsConfig()
    s = "tts"
    engine = r.choice(t, s, "engine", d.engine, TTS_ENGINES)
    voice = r.string(t, s, "voice", d.voice).strip()
    if voice and not _TTS_VOICE.match(voice):
        r.add(f"tts.voice: {_describe(voice)} is not a voice name — use e.g. \"de\", \"en-us\" or "
              f"\"de+f3\" (`espeak-ng --voices` lists them), or leave it empty for the prompt language")
        voice = d.voice
    speed = r.integer(t, s, "speed", d.speed, TTS_SPEED_MIN, TTS_SPEED_MAX)
    piper_model: Path | None = None
    raw_model = t.get("piper_model", _MISSING)
    if raw_model is not _MISSING and not (isinstance(raw_model, str) and not raw_model.strip()):
        piper_model = r.path(t, s, "piper_model", Path("."), base)
    if engine == "piper" and "tts.piper_model" not in r.bad:
        if piper_model is None:
            r.add('tts.piper_model: required when tts.engine = "piper" — give the path of the '
                  "voice's .onnx file, e.g. \"data/voices/de_DE-thorsten-medium.onnx\"")
        elif not piper_model.is_file():
            r.add(f"tts.piper_model: {piper_model} does not exist — download a Piper voice "
                  f"(the .onnx and its .onnx.json) there, or fix the path")
    cache = r.path(t, s, "cache", DEFAULT_PROMPT_CACHE, base)
    if cache is not None:
        try:
            _check_writable_dir(r, "tts.cache", cache)
        except OSError as exc:
            r.add(f"tts.cache: cannot check {cache} ({exc.strerror or exc}) — choose another path")
    return TtsConfig(
        engine=engine, voice=voice, speed=speed, piper_model=piper_model,
        cache=cache if cache is not None else base / DEFAULT_PROMPT_CACHE,
    )


def _load_web(r: _Reader, t: dict[str, Any], env: Mapping[str, str]) -> WebConfig:
    from callbot.passwords import check_password_hash

    d = WebConfig()
    s = "web"
    host = d.host
    raw_host = t.get("host", _MISSING)
    if raw_host is not _MISSING:
        host = _check_web_host(r, raw_host) or d.host
    port = r.integer(t, s, "port", d.port, 1, 65535)
    user = r.string(t, s, "user", d.user, nonempty=True).strip()
    if "web.user" not in r.bad and not _WEB_USER.match(user):
        r.add(f"web.user: {_describe(user)} is not a user name — use up to 64 letters, digits, "
              f"'.', '_', '-' or '@', e.g. \"owner\"")
        user = d.user

    password_hash = r.string(t, s, "password_hash", d.password_hash).strip()
    env_hash = (env.get(WEB_PASSWORD_HASH_ENV) or "").strip()
    if env_hash:
        password_hash = env_hash
    if password_hash:
        problem = check_password_hash(password_hash)
        if problem:
            origin = WEB_PASSWORD_HASH_ENV if env_hash else "web.password_hash"
            r.add(f"{origin}: {problem} (the hash goes here, never the password itself)")
            password_hash = ""

    secret = r.string(t, s, "session_secret", d.session_secret)
    env_secret = env.get(WEB_SECRET_ENV) or ""
    if env_secret:
        secret = env_secret
    if secret and (len(secret) < WEB_SECRET_MIN or any(c.isspace() for c in secret)):
        origin = WEB_SECRET_ENV if env_secret else "web.session_secret"
        r.add(f"{origin}: must be at least {WEB_SECRET_MIN} characters without spaces — make one with "
              f"python3 -c 'import secrets; print(secrets.token_urlsafe(32))', or leave it empty "
              f"(then logins end whenever callbot web restarts)")
        secret = ""

    return WebConfig(
        host=host,
        port=port,
        user=user,
        password_hash=password_hash,
        session_secret=secret,
        secure_cookies=r.boolean(t, s, "secure_cookies", d.secure_cookies),
        session_hours=r.integer(t, s, "session_hours", d.session_hours, 1, 24 * 31),
        per_page=r.integer(t, s, "per_page", d.per_page, 10, 500),
    )


def _check_web_host(r: _Reader, value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() == "localhost":
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(value.strip()) if isinstance(value, str) else None
    except ValueError:
        ip = None
    if ip is None:
        r.add(f'web.host: expected an IP address in quotes such as "127.0.0.1", got {_describe(value)}')
        return None
    if ip.is_unspecified:
        r.add(f"web.host: {ip} would open the page to every network this computer is on — keep "
              f'"127.0.0.1" here and, if you really mean it, start `callbot web --host {ip}` explicitly')
        return None
    return str(ip)
