"""One loader per section of the config file: it reads the section's keys with
:class:`callbot.config.reader.Reader` and returns the settings type of the component
the section configures.

- ``sip``: ``[sip]`` -> ``callbot.telephony.settings.SipSettings`` (``CALLBOT_SIP_PASSWORD``)
- ``calls``: ``[calls]``, ``[handoff]``, ``[phone]`` -> ``callbot.call.settings``
- ``storage``: ``[storage]``, ``[retention]`` -> ``callbot.store.settings``
- ``prompts``: ``[prompts]`` -> ``callbot.prompts.settings.PromptSettings``
- ``speech``: ``[speech]``, ``[turns]``, ``[tts]`` -> ``callbot.speech.settings``, ``callbot.speech.turns.TurnSettings``
- ``web``: ``[web]`` -> ``WebSettings`` (defined here: ``callbot web`` sits above config)
- ``log``: ``[log]`` -> ``LogSettings`` (defined here, for the entry points)

May import: ``callbot.config.reader``, the settings modules of the components
(``callbot.<package>.settings``, ``callbot.speech.turns``), ``callbot.passwords``,
``callbot.errors``, the standard library and phonenumbers.
"""
