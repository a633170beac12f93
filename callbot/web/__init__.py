"""The review web page (``callbot web``): calls, recordings, leads, caller lists and prompts.

* ``app``         — :func:`~callbot.web.app.create_app`: the routes and the middleware stack
* ``state``       — :class:`~callbot.web.state.WebState`, what the app keeps between requests
* ``middleware``  — the client address, security headers, the request body limit, the login check
  (and what a login stores, server-side too: :mod:`callbot.store.sessions`)
* ``proxies``     — the client address behind ``[web] trusted_proxies`` (X-Forwarded-For), standard library
* ``params``      — the path and query check (400, never a 500), parameter helpers
* ``csrf``        — the CSRF check of every unsafe request, the session's token, the parsed form
* ``render``      — the Jinja environment and filters, render / flash / redirect, error pages
* ``views/``      — the handlers, one module per resource (login, calls, numbers, lists, leads,
  recordings, prompts)
* ``auth``        — login rate limiting (per client and per account) and CSRF tokens (standard library only)
* ``data``        — what the pages read from and write to the store
* ``promptfiles`` — changing prompt files: a text in prompts.toml, an uploaded recording
* ``uploads``     — the bounds of an uploaded recording, checked from its header before decoding

:mod:`callbot.web.app` needs the web extras (Starlette, Jinja2, uvicorn ...);
:mod:`callbot.web.auth` uses only the standard library, so importing this
package costs nothing.

May import: config, the call layer, domain (script, lists, prompts, privacy), adapters
(store, speech), records and leaves — never ``callbot.app`` (the runtime) or ``callbot.cli``.
"""
