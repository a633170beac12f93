"""Telephony: the SIP/RTP adapter — the only package that imports the SIP library (rfcvoip).

- ``settings.py``     SipSettings, the ``[sip]`` section (filled by callbot.config)
- ``endpoint.py``     SipEndpoint: listens, registers, hands each INVITE to the application, watchdog
- ``call.py``         IncomingCall (answer, reject, frames in/out, hang up, REFER) and TransferResult
- ``registration.py`` Registrar: REGISTER with backoff, refresh at half the granted expiry (pure timing rules)
- ``client.py``       rfcvoip's client and phone, patched: every WORKAROUND for an upstream defect
- ``routes.py``       Record-Route / route set and ``tel:`` URI rewriting (pure)
- ``message.py``      SIP grammar: header lines and name-addr values as plain values (pure)
- ``democaller.py``   a small SIP caller for ``callbot demo`` (plain sockets, G.711)

May import: the leaves (callbot.audio, callbot.errors) and rfcvoip. No rfcvoip type leaves
this package; the call layer sees an IncomingCall through callbot.call.ports.InboundCall.
"""
