"""Loading the config file: :func:`load_config`.

Reads the file (:mod:`callbot.config.file`), hands each section to its loader
(:mod:`callbot.config.sections`), collects *all* problems and raises a single
:class:`ConfigError` whose ``problems`` list has one line per problem, each naming
the key path and how to fix it, e.g.::

    sip.port: expected an integer 1-65535, got "abc"
    sip.prot: unknown key — did you mean 'port'?
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from callbot.config.file import read_toml
from callbot.config.model import KNOWN_KEYS, SECRET_KEYS, Config
from callbot.config.reader import Reader
from callbot.config.sections.calls import load_calls, load_handoff, load_phone
from callbot.config.sections.log import load_log
from callbot.config.sections.notify import load_notify
from callbot.config.sections.prompts import load_prompts
from callbot.config.sections.sip import load_sip
from callbot.config.sections.speech import load_speech, load_tts, load_turns
from callbot.config.sections.storage import load_retention, load_storage
from callbot.config.sections.web import load_web
from callbot.errors import ConfigError


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate ``path``; raise :class:`ConfigError` listing every problem."""
    if env is None:
        env = os.environ
    source = Path(os.path.abspath(Path(path).expanduser()))
    data = read_toml(source)
    base = source.parent

    r = Reader(KNOWN_KEYS, SECRET_KEYS)
    sections = r.sections(data)

    sip = load_sip(r, sections["sip"], env, base)
    calls = load_calls(r, sections["calls"])
    phone = load_phone(r, sections["phone"])
    storage = load_storage(r, sections["storage"], base)
    prompts = load_prompts(r, sections["prompts"], base)
    log = load_log(r, sections["log"])
    speech = load_speech(r, sections["speech"], base, prompts.language)
    handoff = load_handoff(r, sections["handoff"])
    turns = load_turns(r, sections["turns"])
    tts = load_tts(r, sections["tts"], base)
    web = load_web(r, sections["web"], env)
    retention = load_retention(r, sections["retention"])
    notify = load_notify(r, sections["notify"], env)

    if r.problems:
        raise ConfigError(r.problems, str(source))
    return Config(
        sip=sip, calls=calls, phone=phone, storage=storage, prompts=prompts, log=log,
        speech=speech, turns=turns, handoff=handoff, tts=tts, web=web, retention=retention,
        notify=notify, source=source,
    )
