"""The Train step's panels as a user moves between them at 80x24: each keeps what it shows and its
selection, the keys act on what the panel in sight shows, and the Footer offers only the keys that act.

The runs are recordings (tests/run_recording.py): no trainer starts here. A run "at work" is one whose
trainer lock this test holds, as the snapshot of the Train step during a run does.
"""

import pytest
from run_recording import recorded_run
from textual.widgets import DataTable, Static, TabbedContent
from wizard_support import footer_cut, record_notices, settle, settle_layout, shown, until, until_notice, until_screen, until_seen

from ti_tui.runs.directory import TrainerLock
from ti_tui.runs.events import EventWriter
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.settings import SettingsScreen
from ti_tui.tui.widgets.curve_plot import CurvePlot
from ti_tui.tui.widgets.rate_plot import RatePlot

SIZE = (80, 24)
OLDEST, OLDER, NEWER = "20251231-000000-zorbot", "20260101-000000-zorbot", "20260102-000000-zorbot"
RUN_KEYS = ["Pause", "Stop"]  # s Save and v Preview too, listed by ? only: the footer keeps to 80 columns
PANEL_KEYS = ["Continue from here", "Overlay", "Earlier previews"]
PANELS = ["plan", "loss", "rate", "vectors", "previews", "checkpoints", "log", "runs"]


@pytest.fixture(autouse=True)
def recorded_clock(monkeypatch):
    """The recordings' clock is months behind ours: a run at work would otherwise seem silent that long, stalled."""
    monkeypatch.setattr("ti_tui.runs.status.STALLED_AFTER_SECONDS", float("inf"))
    monkeypatch.setattr("ti_tui.runs.status.QUIET_AFTER_SECONDS", float("inf"))


def offered(app) -> list[str]:
    """What the Footer offers now, in its words."""
    return [key.description for key in app.screen.query("FooterKey")]


def panel_in_sight(screen) -> str:
    return screen.query_one(TabbedContent).active


async def open_train(app, pilot, condition, what: str):
    app.open_step("train")
    await until(pilot, lambda: app.screen.STEP == "train" and app.screen.is_mounted, "the Train step")
    await until_seen(app.screen, condition, what)
    return app.screen


async def open_finished_run(app, pilot, what: str):
    """The Train step once it shows the newest run, finished, and has come to rest."""
    screen = await open_train(app, pilot, lambda view: view.status.state == "finished", what)
    await settle(app, pilot)
    return screen


async def go_to(pilot, screen, panel: str) -> None:
    """With `>` and `<`, as a user goes from panel to panel."""
    order = [pane.id for pane in screen.query_one(TabbedContent).query("TabPane")]
    steps = order.index(panel) - order.index(panel_in_sight(screen))
    await pilot.press(*([">"] * steps if steps > 0 else ["<"] * -steps))
    await until(pilot, lambda: panel_in_sight(screen) == panel, f"the {panel} panel in sight")
    await pilot.pause()


async def test_a_checkpoint_chosen_stays_chosen_over_a_visit_to_another_panel_and_c_starts_from_it(sample, services):
    recorded_run(sample, NEWER, 300, 300)
    app = create_app(sample, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the recorded run")
        await go_to(pilot, screen, "checkpoints")
        table = screen.query_one("#checkpoint-table", DataTable)
        assert app.focused is table
        await pilot.press("down")  # from step 300 to step 250
        await go_to(pilot, screen, "loss")
        await go_to(pilot, screen, "checkpoints")
        assert table.cursor_row == 1, "the chosen checkpoint is forgotten"
        await pilot.press("c")
        assert "The next run starts from step 250" in await until_notice(pilot, said, "The next run starts from")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "Settings, for the new schedule")


async def test_a_new_checkpoint_from_the_run_at_work_leaves_the_cursor_on_the_checkpoint_chosen(sample, services):
    """A new checkpoint comes in at the top of the table: the cursor stayed at its row number, on another checkpoint."""
    run = recorded_run(sample, NEWER, 300, 250, finished=False)
    lock = TrainerLock(run)
    app = create_app(sample, services)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_train(app, pilot, lambda view: view.status.state == "running", "the run at work")
            await go_to(pilot, screen, "checkpoints")
            table = screen.query_one("#checkpoint-table", DataTable)
            await pilot.press("down")  # from step 250 to step 200
            checkpoint = run.checkpoint_paths(sample.settings.token.trigger, 260).embedding
            checkpoint.write_bytes(b"")
            EventWriter(run.events_file).write("checkpoint", step=260, path=str(checkpoint))
            await until_seen(screen, lambda view: len(view.checkpoints) == 6, "the new checkpoint")
            await pilot.pause()
            assert table.get_row_at(0)[0] == "260"
            assert table.get_row_at(table.cursor_row)[0] == "200"
    finally:
        lock.release()


