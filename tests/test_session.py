from callbot.call.conversation import FRAME_SECONDS, LEAD_FRAMES, announce_and_hang_up, play
from tests.fakes import FakeCall, FakeClock

FRAMES = [bytes([i % 256]) * 320 for i in range(250)]  # 5 s of distinct frames


def test_frames_are_paced_at_20ms_after_a_small_lead():
    clock = FakeClock()
    call = FakeCall(clock)
    playback = play(call, FRAMES, clock)
    times = [t for t, _ in call.written]
    assert [f for _, f in call.written] == FRAMES
    assert times[: LEAD_FRAMES + 1] == [times[0]] * (LEAD_FRAMES + 1)
    gaps = {round(b - a, 6) for a, b in zip(times[LEAD_FRAMES:], times[LEAD_FRAMES + 1 :])}
    assert gaps == {FRAME_SECONDS}
    assert playback.completed and playback.frames_sent == 250


def test_play_never_writes_one_bulk_block():
    clock = FakeClock()
    call = FakeCall(clock)
    play(call, FRAMES, clock)
    assert all(len(frame) == 320 for _, frame in call.written)


def test_caller_audio_is_read_once_per_tick_and_handed_over():
    clock = FakeClock()
    heard = []
    call = FakeCall(clock, caller_audio=[b"\x01" * 320, b"\x02" * 320])
    play(call, FRAMES[:10], clock, on_caller_audio=heard.append)
    assert call.reads == 10
    assert heard[:2] == [b"\x01" * 320, b"\x02" * 320]


def test_hangup_follows_the_last_frame_within_300ms():
    clock = FakeClock()
    call = FakeCall(clock)
    announce_and_hang_up(call, FRAMES, clock)
    last_write = call.written[-1][0]
    # The last frame leaves LEAD_FRAMES ticks after it was queued.
    last_sent = last_write + LEAD_FRAMES * FRAME_SECONDS
    assert call.hung_up_by_bot_at is not None
    assert 0 <= call.hung_up_by_bot_at - last_sent <= 0.3


def test_caller_hanging_up_mid_prompt_stops_playback_and_bot_sends_no_bye():
    clock = FakeClock()
    call = FakeCall(clock, hang_up_at=101.0)  # one second into the prompt
    playback = announce_and_hang_up(call, FRAMES, clock)
    assert not playback.completed
    assert 45 <= playback.frames_sent <= 55
    assert call.hung_up_by_bot_at is None
