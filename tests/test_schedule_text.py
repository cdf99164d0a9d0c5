"""Reading learning-rate schedule text: the web UI's piecewise syntax, with errors naming the bad item."""

import re

import pytest
from conftest import REPOSITORY

from ti_tui.schedule import LearningRateSchedule, RatePiece, ScheduleError, parse_piecewise, parse_single_rate
from ti_tui.settings import ScheduleSettings


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
        ("inf", "positive number"),
        ("0", "item 1 '0': the rate must be a positive number, not 0"),
        ("0.005:0", "item 1 '0.005:0': the step must be at least 1"),
        ("0.005:100, 0.001:100", "item 2 '0.001:100': step 100 does not come after step 100"),
        ("0.005:", "item 1 '0.005:': the step '' is not a whole number"),
        (":100", "item 1 ':100': the rate '' is not a number"),
        ("0.005:100:200", "item 1 '0.005:100:200': the step '100:200' is not a whole number"),
        ("0.005;100", "item 1 '0.005;100': the rate '0.005;100' is not a number"),
        ("0.005:1e3", "item 1 '0.005:1e3': the step '1e3' is not a whole number"),
        ("0.005 0.001", "item 1 '0.005 0.001': the rate '0.005 0.001' is not a number"),
        ("0.005:100, abc:200", "item 2 'abc:200': the rate 'abc' is not a number"),
        (",", "the learning rate is empty"),
    ],
)
def test_malformed_schedules_name_the_bad_item(text, message):
    with pytest.raises(ScheduleError, match=re.escape(message)):
        parse_piecewise(text)


def test_presets_take_one_rate():
    assert parse_single_rate(" 0.004 ") == 0.004
    with pytest.raises(ScheduleError, match="not a number"):
        parse_single_rate("0.005:100")


def documented_schedules():
    readme = (REPOSITORY / "README.md").read_text()
    table = readme.split("### Learning-rate schedules", 1)[1].split("\n\n")[2]
    for row in table.splitlines()[2:]:
        text, preset, documented = (cell.strip().strip("`") for cell in row.strip("|").split("|"))
        yield text, preset, documented


@pytest.mark.parametrize(("text", "preset", "documented"), list(documented_schedules()))
def test_every_schedule_in_the_readme_does_what_it_says(text, preset, documented):
    schedule = LearningRateSchedule.from_settings(
        ScheduleSettings(preset=preset, learning_rate=text, warmup_steps=100, min_learning_rate=0.0), 2000
    )
    assert "; ".join(schedule.describe()) == documented


def test_the_rate_at_each_step():
    piecewise = LearningRateSchedule.from_settings(ScheduleSettings(learning_rate="0.005:200, 0.002:1000, 0.0005"), 2000)
    assert [piecewise.rate_at(step) for step in (1, 200, 201, 1000, 1001, 2000)] == [0.005, 0.005, 0.002, 0.002, 0.0005, 0.0005]
    carried_on = LearningRateSchedule.from_settings(ScheduleSettings(learning_rate="0.01:500, 0.005:1000"), 2000)
    assert carried_on.rate_at(1500) == 0.005
    warmup = LearningRateSchedule.from_settings(ScheduleSettings(preset="warmup_cosine", learning_rate="0.01", warmup_steps=10), 110)
    assert [round(warmup.rate_at(step), 6) for step in (1, 5, 10, 11, 110)] == [0.001, 0.005, 0.01, 0.01, 0.0]
    assert warmup.rate_at(60) == pytest.approx(0.005, rel=0.02)


def test_a_warmup_longer_than_the_run_is_described_as_it_is():
    schedule = LearningRateSchedule.from_settings(ScheduleSettings(preset="warmup_cosine", learning_rate="0.005", warmup_steps=100), 20)
    assert schedule.describe() == [
        "rises from 0 toward 0.005 over all 20 steps, ending at 0.001: the warmup (100 steps) is longer than the run"
    ]
    assert schedule.rate_at(20) == pytest.approx(0.001)


@pytest.mark.parametrize(("text", "preset"), [(text, preset) for text, preset, _ in documented_schedules()])
def test_the_described_ranges_hold_the_described_rates(text, preset):
    schedule = LearningRateSchedule.from_settings(ScheduleSettings(preset=preset, learning_rate=text, warmup_steps=100), 2000)
    for line in schedule.describe():
        found = re.fullmatch(r"([\d.e-]+) for steps (\d+)-(\d+).*", line)
        if found:
            rate, first, last = float(found.group(1)), int(found.group(2)), int(found.group(3))
            assert schedule.rate_at(first) == schedule.rate_at(last) == pytest.approx(rate), line


def test_a_step_written_in_other_digits_is_named():
    with pytest.raises(ScheduleError, match="item 1 '0.005:²': the step '²' is not a whole number"):
        parse_piecewise("0.005:²")


def test_a_run_that_goes_on_from_a_checkpoint_describes_its_schedule_in_its_own_step_numbers():
    def described(**settings) -> list[str]:
        return LearningRateSchedule.from_settings(ScheduleSettings(**settings), 20).describe(first_step=119)

    assert described(preset="piecewise", learning_rate="0.005:10, 0.001") == ["0.005 for steps 120-129", "0.001 for steps 130-139"]
    assert described(preset="constant", learning_rate="0.001") == ["0.001 for all 20 steps (120-139)"]
    assert described(preset="warmup_cosine", learning_rate="0.005", warmup_steps=5) == [
        "rises from 0 to 0.005 over steps 120-124",
        "falls along a cosine to 0 at step 139",
    ]
