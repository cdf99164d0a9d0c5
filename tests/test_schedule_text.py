"""Reading learning-rate schedule text: the web UI's piecewise syntax, with errors naming the bad item."""

import re

import pytest

from ti_tui.train.schedule import RatePiece, ScheduleError, parse_piecewise, parse_single_rate


def test_piecewise_schedule_reads_as_written():
    assert parse_piecewise("0.005:100, 1e-3:1000, 1e-5") == (
        RatePiece(0.005, 100),
        RatePiece(0.001, 1000),
        RatePiece(1e-5, None),
    )
    assert parse_piecewise("0.005") == (RatePiece(0.005, None),)
    assert parse_piecewise("0.005:200,") == (RatePiece(0.005, 200),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("abc", "item 1 'abc': the rate 'abc' is not a number"),
        ("0.005, 0.001:500", "item 1 '0.005' has no step"),
        ("0.005:100, 0.001:50", "item 2 '0.001:50': step 50 does not come after step 100"),
        ("0.005:1.5", "item 1 '0.005:1.5': the step '1.5' is not a whole number"),
        ("-0.1:100", "item 1 '-0.1:100': the rate must be a positive number"),
        ("0.005:100,, 0.001", "item 2 is empty"),
        ("5:100", "at most 1"),
        ("nan", "positive number"),
    ],
)
def test_malformed_schedules_name_the_bad_item(text, message):
    with pytest.raises(ScheduleError, match=re.escape(message)):
        parse_piecewise(text)


def test_presets_take_one_rate():
    assert parse_single_rate(" 0.004 ") == 0.004
    with pytest.raises(ScheduleError, match="not a number"):
        parse_single_rate("0.005:100")
