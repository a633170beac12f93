"""What the web app keeps between requests (:class:`WebState`) and how a handler gets it.

Its own module because every part of the web page reads it — middleware, rendering and
each view — while :mod:`callbot.web.app`, which builds it, imports all of those.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment
from starlette.requests import Request

from callbot.config.model import Config
from callbot.store.sessions import SessionTable
from callbot.store.store import Store
from callbot.web.auth import LoginLimiter
from callbot.web.proxies import TrustedProxies


@dataclass
class WebState:
    config: Config
    store: Store
    user: str
    password_hash: str
    env: Environment
    limiter: LoginLimiter
    sessions: SessionTable  # the live logins (logging out deletes one)
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
    secret_generated: bool = False
    prompt_lock: threading.Lock = field(default_factory=threading.Lock)
    _reports: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def password_fingerprint(self) -> str:
        return hashlib.sha256(b"callbot-web\0" + self.password_hash.encode()).hexdigest()[:16]


def state_of(request: Request) -> WebState:
    return request.app.state.web
