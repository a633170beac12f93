"""The command line (`callbot …`): thin click wrappers over the library; the only
place a CallbotError becomes a message and an exit code.

- main: the `callbot` click group; registers the commands of the modules below
- common: consoles, exit codes and ``handles_errors``, the ``--config`` option, logging,
  --since/--until parsing, stored times shown, opening the call log
- run: `run`, `check` — with demo, the modules here that may import the runtime (callbot.app)
- status: `status` (is the bot running and registered; from its status.json)
- inbox: `inbox`, `inbox done|take|assign|note …` (the office's shared inbox)
- users: `users add|list|remove|passwd` (a login per colleague: owner / staff)
- demo: `demo` (the bot and three demo callers on loopback); demo_voice: the demo callers' known words
- service: `install-service` (systemd units for `callbot run` and `callbot web`)
- calls: `calls`, `calls show`, `leads` (the call log, read-only)
- lists: `allow`, `block`, `unblock`, `lists`, `suggest`, `import` (caller lists)
- privacy: `prune`, `forget`, `export` (data protection)
- web: `web` (serve the review page), `web hash-password`
- models: `models install`, `models list` (speech models)
- prompts: `prompts list`, `prompts render`, `prompts export` (what callers hear)

May import: every layer below it (web, config, call, script, privacy, prompts, lists, text,
store, speech, telephony and the leaves); callbot.app only from callbot.cli.run and callbot.cli.demo.
"""
