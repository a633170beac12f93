"""Telephony: the SIP/RTP adapter — the only package that imports the SIP library (rfcvoip).

- ``settings.py``      SipSettings, the ``[sip]`` section (filled by callbot.config)
- ``endpoint.py``      SipEndpoint: listens, registers, hands each INVITE to the application, watchdog, timers
- ``call.py``          IncomingCall (answer, reject, frames in/out, hang up, REFER, hold, DTMF) and TransferResult
- ``registration.py``  Registrar: REGISTER with backoff, refresh, keepalive, comeback (pure timing rules)
- ``gatekeeper.py``    every new request judged on the receive thread (trust, rate, max_calls, offer, ports)
- ``gate.py``          trusted sources, per-source rate, refusal tally (pure)
- ``offer.py``         an SDP offer → take (which codecs) or refuse (488 + why) (pure)
- ``transactions.py``  RFC 3261 §17 transactions over UDP: retransmissions, timers, no BYE before the ACK (pure)
- ``validate.py``      malformed requests (RFC 4475 checklist) → 400/416/505 (pure)
- ``holding.py``       the library's call with hold/resume and DTMF
- ``library.py``       rfcvoip as loaded: module-level workarounds
- ``client.py``        rfcvoip's client and phone, patched: every WORKAROUND for an upstream defect
- ``asking.py``        OPTIONS pings (the keepalive) and which responses are the bot's own (a mixin of the client)
- ``routes.py``        Record-Route / route set and ``tel:`` URI rewriting (pure)
- ``message.py``       SIP grammar: header lines and name-addr values as plain values (pure)
- ``stream.py``        SIP over TCP/TLS: the TLS context, the connection's patches, reconnect, CRLF keepalive
- ``srtp.py``          SRTP with SDES keys: a=crypto lines (pure) and the call's libsrtp sessions (pylibsrtp)
- ``codecs.py``        G.711 and G.722 for the demo caller (G722: the library rfcvoip uses)
- ``democaller.py``    a small SIP caller for ``callbot demo`` and tests (plain sockets, G.711/G.722, SRTP)

Why rfcvoip plus our own transaction layer (measured 2026-12-02, loopback, 2 cores, Python 3.11):
the same raw-UDP probes (never ACK, repeat the INVITE, G.722/Opus/SRTP offers) were run against
this package, pjsua2 (PyPI ``pjsua2-python`` 2.15.1.post1) and sippy 2.5.0. Unacknowledged 200 OK:
ours and pjsua2 resend it at +0.5, 1, 2, 4 s, then every 4 s (11 sends) and end the call at 32 s;
sippy doubles without the T2 cap (7 sends). All three absorb a retransmitted INVITE (no second
call). INVITE→200 p50: 1.6–2.0 ms for a bare pjsua2 UAS, 2.0–2.9 ms for bare sippy, 5.7–8.7 ms
for the whole bot (that includes the call row and the script's start); bench/sip_bench.py through
Kamailio: a few ms. pjsua2 is the only one that brings G.722, SDES-SRTP and SIP over TCP/TLS, but
the wheel limits pjsua to 4 calls (maxCalls = 32 is clamped; the 5th call gets 486), ships OpenSSL
1.0.2k (TLS 1.2 only), has no Opus and is a third-party alpha repackaging; ``pjsua2`` 2.12 is an
sdist that does not build, Debian 12 has no pjproject. Any thread pjsua2 does not know aborts the
process (SIGABRT), so callbot's threads and 20 ms frames would need libRegisterThread and
AudioMediaPort callbacks: client/endpoint/call rewritten and pjproject built by us in CI. sippy is
signalling only (no RTP, no TCP/TLS), runs its own reactor with 7 threads and pulls in 25 MB of
dependencies (Flask …): rfcvoip would stay for the media, two SIP stacks. Decision: keep rfcvoip
and keep the transactions here, pure and tested with a fake clock (tests/test_transactions.py) and
under real loss (tests/test_packet_loss.py: 5 % and 15 % on every datagram, ≥ 19/20 calls).
G.722, TCP/TLS and SRTP were then built on this stack rather than switching: rfcvoip's G.722
(PyPI ``G722``, round trip correlation 0.999, 0.04 ms per frame) and its TCP/TLS client (one
connection, Content-Length framing) work once patched (stream.py: reconnect, SO_REUSEADDR, the
stream's source, CRLF keepalive, no retransmissions); SRTP is libsrtp via ``pylibsrtp`` (aiortc's
binding) on the library's packet builder and parser (srtp.py). pjsua2 was measured again for it:
no wheel with TLS 1.3 and more than 4 calls exists (``pjsua2-python`` 2.15.1.post1: OpenSSL
1.0.2k, 4 calls; ``pjsua2-pybind11`` 0.1a3: no TLS). Reads and writes on the TLS socket run on
different threads, so they are serialized by one lock (stream.SerializedTLS: OpenSSL forbids
them at once).

May import: the leaves (callbot.audio, callbot.errors), rfcvoip, G722 and (srtp.py only) pylibsrtp. No rfcvoip type leaves
this package; the call layer sees an IncomingCall through callbot.call.ports.InboundCall.
"""
