"""Speech: turn taking, the speech recognizer (the only vosk code), text-to-speech, speech models.

Turn taking (pure, no library):

- ``turns``: where a turn ends — TurnSettings, TurnEvent, VadState, the TurnSegmenter state machine.
- ``vad/``: is one frame speech — the CombinedDetector (webrtcvad + a running noise floor + an absolute
  level; the default) and the plain EnergyDetector; ``make_detector`` picks one by ``turns.detector``.
- ``recorder``: frames in, one ``Turn`` (audio + times) out — TurnRecorder (detector + segmenter + pre-roll).

All of it works at the call's sample rate (``callbot.audio.RATES``): 8 kHz for G.711 calls,
16 kHz for G.722 (wideband) calls — ``TurnRecorder(rate=...)``, ``Transcriber.stream(rate)``.

Recognition:

- ``recognizer``: the only module importing vosk — SpeechModel, the in-process Transcriber and its
  RecognizerStream per turn (a Vosk recognizer at the turn's rate), Vosk's JSON.
- ``transcripts``: what recognition gives back — Word, Transcript, TranscriptFuture (plain values).
- ``decoders``: the bounded pool of decoder threads and which turn goes first (DecoderPool, PooledTurn);
  100 ms decoding pieces at each turn's rate.
- ``decoder_process``: ProcessTranscriber / RemoteRecognizerStream — the recognizer in its own
  lowest-priority process (what the bot uses); a turn's rate goes there with the turn.
- ``admission``: how many callers are transcribed live (measured real-time factor × decoders);
  the rest are recorded now and transcribed after the call.

Speech models and voices:

- ``models``: the known models (OFFICIAL), installed ones, Vosk layout checks, packaged models.
- ``model_install``: download, checksum, unpack, swap a model into place.
- ``tts``: text-to-speech engines (espeak-ng, Piper) for prompts that have only a text.
- ``settings``: SpeechSettings and TtsSettings, filled by ``callbot.config``.

May import: webrtcvad (in ``vad/`` only), the records layer (``callbot.audio``, ``callbot.records``) and the leaves
(``callbot.errors``, ``callbot.times``, ``callbot.outcome``); never the call layer, the domain or
the other adapters (telephony, store).
"""