async def test_the_footer_offers_the_keys_for_a_run_only_while_it_is_at_work(sample, services):
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        app.open_step("train")
        await settle(app, pilot)
        assert "Train" in offered(app)
        assert not set(offered(app)) & {*RUN_KEYS, "Resume", *PANEL_KEYS}, "keys offered with no run to act on"

    run = recorded_run(sample, NEWER, 300, 120, finished=False)
    lock = TrainerLock(run)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        try:
            await open_train(app, pilot, lambda view: view.status.state == "running", "the run at work")
            await until(pilot, lambda: set(RUN_KEYS) <= set(offered(app)), f"{RUN_KEYS} offered (it offers {offered(app)})")
            assert not {"Resume", "Train"} & set(offered(app)), "a key offered that cannot act on a run at work"
            EventWriter(run.events_file).write("finished", reason="completed", message="trained 120 steps", step=120)
        finally:
            lock.release()  # the trainer ends
        await until_seen(app.screen, lambda view: view.status.state == "finished", "the run finished")
        await until(pilot, lambda: not set(RUN_KEYS) & set(offered(app)), f"{RUN_KEYS} no longer offered (it offers {offered(app)})")


@pytest.mark.slow  # a sweep of the panels, twice
async def test_the_footer_is_whole_at_80_columns_on_every_panel_during_a_run_and_after_it(sample, services):
    recorded_run(sample, OLDER, 300, 200)
    run = recorded_run(sample, NEWER, 300, 250, finished=False)
    lock = TrainerLock(run)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        try:
            screen = await open_train(app, pilot, lambda view: view.status.state == "running", "the run at work")
            for panel in PANELS:
                await go_to(pilot, screen, panel)
                await settle_layout(app, pilot)
                assert footer_cut(app) == [], f"{panel}, during the run: cut {footer_cut(app)} of {offered(app)}"
            EventWriter(run.events_file).write("finished", reason="completed", message="trained 250 steps", step=250)
        finally:
            lock.release()
        await until_seen(screen, lambda view: view.status.state == "finished", "the run finished")
        for panel in PANELS:
            await go_to(pilot, screen, panel)
            await settle(app, pilot)
            assert footer_cut(app) == [], f"{panel}, after the run: cut {footer_cut(app)} of {offered(app)}"


async def test_the_keys_for_what_a_panel_shows_are_offered_on_that_panel_only(sample, services):
    recorded_run(sample, OLDER, 300, 200)
    recorded_run(sample, NEWER, 300, 300)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the newer run")
        for panel, wanted in (
            ("plan", []),
            ("loss", ["Overlay"]),
            ("previews", ["Earlier previews"]),
            ("checkpoints", ["Continue from here"]),
            ("log", []),
            ("runs", ["Overlay"]),
        ):
            await go_to(pilot, screen, panel)
            await settle(app, pilot)
            assert [key for key in offered(app) if key in PANEL_KEYS] == wanted, f"{panel}: {offered(app)}"
            assert not set(offered(app)) & {*RUN_KEYS, "Resume"}, f"{panel}: keys for a run at work offered after it finished"


async def test_o_lays_the_run_chosen_on_runs_over_the_loss_and_takes_it_off_again(sample, services):
    oldest = recorded_run(sample, OLDEST, 300, 100)
    recorded_run(sample, OLDER, 300, 200)
    recorded_run(sample, NEWER, 300, 300)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the newest run")
        plot = screen.query_one("#loss-plot", CurvePlot)
        await go_to(pilot, screen, "runs")
        table = screen.query_one("#run-table", DataTable)
        assert app.focused is table
        await pilot.press("down", "down")  # past the run shown and the next, to the oldest
        assert table.get_row_at(table.cursor_row)[1] == oldest.id
        await pilot.press("o")
        await settle(app, pilot)
        assert panel_in_sight(screen) == "loss"
        assert [curve.label for curve in plot.curves] == ["loss", "smoothed", "validation", f"run {oldest.id}"]
        await pilot.press("o")
        await settle(app, pilot)
        assert [curve.label for curve in plot.curves] == ["loss", "smoothed", "validation"], "the overlay is still there"


