"""The owner's call script: what the bot says, listens for and decides, as data.

Modules
-------
``model``       the script as data (Step, BranchEntry, Condition, Script), the
                runner's actions (Say, Listen, Hangup), TraceEntry, CallContext,
                the answers heard (Heard), LABELS / ANSWERS / CALLER_LISTS, MAX_STEPS
``conditions``  parsing a ``when`` (parse_condition) and deciding it (evaluate)
``checks``      validating a parsed script: every problem with its key path (Checker)
``graph``       reachability and loops of the step graph (pure algorithms)
``hints``       "did you mean …" and other wording for the messages
``loading``     where the owner's script lives (script_path), load_owner_script,
                load_script, parse_script
``runner``      ScriptRunner: pure stepping through one call

May import: the domain rules below it (``callbot.text`` for the cold-call label and
yes/no answers) and the leaves (``callbot.errors``, ``callbot.outcome``); nothing
of the call layer, the store, telephony or speech. No I/O but reading the script file.

The script of a language lives in ``prompts/<language>/script.toml`` next to
the prompt texts. It is a set of named *steps*; the call starts at ``start``
and goes from step to step until a step hangs up.

The script file
---------------
::

    start = "greeting"                 # the first step

    [steps.greeting]
    say = "greeting"                   # play prompt "greeting" (text in prompts.toml,
    next = "notice"                    #   or a recording greeting.wav), then go on

    [steps.notice]                     # a branch: the first matching `when` wins;
    branch = [                         #   the last entry must be `else`
      { when = "recording", goto = "say_notice" },
      { else = "ask_identity" },
    ]

    [steps.hear_identity]
    listen = "identity"                # listen to the caller; keep the answer as "identity"
    next = "check_identity"
    lead = false                       # optional, listen only: true = this answer is a
                                       #   lead (the caller's contact details)

    [steps.bye_countered]
    hangup = "cold_call_countered"     # hang up; the call's outcome

Every step has exactly one of ``say``, ``listen``, ``branch`` and ``hangup``.
``say`` and ``listen`` steps need ``next``; ``branch`` and ``hangup`` steps
have none. ``listen`` names are lower-case words (``[a-z_][a-z0-9_]*``).
Branch entries are counted from 0 in messages (``branch[0]`` is the first).

Conditions (``when``)
---------------------
``label is cold_call``
    What the caller said so far (all answers together) sounds like a cold
    call (:func:`callbot.text.classify.classify_call`). Labels: ``cold_call``,
    ``genuine``, ``unclear``.
``answer is no``
    The caller's LAST answer, read as yes/no (:func:`callbot.text.classify.yes_no`):
    ``yes``, ``no`` or ``unknown`` (don't know, not understood, silence).
``silent``
    The caller said nothing during the last ``listen``.
``has contact_details``
    The caller answered that ``listen`` (something was heard: a transcript
    with words, or speech when there is no transcript).
``caller is allowed``
    The caller's number is on a list: ``allowed``, ``blocked``, ``known``.
``recording``
    Calls are recorded (so the caller must be told).

``label``, ``answer`` and ``caller`` accept several values joined by ``or``
(``answer is no or unknown``). Any condition may start with ``not``
(``not silent``). There is no "hung up" condition: when the caller hangs up
the call simply ends.

Checks when the script is loaded
--------------------------------
callbot refuses a script with problems and lists them all, each with where
it is (``steps.offer.next: no step named 'ofer' — did you mean 'offer'?``):
unknown keys, a missing or unknown ``start``, steps with none or several of
say/listen/branch/hangup, ``next``/``goto``/``else`` naming a missing step,
steps that can never be reached, prompts that do not exist, unknown
conditions and values, a branch without a final ``else``, ``lead`` on a step
that does not listen, unknown outcomes, loops in which the bot never
listens, and steps from which no path leads to a hangup.

Running a script
----------------
:class:`~callbot.script.runner.ScriptRunner` is pure: it does no I/O. It hands
out the next :class:`~callbot.script.model.Say`, :class:`~callbot.script.model.Listen`
or :class:`~callbot.script.model.Hangup`; the caller of the runner plays the
prompt / listens and reports back with ``said()`` and ``heard()``. Branch steps
are decided inside the runner and recorded in its ``trace``. As a safety net a
call is hung up with outcome ``no_response`` after
:data:`~callbot.script.model.MAX_STEPS` steps.
"""
