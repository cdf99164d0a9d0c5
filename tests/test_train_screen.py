"""The Train step with real runs on builtin:tiny: started, watched, continued from a checkpoint, re-attached
by a second wizard, lost under a kill -9 and resumed. The tests wait for what the screen draws (its
`changed` signal), never for a fixed time."""

import json
import os
import signal

import pytest
from textual.widgets import DataTable, Input, Static
from wizard_support import fake_services, record_notices, until, until_notice, until_screen, until_seen, write_checkpoints

from ti_tui.runs import RunDirectory
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.settings import SettingsScreen
from ti_tui.tui.screens.train import TrainScreen
from ti_tui.tui.widgets.curve_plot import CurvePlot
from ti_tui.tui.widgets.picture import Picture
from ti_tui.usecases.training import create_run, list_runs

pytestmark = pytest.mark.slow
SIZE = (100, 32)
SHORT_RUN = {
    "training.steps": 6,
    "training.save_every": 3,
    "training.validation_every": 3,
    "preview.every": 3,
    "preview.seeds": [1],
    "preview.prompts": ["a photo of [name]"],
    "preview.sampling_steps": 2,
}


async def test_a_run_started_on_the_train_step_is_watched_to_its_end_then_continued_with_a_new_rate(
    tmp_path, half_blocks, trainable_project
):
    project = trainable_project(**SHORT_RUN)
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        screen, view = await start_a_run(app, pilot, "finished", "the first run finished")
        first = view.run
        assert view.step == 6
        assert [row.step for row in view.checkpoints] == [6, 3]
        assert all(row.validation_loss is not None for row in view.checkpoints)
        screen.query_one("TabbedContent").active = "loss"
        await pilot.pause()
        loss_plot = screen.query_one("#loss-plot", CurvePlot)
        assert [curve.label for curve in loss_plot.curves] == ["loss", "smoothed", "validation"]
        assert len(loss_plot.curves[0].steps) == 6
        assert "finished at step 6 of 6" in screen.query_one("#run-state", Static).render().plain

        screen.query_one("TabbedContent").active = "previews"
        await pilot.pause()
        assert screen.query_one("#preview-trigger", Picture).path.name == "step-6-p1-s1.png"
        assert screen.query_one("#preview-init", Picture).path.name == "step-6-p1-s1-init.png"
        await pilot.press("comma")
        assert screen.query_one("#preview-trigger", Picture).path.name == "step-3-p1-s1.png"

        screen.query_one("TabbedContent").active = "checkpoints"
        await pilot.pause()
        screen.query_one("#checkpoint-table", DataTable).move_cursor(row=1)  # step 3
        await pilot.press("c")
        settings = await until_screen(app, pilot, SettingsScreen, "Settings, to set the new schedule")
        rate = settings.query_one("#schedule-learning_rate").query_one(Input)
        assert rate.has_focus
        rate.value = "0.002"
        await pilot.press("escape", "5")
        screen = await until_screen(app, pilot, TrainScreen, "back on Train")
        plan = await _plan_text(screen, pilot, "starts from the checkpoint")
        assert "starts from the checkpoint zorbot-3.safetensors" in plan and "numbers its steps on from it, steps 4-9" in plan
        await pilot.press("t")
        view = await until_seen(screen, lambda view: view.run != first and view.status.state == "finished", "the second run finished")
        assert view.step_range == (3, 9), "its plots span the steps it has, numbered on from step 3"
        assert [(row.step, row.run) for row in view.checkpoints] == [(9, ""), (6, ""), (3, first.id)], "and the one it went on from"

    second = view.run
    facts = second.facts()
    assert facts.settings.schedule.learning_rate == "0.002"
    assert facts.parent.run == first.id and facts.parent.step == 3
    assert [checkpoint.step for checkpoint in second.checkpoints()] == [6, 9]  # steps 4-9, numbered on from step 3
    steps = [event["step"] for event in second.events() if event["type"] == "step"]
    assert steps == [4, 5, 6, 7, 8, 9]
    assert all(event["lr"] == pytest.approx(0.002) for event in second.events() if event["type"] == "step")
    assert [run.id for run in list_runs(project)] == [first.id, second.id]


async def start_a_run(app, pilot, until_state: str = "finished", what: str = "the run finished"):
    """From the project's first screen: to Train, t, and until the run is in `until_state`; the screen and its view."""
    await pilot.press("5")
    screen = await until_screen(app, pilot, TrainScreen, "the Train step")
    await pilot.press("t")
    return screen, await until_seen(screen, lambda view: view.status.state == until_state, what)


async def _plan_text(screen, pilot, words: str) -> str:
    def plan() -> str:
        return screen.query_one("#plan-text", Static).render().plain

    await until(pilot, lambda: words in plan(), f"the plan saying {words!r} (it says: {plan()!r})")
    return plan()