async def test_the_previews_keep_their_step_over_a_visit_to_another_panel_and_start_at_the_newest_for_another_run(sample, services):
    recorded_run(sample, OLDER, 300, 200)
    newer = recorded_run(sample, NEWER, 300, 300)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(app, pilot, lambda view: view.run == newer and view.status.state == "finished", "the newer run")
        await settle(app, pilot)

        def caption() -> str:
            return screen.query_one("#preview-caption", Static).render().plain

        await go_to(pilot, screen, "previews")
        assert caption().startswith("Step 300 (newest")
        await pilot.press("comma")
        assert caption().startswith("Step 250 ")
        await go_to(pilot, screen, "vectors")
        await go_to(pilot, screen, "previews")
        assert caption().startswith("Step 250 "), "the step with previews chosen is forgotten"

        await go_to(pilot, screen, "runs")
        await pilot.press("down", "enter")  # the older run, which reached step 200
        await until_seen(screen, lambda view: view.run != newer, "the older run shown")
        assert panel_in_sight(screen) == "loss"
        await go_to(pilot, screen, "previews")
        assert caption().startswith("Step 200 (newest"), "the older run's previews start where the newer run's were left"


async def test_home_and_end_on_the_checkpoints_choose_the_newest_and_the_first_checkpoint(sample, services):
    """DataTable's own Home and End scroll sideways and leave the cursor, which c acts on, where it was."""
    recorded_run(sample, NEWER, 300, 300)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the recorded run")
        await go_to(pilot, screen, "checkpoints")
        table = screen.query_one("#checkpoint-table", DataTable)
        await pilot.press("end")
        assert table.get_row_at(table.cursor_row)[0] == "50", "End left the cursor where it was"
        await pilot.press("home")
        assert table.get_row_at(table.cursor_row)[0] == "300"


async def test_the_checkpoints_panel_says_which_checkpoint_is_suggested_and_why(sample, services):
    recorded_run(sample, NEWER, 300, 300)  # validation falling to the end, vectors 2x a typical token there
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the recorded run")
        await go_to(pilot, screen, "checkpoints")
        said = screen.query_one("#checkpoint-suggestion", Static).render().plain
        assert said.startswith("Suggested: Step 300: the validation loss was still falling at the end"), said
        table = screen.query_one("#checkpoint-table", DataTable)
        verdicts = {table.get_row_at(row)[0]: table.get_row_at(row)[3] for row in range(table.row_count)}
        assert verdicts["300"] == "suggested" and verdicts["250"] == ""


async def test_the_plan_does_not_offer_t_while_a_run_is_at_work_and_does_once_it_has_ended(sample, services):
    run = recorded_run(sample, NEWER, 300, 120, finished=False)
    lock = TrainerLock(run)
    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        try:
            screen = await open_train(app, pilot, lambda view: view.status.state == "running", "the run at work")
            await until(pilot, lambda: "A run is at work" in shown_plan(screen), "the plan said to be the next run's")
            assert "Press t to start training." not in shown_plan(screen)
            note = "Note: The images are not prepared: the run trains on the 10 originals"
            await until(pilot, lambda: note in shown_plan(screen), "the plan worked out, with what the run trains on")
            EventWriter(run.events_file).write("finished", reason="completed", message="trained 120 steps", step=120)
        finally:
            lock.release()
        await until_seen(screen, lambda view: view.status.state == "finished", "the run finished")
        await until(pilot, lambda: "Press t to start training." in shown_plan(screen), "t offered again")


def shown_plan(screen) -> str:
    return screen.query_one("#plan-text", Static).render().plain


async def test_a_run_continued_from_a_checkpoint_is_planned_in_the_step_numbers_it_will_have(sample, services):
    from wizard_support import write_checkpoints

    write_checkpoints(recorded_run(sample, NEWER, 300, 300), steps=(250, 300))
    app = create_app(sample, services)
    said = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the recorded run")
        await go_to(pilot, screen, "checkpoints")
        await pilot.press("down", "c")  # step 250
        await until_notice(pilot, said, "The next run starts from step 250")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "Settings, for the new schedule")
        await settle(app, pilot)
        plot = app.screen.query_one(RatePlot)
        assert (plot.points[0][0], plot.points[-1][0]) == (251, 550), "the curve is drawn over the steps the run will have"
        assert "0.005 for steps 251-350; 0.002 for steps 351-550" in shown(app.screen, "#schedule-learning_rate .setting-note")
        screen = await open_train(app, pilot, lambda view: True, "the Train step again")
        await until(pilot, lambda: "Learning rate:" in shown_plan(screen), "the plan")
        plan = shown_plan(screen)
        assert "numbers its steps on from it, steps 251-550" in plan
        assert "Learning rate: 0.005 for steps 251-350; 0.002 for steps 351-550." in plan


