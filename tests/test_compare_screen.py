"""The Compare step on builtin:tiny: a 2x2 grid rendered by a real renderer process, a cell zoomed, its
checkpoint chosen and kept in project.toml, a model file put on the grid. The tests wait for what the
screen draws (its `changed` signal), never for a fixed time."""

import shutil

import pytest
from textual.widgets import DataTable, Static
from wizard_support import copy_of_sample, fake_services, record_notices, settle, until, until_screen, until_seen, write_checkpoints

from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.compare import CHOSEN_MARK, RENDERED_MARK, CompareScreen
from ti_tui.tui.widgets.picture import Picture
from ti_tui.usecases.training import create_run

SIZE = (100, 32)


def project_with_checkpoints(folder, **settings) -> Project:
    """A copy of the sample with a run that saved checkpoints at steps 2 and 4 (vectors made up, not trained)."""
    project = Project.open(copy_of_sample(folder))
    project.update({"preview.every": 0, **settings})
    write_checkpoints(create_run(project, steps=4))
    return project


@pytest.mark.slow
async def test_a_2x2_grid_is_rendered_zoomed_and_its_best_checkpoint_chosen(tmp_path, monkeypatch):
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    project = project_with_checkpoints(tmp_path / "project", **{"xy.x": "step=all", "xy.y": "cfg=3,7"})
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        app.open_step("compare")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.view is None
        await pilot.press("n")
        view = await until_seen(screen, lambda view: view.status.state == "finished", "the grid finished")
        assert view.status.done == 4 and [path.name for path in view.status.images] == ["grid.png"]
        table = screen.query_one("#cells", DataTable)
        assert [str(label.label) for label in table.columns.values()] == ["2", "4"]
        assert all(table.get_cell_at((row, column)) == RENDERED_MARK for row in range(2) for column in range(2))
        assert screen.query_one("#grid-picture", Picture).path == view.grid.path / "grid.png"

        await pilot.press("right", "down", "z")
        cell = screen.selected_cell()
        assert (cell.x, cell.y, cell.settings.cfg_scale) == (1, 1, 7.0)
        assert screen.query_one("#grid-picture", Picture).path == view.grid.cell_file(cell)

        await pilot.press("c")
        await settle(app, pilot)
        settings = Project.open(project.root).settings.export
        assert (settings.run, settings.step) == (view.plan.run, 4)
        assert table.get_cell_at((0, 1)) == RENDERED_MARK + CHOSEN_MARK and table.get_cell_at((0, 0)) == RENDERED_MARK
        assert app.state.steps["compare"].line == "step 4 chosen"


async def test_a_model_file_is_put_on_the_grid_from_the_path_field(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    project = project_with_checkpoints(tmp_path / "project", **{"xy.z": ""})
    shutil.copyfile(tiny_checkpoint, tmp_path / "m.safetensors")
    monkeypatch.chdir(tmp_path)  # where the wizard was started: a path typed is read from there, as in a shell
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=SIZE) as pilot:
        app.open_step("compare")
        await settle(app, pilot)
        await pilot.press("m")
        await pilot.press(*"m.safetensors", "enter")
        await settle(app, pilot)
        added = f"model=base,{tmp_path / 'm.safetensors'}"
        assert Project.open(project.root).settings.xy.z == added
        assert app.screen.query_one("#axis-z").value == added
        await pilot.press("m")
        await pilot.press(*"missing.safetensors", "enter")
        await settle(app, pilot)
        assert Project.open(project.root).settings.xy.z == added


async def test_a_symbolic_link_loop_given_as_a_model_is_said_at_the_field(tmp_path, monkeypatch):
    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    project = project_with_checkpoints(tmp_path / "project", **{"xy.z": ""})
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    monkeypatch.chdir(tmp_path)
    app = create_app(project, fake_services(tmp_path / "data"))
    said = record_notices(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.open_step("compare")
        await settle(app, pilot)
        await pilot.press("m")
        await pilot.press(*"loop", "enter")
        await settle(app, pilot)
        note = app.screen.query_one("#add-model-note", Static)
        assert f"{loop} is a symbolic-link loop" in note.render().plain and note.display
        assert app.screen.query_one("#add-model").display
        assert not any("Something went wrong" in notice for notice in said)
    assert Project.open(project.root).settings.xy.z == ""


async def test_the_grid_says_which_step_is_suggested_and_step_suggested_lays_it_between_its_neighbours(sample, services):
    from run_recording import recorded_run

    from ti_tui.usecases.compare import plan_grid

    run = recorded_run(sample, "20260101-000000-zorbot", 300, 300, growth=4.0)  # 3x a typical token from step 150
    write_checkpoints(run, steps=(50, 100, 150, 200, 250, 300))
    plan = plan_grid(sample, x="step=suggested", y="cfg=7")
    assert plan.axes["x"].labels == ("Step: 50", "Step: 100", "Step: 150")
    app = create_app(sample, services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_planned_grid(app, pilot, plan)
        assert "step 100 is suggested (Train's Checkpoints say why)" in screen.query_one("#grid-words", Static).render().plain
        await pilot.press("right")  # from step 50 to step 100
        await settle(app, pilot)
        assert "(suggested)" in screen.query_one("#cell-facts", Static).render().plain.splitlines()[0]
        await pilot.press("right")
        await settle(app, pilot)
        assert "(suggested)" not in screen.query_one("#cell-facts", Static).render().plain


async def test_a_checkpoint_of_the_run_a_run_goes_on_from_is_chosen_from_the_grid_with_its_own_run(sample, services):
    from ti_tui.usecases.compare import plan_grid

    sample.update({"preview.every": 0})
    first = create_run(sample, steps=4)
    write_checkpoints(first, steps=(2, 4))
    second = create_run(sample, steps=4, start_from=first.checkpoint_paths("zorbot", 2).embedding)
    write_checkpoints(second, steps=(4, 6))
    app = create_app(sample, services)
    said = record_notices(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_planned_grid(app, pilot, plan_grid(sample, x="step=all", y="cfg=7"))
        await pilot.press("c")  # on the first cell: step 2, of the first run
        await until(pilot, lambda: any("is chosen" in notice for notice in said), "the choice said")
        assert f"Step 2 of run {first.id} is chosen" in said[-1]
    export = Project.open(sample.root).settings.export
    assert (export.run, export.step) == (first.id, 2)


async def open_planned_grid(app, pilot, plan):
    """The Compare step on a grid planned (none of its cells rendered), once it shows it."""
    from ti_tui.infer.grid import GridDirectory

    grid = GridDirectory(app.project.root / "grids" / "20260101-000000")
    grid.path.mkdir(parents=True)
    grid.write_plan(plan)
    await settle(app, pilot)
    app.open_step("compare")
    screen = await until_screen(app, pilot, CompareScreen, "the Compare step")
    await until_seen(screen, lambda view: view.grid == grid, "the grid planned")
    await settle(app, pilot)
    return screen
