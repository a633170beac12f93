"""callbot: a caller-screening SIP bot for small offices.

The package is layered; imports only point down (tests/test_architecture.py checks it):

1. entry points: ``cli/`` (one module per command group), ``web/`` (the review page),
   ``app.py`` (composes the running bot: endpoint, handler, recognizer, store)
   ``preflight.py`` (every reason ``callbot run`` refuses to start; ``callbot check`` shows the same)
2. ``config/``: reads config.toml and fills each component's own settings type
3. ``call/``: one call from INVITE to its final row (caller, policy, handler, screening)
4. domain: ``script/`` (the owner's script), ``prompts/``, ``privacy.py``, ``contacts.py``,
   then ``text/`` (extraction, classification) and ``lists.py`` (allow/block rules)
5. adapters: ``telephony/`` (the only SIP library code), ``speech/`` (turn taking, the
   recognizer — the only vosk code —, TTS, models), ``store/`` (the only SQLite code)
6. leaves: ``records.py``, ``numbers.py``, ``audio.py``, ``passwords.py``, ``outcome.py``,
   ``times.py``, ``errors.py``
"""