@pytest.mark.slow  # renders a grid of three cells
async def test_a_continued_run_is_read_in_one_numbering_with_the_run_it_goes_on_from(sample, services, monkeypatch):
    import json

    from wizard_support import write_checkpoints

    from ti_tui.runs import RunDirectory, RunFacts
    from ti_tui.runs.directory import ParentCheckpoint
    from ti_tui.tui.screens.compare import CompareScreen

    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    sample.update({"xy.x": "step=all", "xy.y": "", "xy.sampling_steps": 2})
    parent = recorded_run(sample, OLDER, 300, 300, every=150)
    write_checkpoints(parent, steps=(150, 300))
    child = RunDirectory(sample.runs_dir / NEWER)
    child.path.mkdir()
    trigger = sample.settings.token.trigger
    went_on_from = ParentCheckpoint(OLDER, 150, parent.checkpoint_paths(trigger, 150).embedding)
    child.write_facts(RunFacts(sample.root, sample.settings, steps=100, vectors=2, images=[], parent=went_on_from, first_step=150))
    events = [{"type": "started", "pid": 4242}, {"type": "config", "steps": 250, "start_step": 150, "typical_norm": 0.385}]
    for step in range(151, 251):
        events.append({"type": "step", "step": step, "total": 250, "loss": 0.1, "loss_smoothed": 0.1, "lr": 0.002, "norms": [0.4, 0.4]})
        if step % 50 == 0:
            events.append({"type": "validation", "step": step, "loss": 0.15})
            events.append({"type": "checkpoint", "step": step, "path": str(child.checkpoint_paths(trigger, step).embedding)})
    events.append({"type": "finished", "reason": "completed", "message": "trained 100 steps", "step": 250})
    child.events_file.write_text("".join(json.dumps({"v": 1, "seq": n, "t": 1.0e9 + n, **e}) + "\n" for n, e in enumerate(events, 1)))
    write_checkpoints(child, steps=(200, 250))

    app = create_app(sample, services)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_finished_run(app, pilot, "the continued run")
        assert screen.view.step_range == (150, 250), "its plots span its own steps, numbered on from step 150"
        await go_to(pilot, screen, "checkpoints")
        table = screen.query_one("#checkpoint-table", DataTable)
        rows = [table.get_row_at(row) for row in range(table.row_count)]
        assert [row[0] for row in rows] == ["250", "200", "150"], "its checkpoints, then the one it went on from"
        assert rows[2][4].endswith(f"(run {OLDER})") and rows[0][4] == f"{trigger}-250.safetensors"

        app.open_step("compare")
        compare = await until_screen(app, pilot, CompareScreen, "the Compare step")
        await settle(app, pilot)
        await pilot.press("n")
        await until_seen(compare, lambda view: view.status.state == "finished", "the grid over step=all")
        columns = [str(column.label) for column in compare.query_one("#cells", DataTable).columns.values()]
        assert columns == ["150", "200", "250"], "step=all covers the run it goes on from, by step"


async def test_the_steps_bar_follows_a_runs_end_on_another_step_without_a_key_pressed(sample, services):
    from ti_tui.tui.widgets.step_bar import StepTab

    run = recorded_run(sample, NEWER, 300, 120, finished=False)
    lock = TrainerLock(run)
    app = create_app(sample, services)

    def train_mark() -> str:
        return next(tab.render().plain.split()[-1] for tab in app.screen.query(StepTab) if tab.step == "train")

    async with app.run_test(size=SIZE) as pilot:
        try:
            await open_train(app, pilot, lambda view: view.status.state == "running", "the run at work")
            app.open_step("images")
            await until(pilot, lambda: app.screen.STEP == "images" and app.screen.is_mounted, "the Images step")
            await settle(app, pilot)
            assert train_mark() == "!", "a run at work marks Train"
            EventWriter(run.events_file).write("finished", reason="completed", message="trained 300 steps", step=300)
        finally:
            lock.release()
        await until(pilot, lambda: train_mark() == "✓", "Train ticked once the run has ended, with Images in sight")
