"""Typed settings loaded from a TOML file.

The configuration layer: it fills the settings type each component defines next to
its code (pipecat's params pattern) and sits above every component, below the entry
points (web, app, cli). Component code never imports it.

- ``load``: :func:`load_config` -- read the file, run every section's loader, raise one
  :class:`~callbot.errors.ConfigError` listing *all* problems, each with its key path
  and a fix (``sip.port: expected an integer 1-65535, got "abc"``).
- ``model``: :class:`Config` (one field per section), :func:`default_config`,
  :meth:`Config.redacted` (secrets masked, for display).
- ``file``: reading the file -- UTF-8, TOML syntax errors with line and column.
- ``reader``: :class:`Reader`, the typed getters that collect problems with their key
  paths; unknown sections and keys with a did-you-mean; writable-folder checks.
- ``sections``: one loader per section (``sections.sip``, ``sections.calls``, ...);
  ``sections.web`` and ``sections.log`` also define ``WebSettings`` and ``LogSettings``,
  which belong to the entry points above this layer.

The settings types: ``callbot.telephony.settings.SipSettings``,
``callbot.call.settings`` (calls, handoff, phone), ``callbot.store.settings``
(storage, retention), ``callbot.prompts.settings``, ``callbot.speech.settings``
(speech, tts), ``callbot.speech.turns.TurnSettings``.

Secrets: the SIP password, the web password hash and the session secret are excluded
from ``repr()``, masked in ``Config.redacted()`` and never echoed in a problem. The
environment variables ``CALLBOT_SIP_PASSWORD``, ``CALLBOT_WEB_PASSWORD_HASH`` and
``CALLBOT_WEB_SECRET`` (when set and non-empty) override the file.

May import: the components' settings modules (``callbot.<package>.settings``,
``callbot.speech.turns``), the leaves (``callbot.errors``, ``callbot.passwords``) and
the standard library, tomllib, phonenumbers. Never web, app or cli.
"""
