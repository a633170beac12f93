"""Everything `callbot run` refuses to start with, checked before anything starts: :func:`preflight`.

One list of checks, two users: :class:`callbot.app.Bot` runs it first and refuses to start with
exactly its errors (warnings are logged), and `callbot check` prints every item (✓, ! or ✗)
and exits non-zero on an error. Each problem names the setting to change and the fix.

Checked, cheaply and without starting anything:

* the call log (``storage.database``): not a directory, its folder writable or creatable, an
  existing file readable, writable and an SQLite file; the recordings (``storage.recordings``)
  and rendered-prompt (``tts.cache``) folders writable or creatable — the same rules the config
  loader applies (:mod:`callbot.config.sections.storage`), so configs built in code are covered;
* free disk space where the data lives: below ``storage.min_free_mb`` is a warning;
* the prompts (rendered as the bot renders them), the owner's script, ``calls.counter_offer_step``;
* the speech model: with ``speech.transcription = "required"`` its folder must hold the files Vosk
  needs (:func:`callbot.speech.models.layout_problems`), with ``optional`` a missing model is a
  warning. With ``load_model`` (what `callbot check` asks for) a model whose files are there is
  then loaded by :func:`load_speech_model` — the very call `callbot run` makes at start — and
  closed again. Why load and not only look at the files: a damaged, truncated or wrong-version
  model has every file in place and only Vosk itself can tell (the loader reads the whole
  acoustic model and graph); any cheaper check would let `check` pass what `run` refuses. The
  cost is what `run` pays anyway: seconds for the small models (3.6 s measured for the 250 MB
  Korean one), in a separate process at idle CPU priority, so a bot already running on the
  machine keeps its audio; its memory is freed when the check ends. The bot itself does not
  load it in :func:`preflight` (``load_model`` False): it loads it once in ``Bot.start`` with
  :func:`load_speech_model` and refuses with the same finding;
* the SIP address ``sip.local_ip:sip.local_port`` can be bound now (the endpoint's own check).

May import: ``callbot.config`` (the settings and the loader's path rules), ``callbot.call.handler``
(which prompts the bot needs), ``callbot.prompts``, ``callbot.script``, ``callbot.speech.models`` and
``callbot.speech.decoder_process`` (loading the model as the bot does),
``callbot.telephony.endpoint`` (the bind check), ``callbot.errors`` and the standard library.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from callbot.call.handler import required_prompts
from callbot.config.model import Config
from callbot.config.reader import nearest_existing
from callbot.config.sections.storage import database_problems, folder_problems
from callbot.errors import ConfigError, ModelError, PromptError, ScriptError, SipError
from callbot.prompts.library import PromptLibrary
from callbot.script.loading import load_owner_script, script_path
from callbot.script.model import Script
from callbot.speech.models import INSTALL_HINT, layout_problems, looks_like_model
from callbot.telephony.endpoint import _check_bindable, trusted_sources
from callbot.telephony.library import wideband_problem
from callbot.telephony.stream import probe_tls

log = logging.getLogger("callbot.preflight")

OK, WARNING, ERROR = "ok", "warning", "error"
#: The first bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Finding:
    """One checked item. ``subject`` is what was checked; a warning or an error also names the
    ``key`` to change and the ``fix``."""

    severity: str  # OK, WARNING or ERROR
    subject: str
    text: str
    key: str = ""
    fix: str = ""

    def __str__(self) -> str:
        if self.severity == OK:
            return f"{self.subject}: {self.text}"
        return f"{self.key}: {self.text}" + (f" — {self.fix}" if self.fix else "")


def problem(severity: str, subject: str, key: str, message: str, fix: str = "") -> Finding:
    """A finding from a message written as ``key: what — fix`` (the loader's and the library's style)."""
    if message.startswith(f"{key}: "):
        message = message[len(key) + 2:]
    what, dash, own_fix = message.partition(" — ")
    return Finding(severity, subject, what, key, own_fix if dash else fix)


class PreflightError(ConfigError):
    """`callbot run` refuses to start: ``problems`` holds the preflight's errors, one line each
    (key, what is wrong, the fix); ``findings`` the :class:`Finding` objects."""

    def __init__(self, errors: list[Finding], source: str | None = None):
        self.findings = list(errors)
        super().__init__([str(f) for f in self.findings], source)


@dataclass
class Preflight:
    """What :func:`preflight` found, in order, and what it loaded on the way (the bot reuses it)."""

    findings: list[Finding] = field(default_factory=list)
    prompts: PromptLibrary | None = None
    script: Script | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def raise_errors(self, source: str | Path | None = None) -> None:
        """Raise :class:`PreflightError` listing every error, if there is one."""
        if self.errors:
            raise PreflightError(self.errors, str(source) if source is not None else None)


def preflight(config: Config, *, prompts: PromptLibrary | None = None, speech: bool = True,
              database: bool = True, load_model: bool = False) -> Preflight:
    """Check everything the bot needs before it starts (see the module docstring).

    ``prompts``: an already loaded library to check the script against (not re-rendered);
    ``speech`` False: the recognizer is handed in, the model is not looked at; ``database``
    False: the store is handed in, ``storage.database`` is not looked at; ``load_model``:
    load a model whose files are there, as the bot will (`callbot check`), and close it again.
    """
    report = Preflight()
    add = report.findings.extend
    if database:
        add(_database(config))
    add(_folders(config))
    add(_disk_space(config))
    report.prompts, found = _prompts(config, prompts)
    add(found)
    if report.prompts is not None:
        report.script, found = _script(config, report.prompts)
        add(found)
    if speech:
        found = _speech_model(config)
        if load_model and [f.severity for f in found] == [OK] and config.speech.transcription != "off":
            transcriber, found = load_speech_model(config)
            if transcriber is not None:
                transcriber.close()
        add(found)
    add(_sip(config))
    return report


# -- storage -------------------------------------------------------------------------
def _database(config: Config) -> list[Finding]:
    path = Path(config.storage.database)
    problems = database_problems(path)
    if problems:
        return [problem(ERROR, "call log", "storage.database", p) for p in problems]
    if not path.exists():
        return [Finding(OK, f"call log {path}", "created at the first start")]
    if not os.access(path, os.R_OK | os.W_OK):
        return [Finding(ERROR, "call log", f"{path} exists but this user may not read and write it",
                        "storage.database", "fix its permissions (the bot's user must own it) or choose another path")]
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        return [Finding(ERROR, "call log", f"cannot read {path} ({exc.strerror or exc})", "storage.database",
                        "fix its permissions or choose another path")]
    if head and head != SQLITE_HEADER:
        return [Finding(ERROR, "call log", f"{path} is not an SQLite database, so not a call log",
                        "storage.database", "point storage.database at the call log, or at a new file name")]
    return [Finding(OK, f"call log {path}", "readable and writable")]


def _folders(config: Config) -> list[Finding]:
    found = []
    for key, subject, path in (("storage.recordings", "recordings", config.storage.recordings),
                               ("tts.cache", "rendered prompts", config.tts.cache)):
        problems = folder_problems(key, Path(path))
        found += [problem(ERROR, subject, key, p) for p in problems] or [
            Finding(OK, f"{subject} {path}", "writable" if Path(path).is_dir() else "will be created")]
    return found


def _disk_space(config: Config) -> list[Finding]:
    limit = config.storage.min_free_mb
    if not limit:
        return []
    found, seen = [], set()
    for key, path in (("storage.database", Path(config.storage.database).parent),
                      ("storage.recordings", Path(config.storage.recordings))):
        anchor = nearest_existing(path)
        try:
            device = os.stat(anchor).st_dev
            free_mb = shutil.disk_usage(anchor).free // 2**20
        except OSError:
            continue  # the folder checks above report what is wrong with the path
        if device in seen:
            continue
        seen.add(device)
        if free_mb < limit:
            found.append(Finding(WARNING, "disk space", f"only {free_mb} MB free on the disk of {path}, less than "
                                 f"storage.min_free_mb = {limit}", key,
                                 f"free some space, move {key} to a larger disk, or lower storage.min_free_mb"))
        else:
            found.append(Finding(OK, f"disk space at {path}", f"{free_mb} MB free (warning below {limit} MB)"))
    return found


# -- prompts and script ---------------------------------------------------------------
def _prompts(config: Config, given: PromptLibrary | None) -> tuple[PromptLibrary | None, list[Finding]]:
    if given is not None:
        return given, []
    try:
        library = PromptLibrary.from_config(config, required=required_prompts(config.calls))
    except PromptError as exc:
        return None, [problem(ERROR, "prompts", "prompts.dir", p,
                              f"fix the prompts in {Path(config.prompts.dir) / config.prompts.language}")
                      for p in exc.problems]
    found = []
    for prompt_id in library.ids():
        p = library.get(prompt_id)
        found.append(Finding(OK, f"prompt {p.language}/{p.id}", f"{p.duration:.1f} s from {p.source.name}"))
    return library, found


def _script(config: Config, prompts: PromptLibrary) -> tuple[Script | None, list[Finding]]:
    calls = config.calls
    if not calls.uses_script:
        return None, [Finding(OK, "script", f'not used (calls.unknown = "{calls.unknown}", '
                                            f'calls.blocked = "{calls.blocked}")')]
    path = script_path(config.prompts.dir, config.prompts.language)
    try:
        script = load_owner_script(config.prompts.dir, config.prompts.language, prompts.ids())
    except ScriptError as exc:
        return None, [problem(ERROR, "script", str(path), p, f"fix the script {path}") for p in exc.problems]
    found = [Finding(OK, f"script {path}", f"{len(script.steps)} steps, starts at {script.start}")]
    step = calls.counter_offer_step
    if step not in script.steps:
        missing = f"the script {path} has no step named {step!r}"
        fix = f"name one of its steps ({', '.join(sorted(script.steps))}) or add a step {step!r} to the script"
        if calls.blocked == "counter_offer":
            found.append(Finding(ERROR, "counter-offer", missing, "calls.counter_offer_step", fix))
        else:
            found.append(Finding(WARNING, "counter-offer", missing + ' (not used while calls.blocked = "announce")',
                                 "calls.counter_offer_step", fix))
    return script, found


# -- speech model --------------------------------------------------------------------
def _speech_model(config: Config) -> list[Finding]:
    mode, path = config.speech.transcription, Path(config.speech.model).expanduser()
    if mode == "off":
        return [Finding(OK, "transcription", 'off (speech.transcription = "off"): callers are not transcribed')]
    problems = layout_problems(path)
    if not problems:
        return [Finding(OK, f"speech model {path}", "the files Vosk needs are there (checked, not loaded: "
                                                    "`callbot run` loads it and refuses a damaged one)")]
    try:
        inner = [p for p in sorted(path.iterdir()) if p.is_dir() and looks_like_model(p)] if path.is_dir() else []
    except OSError:
        inner = []
    hint = f"did you mean {inner[0]}? " if len(inner) == 1 else ""
    what = f"no usable speech model ({'; '.join(problems)})"
    if mode == "required":
        return [Finding(ERROR, "speech model", what + ' and speech.transcription = "required"', "speech.model",
                        f"{hint}{INSTALL_HINT}, point speech.model at the folder that holds am/ and conf/, "
                        f'or set speech.transcription = "optional"')]
    return [Finding(WARNING, "speech model", what + ": callers are recorded but not transcribed",
                    "speech.model", f"{hint}{INSTALL_HINT}, or point speech.model at the model folder")]


def load_speech_model(config: Config):
    """Load the speech model as `callbot run` does: in the decoder process
    (:class:`callbot.speech.decoder_process.ProcessTranscriber`).

    Returns the running transcriber (the caller closes it) or None, and the findings: with
    ``required`` a model that does not load is an error, with ``optional`` a warning
    (the bot runs without transcripts), with ``off`` nothing is loaded.
    """
    mode, path = config.speech.transcription, Path(config.speech.model).expanduser()
    if mode == "off":
        return None, [Finding(OK, "transcription", 'off (speech.transcription = "off")')]
    from callbot.speech.decoder_process import ProcessTranscriber

    started = time.monotonic()
    try:
        transcriber = ProcessTranscriber(path, decoders=config.speech.decoders or None)
    except ModelError as exc:
        what, _, fix = str(exc).partition(" — ")
        if mode == "required":
            return None, [Finding(ERROR, "speech model", what + ' and speech.transcription = "required"',
                                  "speech.model", (fix + ", " if fix else "") + 'or set speech.transcription = '
                                  '"optional"')]
        return None, [Finding(WARNING, "speech model", what + ": callers are recorded but not transcribed",
                              "speech.model", fix)]
    return transcriber, [Finding(OK, f"speech model {path}", f"loaded in {time.monotonic() - started:.1f} s, "
                                                              f"as `callbot run` loads it")]


def load_recognizer(config: Config):
    """The bot's speech recognizer per ``speech.transcription`` (``Bot.start`` loads it once, here):
    a model that does not load raises :class:`PreflightError` with the line `callbot check` prints
    (``required``), or that warning is logged and the bot runs without transcripts (``optional``)."""
    transcriber, found = load_speech_model(config)
    Preflight(found).raise_errors(config.source)
    for finding in found:
        if finding.severity == WARNING:
            log.warning("%s", finding)
    if transcriber is not None:
        log.info("speech model %s loaded in the decoder process %s (%d decoder thread%s)", transcriber.name,
                 transcriber.pid, transcriber.decoders, "" if transcriber.decoders == 1 else "s")
    return transcriber


# -- SIP ---------------------------------------------------------------------------
def _sip(config: Config) -> list[Finding]:
    s = config.sip
    try:
        _check_bindable(s.local_ip, s.local_port)
    except SipError as exc:
        cause = exc.__cause__
        in_use = getattr(cause, "errno", None) in (errno.EADDRINUSE, errno.EACCES)
        key = "sip.local_port" if in_use else "sip.local_ip"
        return [problem(ERROR, "SIP address", key, str(exc))]
    return [Finding(OK, f"SIP address {s.local_ip}:{s.local_port}", "free to listen on"), _who_may_ring(config),
            _codecs(), _transport(s)]


def _transport(s) -> Finding:
    """sip.transport in words; for TLS a real handshake with the registrar, as the bot would make it."""
    media = {"off": "plain RTP", "optional": "SRTP when the caller offers it, else plain RTP",
             "required": "SRTP only (plain RTP refused with 488)"}[s.media_encryption]
    if s.transport != "tls":
        how = "one connection to the registrar, reopened when it drops" if s.transport == "tcp" else "datagrams"
        return Finding(OK, "transport", f"{s.transport.upper()} ({how}); media: {media}")
    try:
        shown = probe_tls(s)
    except SipError as exc:
        text = str(exc)
        key = next((k for k in ("sip.tls_ca_file", "sip.server", "sip.port") if k in text.partition(" — ")[2]),
                   "sip.server")
        return problem(ERROR, "transport", key, text)
    if not s.tls_verify:
        return Finding(WARNING, "transport", f"TLS to {s.server}:{s.port}: {shown}", "sip.tls_verify",
                       "set tls_verify = true (and sip.tls_ca_file for a private CA)")
    return Finding(OK, "transport", f"TLS to {s.server}:{s.port}: {shown}; media: {media}")


def _codecs() -> Finding:
    """Which codecs calls are answered with (telephony/offer.py): G.722 only where its library loads."""
    problem_text = wideband_problem()
    if problem_text is None:
        return Finding(OK, "codecs", "G.722 (16 kHz wideband), PCMU, PCMA — the caller's first of these")
    return Finding(WARNING, "codecs", f"only PCMU and PCMA (8 kHz): G.722 cannot be used ({problem_text})",
                   fix="pip install 'G722>=1.2.8,<2' into callbot's Python, then restart")


def _who_may_ring(config: Config) -> Finding:
    """Which addresses new calls are accepted from (telephony/gate.py), in words."""
    s = config.sip
    trusted = trusted_sources(s).describe()
    if s.register:
        why = f"only the registrar {s.server}:{s.port} (address and port)"
        why += " and sip.trusted_sources" if s.trusted_sources else ""
    elif s.trusted_sources:
        why = "only sip.trusted_sources (direct mode)"
    else:
        why = "loopback and sip.server on any port (direct mode; set sip.trusted_sources for your PBX)"
    return Finding(OK, "new calls accepted from", f"{trusted} — {why}; everyone else gets 403")
