"""The handlers of the review web page, one module per resource (routes: :mod:`callbot.web.app`).

* ``login``      — the login page, logging in (rate limited) and out
* ``calls``      — the call list (search, filters, pages) and one call with its events, turns and leads
* ``numbers``    — one caller's timeline; block, allow, unblock that number
* ``lists``      — the caller lists: entries in force, adding, confirming, removing
* ``leads``      — the leads found in calls
* ``recordings`` — call recordings, served with HTTP Range support (also used for prompt audio)
* ``prompts``    — the prompt pages: the render report, the script check, editing texts and recordings

May import: the rest of ``callbot.web`` (state, render, csrf, middleware, data, promptfiles),
config, the call layer, domain (script, lists, prompts), adapters (store) and leaves — never
``callbot.app`` (the runtime).
"""