async def test_a_second_wizard_shows_a_run_started_by_the_first_live_and_refuses_a_second_trainer(tmp_path, half_blocks, trainable_project):
    # Long enough to be at work still when the second wizard's t is weighed, however busy the machine.
    project = trainable_project(**{"training.steps": 100000, "training.validation_every": 0, "training.save_every": 50, "preview.every": 0})
    first_app = create_app(project, fake_services(tmp_path / "data"))
    async with first_app.run_test(size=SIZE) as pilot:
        _, view = await start_a_run(first_app, pilot, "running", "the run at work")
        run = view.run
    # The first wizard has quit; the trainer goes on, and a new wizard opens on it.
    second_app = create_app(project, fake_services(tmp_path / "data"))
    said = record_notices(second_app)
    async with second_app.run_test(size=SIZE) as pilot:
        screen = await until_screen(second_app, pilot, TrainScreen, "the project opened on Train")
        view = await until_seen(screen, lambda view: view.status.state == "running" and view.step > 0, "the run live")
        assert view.run == run
        await pilot.press("t")
        assert f"run {run.id} is running" in await until_notice(pilot, said, "two runs at once")
        await pilot.press("x")
        view = await until_seen(screen, lambda view: view.status.state == "stopped", "the run stopped")
        assert view.step > 0 and view.run == run
    assert len(list_runs(project)) == 1


async def test_a_trainer_killed_under_the_dashboard_shows_as_lost_and_resume_finishes_it(tmp_path, half_blocks, trainable_project):
    project = trainable_project(**{"training.steps": 120, "training.validation_every": 0, "training.save_every": 5})
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        screen, _ = await start_a_run(app, pilot, "running", "the run at work")
        view = await until_seen(screen, lambda view: bool(view.checkpoints) and view.status.state == "running", "a checkpoint")
        run: RunDirectory = view.run
        os.kill(run.facts().launches[-1].pid, signal.SIGKILL)
        view = await until_seen(screen, lambda view: view.status.state == "lost", "the run lost")
        assert "lost at step" in screen.query_one("#run-state", Static).render().plain
        await pilot.press("u")
        view = await until_seen(screen, lambda view: view.status.state == "finished", "the resumed run finished")
        assert view.step == 120
    events = run.events()
    assert [event["type"] for event in events].count("resumed_from") == 1
    assert json.loads(run.run_file.read_text())["steps"] == 120


async def test_a_checkpoint_deleted_under_the_train_step_is_refused_as_gone_not_swapped_for_the_init_text(
    tmp_path, half_blocks, trainable_project
):
    """Reproduces a checkpoint deleted while the Train step showed it: c said "the next run starts from step
    4", and t then started a run from the init text, saying nothing. No trainer starts here."""
    project = trainable_project()
    run = create_run(project, steps=4)
    write_checkpoints(run, steps=(2, 4))
    checkpoints = {step: run.checkpoint_paths("zorbot", step).embedding for step in (2, 4)}
    events = [{"type": "checkpoint", "step": step, "path": str(path)} for step, path in checkpoints.items()]
    events.append({"type": "finished", "reason": "completed", "message": "trained 4 steps", "step": 4})
    run.events_file.write_text(
        "".join(json.dumps({"v": 1, "seq": number, "t": 0, **event}) + "\n" for number, event in enumerate(events, 1))
    )

    app = create_app(project, fake_services(tmp_path / "data"))
    notices = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        screen = await until_screen(app, pilot, TrainScreen, "the Train step")
        await until_seen(screen, lambda view: len(view.checkpoints) == 2, "the run's two checkpoints")
        screen.query_one("TabbedContent").active = "checkpoints"
        await pilot.pause()
        screen.query_one("#checkpoint-table", DataTable).move_cursor(row=0)  # step 4
        checkpoints[4].unlink()
        await pilot.press("c")
        said = await until_notice(pilot, notices, "is gone")
        assert said.startswith(f"the checkpoint {checkpoints[4]} to start from is gone")
        assert app.screen is screen, "no schedule to set for a run that cannot start"

        screen.query_one("#checkpoint-table", DataTable).move_cursor(row=1)  # step 2, there when chosen
        await pilot.press("c")
        await until_screen(app, pilot, SettingsScreen, "Settings, to set the new schedule")
        await pilot.press("escape", "5")
        screen = await until_screen(app, pilot, TrainScreen, "back on Train")
        checkpoints[2].unlink()
        await pilot.press("t")
        said = await until_notice(pilot, notices, f"the checkpoint {checkpoints[2]} to start from is gone")
        assert "choose another checkpoint, or start from the init text" in said
    assert list_runs(project) == [run]
