"""How often a run saves, validates and renders previews: "auto" fits the run, and a setting that leaves a run with
no checkpoint before its end is said on Settings and in the plan."""

import pytest
from conftest import events_of, ti_tui_in_process

from ti_tui.intervals import RunIntervals, friendly_interval, run_intervals, shortfalls
from ti_tui.project import create_project
from ti_tui.runs.suggestion import suggestion_for
from ti_tui.train.engine import Trainer
from ti_tui.usecases.journey import step_states
from ti_tui.usecases.training import create_run


@pytest.mark.parametrize(
    ("steps", "times", "interval"),
    [(4, 10, 1), (60, 10, 5), (60, 5, 10), (300, 10, 25), (2000, 10, 200), (2000, 5, 500), (100000, 10, 10000)],
)
def test_auto_spreads_about_so_many_over_the_run_in_a_friendly_number_of_steps(steps, times, interval):
    assert friendly_interval(steps, times) == interval


def test_a_new_project_spreads_its_checkpoints_validations_and_previews_over_a_short_run(tmp_path):
    project = create_project(tmp_path / "fresh", model="builtin:tiny")
    assert (project.settings.training.save_every, project.settings.training.validation_every, project.settings.preview.every) == (
        "auto",
    ) * 3
    assert 'save_every = "auto"' in (project.root / "project.toml").read_text()
    intervals = run_intervals(project.settings, 60)
    assert intervals == RunIntervals(save=5, validation=5, preview=10)
    assert shortfalls(intervals, 0, 60) == []
    assert shortfalls(RunIntervals(save=100, validation=0, preview=0), 0, 1) == [], "a run of one step has nothing to miss"


def test_a_run_too_short_for_its_intervals_marks_settings_and_says_so_in_the_plan(sample):
    from ti_tui.tui.format import describe_forecast
    from ti_tui.usecases.forecast import RunForecast

    sample.update({"training.steps": 60, "training.save_every": 100, "preview.every": 200})
    settings = step_states(sample)["settings"]
    assert settings.progress == "attention"
    assert "no checkpoint before the last step (training.save_every is 100)" in settings.line
    plan = describe_forecast(RunForecast(10, 6.0, None, None), sample, None)
    assert "Checkpoints every 100 steps, validation every 25, previews every 200." in plan
    assert "! A run would have no checkpoint before the last step (training.save_every is 100)" in plan
    assert "! A run would have previews only at the last step (preview.every is 200)" in plan
    sample.update({"training.save_every": "auto", "preview.every": "auto"})
    assert step_states(sample)["settings"].progress == "done"


@pytest.mark.slow  # starts a trainer
def test_ti_tui_train_prints_the_intervals_and_warns_of_a_run_with_no_checkpoint_before_its_end(trainable_project):
    project = trainable_project(**{"training.save_every": 100})
    result = ti_tui_in_process("train", str(project.root), "--steps", "2", "--detach")
    assert result.returncode == 0, result.stderr
    assert "Checkpoints every 100 steps, no validation, no previews." in result.stdout
    assert "Warning: the run has no checkpoint before the last step (training.save_every is 100)" in result.stdout


@pytest.mark.slow
def test_a_run_with_auto_intervals_saves_and_validates_as_the_config_event_says(trainable_project):
    run = create_run(trainable_project(**{"training.save_every": "auto", "training.validation_every": "auto"}), steps=20)
    assert Trainer(run).run() == "completed"
    config = events_of(run, "config")[0]
    assert (config["save_every"], config["validation_every"], config["preview_every"]) == (2, 2, 0)
    assert [checkpoint.step for checkpoint in run.checkpoints()] == list(range(2, 21, 2))
    assert [event["step"] for event in events_of(run, "validation")] == list(range(0, 21, 2))
    # What a real run's log makes of the suggestion: one of its checkpoints, said in words, printed by ti-tui runs.
    suggestion = suggestion_for(run)
    assert suggestion.step in [checkpoint.step for checkpoint in run.checkpoints()]
    assert suggestion.words.startswith(f"Step {suggestion.step:,}")
    assert f"  Suggested: {suggestion.words}" in ti_tui_in_process("runs", str(run.facts().project)).stdout


@pytest.mark.parametrize(
    ("written", "said"), [("0", 'should be at least 1, or "auto"'), ('"often"', 'should be a whole number of steps, or "auto"')]
)
def test_an_interval_that_is_neither_steps_nor_auto_is_said_in_one_sentence(sample, written, said):
    text = (sample.root / "project.toml").read_text()
    (sample.root / "project.toml").write_text(text.replace("save_every = 50", f"save_every = {written}"))
    result = ti_tui_in_process("doctor", str(sample.root))
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "save_every" in line]
    assert len(lines) == 1 and f"training.save_every = {written}: {said}" in lines[0], lines
