"""The wizard's dialogs, and the parts of its screens that were cut at 80x24, whole: every button on screen,
every title and hint read to its last word, the field with the cursor marked without colour.

The snapshots at the end are the dialogs as a user sees them at 80x24, images as half-blocks; a changed
look fails there, and `pytest tests/test_dialog_snapshots.py --snapshot-update` takes the new one once it
has been looked at.
"""

import html
import re
import shutil

import pytest
from PIL import Image
from run_recording import recorded_run
from textual.app import App
from textual.widgets import Button, DataTable, Input, Static
from wizard_support import copy_of_sample, fake_services, open_compare, render_a_2x2_grid, settle, settle_layout, until, write_checkpoints

from ti_tui.dataset.captions import captions_of
from ti_tui.project import Project
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.bulk_edit import BulkEditScreen
from ti_tui.tui.screens.dialogs import AskPath, Confirm
from ti_tui.tui.screens.keys import KeysScreen
from ti_tui.tui.screens.new_project import NewProjectScreen
from ti_tui.tui.widgets.curve_plot import Curve, CurvePlot

CAPTIONER_QUESTION = "The captioning model's folder (a BLIP model, such as blip-image-captioning-large):"


def screen_lines(app) -> list[str]:
    """The characters on the terminal, a line a row, as the user reads them without colour (from the screenshot)."""
    width, height = app.size
    lines = [[" "] * width for _ in range(height)]
    spans = re.findall(r'<text [^>]*?x="([\d.]+)" [^>]*?textLength="([\d.]+)" [^>]*?-line-(\d+)\)">([^<]*)</text>', app.export_screenshot())
    for x, length, row, escaped in spans:
        text = html.unescape(escaped).replace("\xa0", " ")
        column = round(float(x) / (float(length) / len(text)))  # every span is whole cells of one width
        lines[int(row)][column : column + len(text)] = text
    return ["".join(line) for line in lines]


def words_in(app, widget) -> str:
    """The words shown inside `widget` on screen (within its frame), one space between them."""
    region = widget.content_region
    lines = screen_lines(app)[region.y : region.bottom]
    return " ".join(" ".join(line[region.x : region.right] for line in lines).split())


def whole(text: str) -> str:
    return " ".join(text.split())


def inside(widget, outer) -> bool:
    return outer.region.contains_region(widget.region) and widget.region.height > 0


# The new-project dialog ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_the_new_project_dialog_shows_its_buttons_and_offers_builtin_tiny_to_try_things(tmp_path, monkeypatch, size):
    monkeypatch.chdir(tmp_path)
    app = create_app(None, fake_services(tmp_path / "data"))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewProjectScreen), "the new-project dialog")
        await settle_layout(app, pilot)
        dialog = app.screen.query_one("#new-project")
        assert app.focused is app.screen.query_one("#folder", Input)
        for button in app.screen.query(Button):  # seen and clicked without tabbing to them first
            assert inside(button, dialog) and inside(button, app.screen), f"{button.label} is off screen"
        shown = words_in(app, dialog)
        assert re.search(r"\bbuiltin:tiny\b", shown), shown
        assert "builtin:tiny to try things" in shown
        assert whole(dialog.border_title) == "A new project"


# Dialog titles and questions -------------------------------------------------------------------------


async def test_a_long_question_is_read_whole_and_its_buttons_are_on_screen(tmp_path):
    app = create_app(None, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.push_screen(AskPath(CAPTIONER_QUESTION, title="Captioning model"))
        await until(pilot, lambda: isinstance(app.screen, AskPath), "the question")
        await settle_layout(app, pilot)
        dialog = app.screen.query_one(".dialog")
        assert whole(CAPTIONER_QUESTION) in words_in(app, dialog)
        assert dialog.border_title == "Captioning model" and "Captioning model" in screen_lines(app)[dialog.region.y]
        for button in app.screen.query(Button):
            assert inside(button, dialog)


# The bulk-edit dialog ----------------------------------------------------------------------------------


async def test_the_bulk_edit_field_with_the_cursor_is_marked_by_its_border_not_only_its_colour(tmp_path):
    project = Project.open(copy_of_sample(tmp_path / "project"))
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        images = sorted(project.images_dir.glob("*.jpg"))
        app.push_screen(BulkEditScreen(project.prepared_dir, captions_of(images, project.prepared_dir, True), True))
        await until(pilot, lambda: isinstance(app.screen, BulkEditScreen), "the bulk-edit dialog")
        await settle_layout(app, pilot)
        screen = app.screen
        fields = [screen.query_one(f"#{name}").parent for name in ("operation", "words", "replacement")]

        def corners() -> list[str]:
            lines = screen_lines(app)
            return [lines[field.region.y][field.region.x] for field in fields]

        for focused, name in enumerate(("operation", "words", "replacement")):
            screen.query_one(f"#{name}").focus()
            await settle_layout(app, pilot)
            marks = corners()
            assert len({marks[focused]} | {mark for index, mark in enumerate(marks) if index != focused}) == 2, marks
            assert all(mark == marks[(focused + 1) % 3] for index, mark in enumerate(marks) if index != focused), marks
        for field, title in zip(fields, ("What to do", "Words to look for", "Put in their place")):  # named in the frame
            assert title in screen_lines(app)[field.region.y]
        for button in screen.query(Button):
            assert inside(button, screen.query_one("#bulk-edit"))


# Images: the Checks column and the findings --------------------------------------------------------------


async def test_the_images_checks_column_and_every_finding_of_the_image_are_whole_at_80x24(tmp_path):
    root = copy_of_sample(tmp_path / "project")
    for name in ("11-grey.png", "12-grey.png"):  # each narrow, blurry, of one colour, a copy of the other: four findings
        Image.new("RGB", (900, 300), (128, 128, 128)).save(root / "images" / name)
    project = Project.open(root)
    project.update({"dataset.exclude": ["02-beach.jpg"]})
    app = create_app(project, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.open_step("images")
        await settle(app, pilot)
        screen = app.screen
        table = screen.query_one("#images", DataTable)
        await until(pilot, lambda: table.row_count == 12, "the images")
        await settle_layout(app, pilot)
        assert table.virtual_size.width <= table.scrollable_content_region.width, "a column goes past the table's edge"
        shown = words_in(app, table)
        assert "left out" in shown
        grey = next(row for row in screen.rows if row.name == "11-grey.png")
        assert len(grey.findings) == 4 and whole(grey.checks) in shown

        table.move_cursor(row=screen.rows.index(grey))
        await settle(app, pilot)
        findings = screen.query_one("#image-findings", Static)
        pane = findings.parent
        text = whole(findings.render().plain)
        assert all(whole(str(finding)) in text for finding in grey.findings)
        assert whole(str(grey.findings[0])) in words_in(app, pane)
        assert pane.virtual_size.height > pane.scrollable_content_region.height  # more than 80x24 has rows for
        assert pane in screen.focus_chain  # so the keyboard scrolls it too
        pane.focus()
        await pilot.press("end")
        await until(pilot, lambda: pane.scroll_y == pane.max_scroll_y, "the pane scrolled to its end")
        await settle_layout(app, pilot)
        assert whole(str(grey.findings[-1])) in words_in(app, pane)


# Compare: the grid's title and the zoomed cell ------------------------------------------------------------


@pytest.fixture
def planned_grid(tmp_path):
    """A project with a run of 4 steps (checkpoints at 2 and 4) and a grid planned on three axes, never rendered."""
    from ti_tui.infer.grid import GridDirectory
    from ti_tui.usecases.compare import plan_grid
    from ti_tui.usecases.training import create_run

    project = Project.open(copy_of_sample(tmp_path / "project"))
    write_checkpoints(create_run(project, steps=4))
    grid = GridDirectory(project.root / "grids" / "20260101-000000")
    grid.path.mkdir(parents=True)
    grid.write_plan(plan_grid(project, x="step=all", y="cfg=3,5,7,9", z="seed=1,2,3"))
    return project


@pytest.mark.slow
async def test_the_grid_title_is_read_whole_at_80x24(planned_grid, tmp_path):
    app = create_app(planned_grid, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(app, pilot)
        title = screen.query_one("#grid-words", Static)
        words = whole(title.render().plain)
        assert words.startswith("Grid 20260101-000000 (step=all × cfg=3,5,7,9 × seed=1,2,3)")
        unspaced = "".join(words.split())  # the log's path at its end is folded where the line ends, as paths are
        assert unspaced in "".join(words_in(app, title.parent).split())


@pytest.mark.slow
async def test_zoom_draws_the_cell_as_large_as_the_terminal_allows_and_zoom_again_puts_the_grid_back(planned_grid, tmp_path):
    app = create_app(planned_grid, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(app, pilot)
        picture = screen.query_one("#grid-picture")
        before = picture.region
        await pilot.press("z")
        await settle_layout(app, pilot)
        footer_row = app.size.height - 1
        assert picture.region.y == 0 and picture.region.bottom == footer_row, picture.region  # every row but the keys'
        assert app.focused is screen.query_one("#cells") and screen.query_one("#cells").region.height > 0  # arrows pick cells
        await pilot.press("z")
        await settle_layout(app, pilot)
        assert picture.region == before


# The plots' key of curves --------------------------------------------------------------------------------


class PlotApp(App):
    def compose(self):
        yield CurvePlot("length", id="plot")


@pytest.mark.parametrize("size", [(80, 9), (40, 9), (80, 24)], ids=lambda size: f"{size[0]}x{size[1]}")
async def test_the_key_of_the_curves_never_lies_over_the_axes_labels(size):
    """The Vectors panel at 80x24 leaves its plot 9 rows: the key went over the step numbers, or, narrower,
    over the lengths."""
    app = PlotApp()
    async with app.run_test(size=size) as pilot:
        plot = app.query_one(CurvePlot)
        steps = [float(step) for step in range(0, 301, 10)]
        curves = [
            Curve("longest vector", steps, [0.4 + step / 600 for step in steps], "primary"),
            Curve("typical token", [0.0, 300.0], [0.385, 0.385], "success"),
        ]
        plot.show(curves, (0.0, 300.0), floor=0.0)
        await pilot.pause()
        await pilot.pause()
        labels = [plot.query_one(f"#{part}").region for part in ("margin-left", "margin-bottom")]
        data = plot.query_one("#plot").region
        keys = [widget.region for widget in plot.query("#legend, #curve-key") if widget.display]
        assert keys, "no key of the curves"
        for key in keys:
            assert not any(key.overlaps(label) for label in labels), (key, labels)
            assert not key.overlaps(data), (key, data)
        shown = " ".join(screen_lines(app))
        assert "longest vector" in shown and "typical token" in shown


# Snapshots ------------------------------------------------------------------------------------------------

pytestmark = pytest.mark.xdist_group("dialog-snapshots")  # one worker takes the module's snapshots: its projects are made once
SIZE = (80, 24)


@pytest.fixture(scope="module")
def sample(snapshot_home):
    """The sample, prepared, in the home folder."""
    from ti_tui.usecases.images import prepare_project

    project = Project.open(copy_of_sample(snapshot_home / "sample_project"))
    prepare_project(project)
    return project


@pytest.fixture
def half_blocks(monkeypatch):
    monkeypatch.setenv("TI_TUI_IMAGES", "halfcell")


async def until_dialog(app, pilot, dialog_type) -> None:
    await until(pilot, lambda: isinstance(app.screen, dialog_type), dialog_type.__name__)
    await settle(app, pilot)


def test_the_new_project_dialog_looks_as_it_did(snap_compare, sample, half_blocks, monkeypatch):
    monkeypatch.chdir(sample.root.parent)  # the folder a new project starts in: ~/
    app = create_app(None, fake_services(sample.root.parent / "data-new"))

    async def arrive(pilot) -> None:
        await settle(app, pilot)
        await pilot.press("n")
        await until_dialog(app, pilot, NewProjectScreen)

    assert snap_compare(app, terminal_size=SIZE, run_before=arrive)


@pytest.mark.parametrize(
    "step, keys, dialog_type",
    [
        pytest.param("images", ("a",), AskPath, id="add-images"),
        pytest.param("images", ("question_mark",), KeysScreen, id="keys"),
        # escape first: out of the caption being typed, so that the letters act
        pytest.param("captions", ("escape", "A", "y"), AskPath, id="captioning-model", marks=pytest.mark.slow),
        pytest.param("captions", ("escape", "b"), BulkEditScreen, id="bulk-edit", marks=pytest.mark.slow),
    ],
)
def test_the_dialogs_of_images_and_captions_look_as_they_did(snap_compare, sample, half_blocks, step, keys, dialog_type):
    app = create_app(Project.open(sample.root), fake_services(sample.root.parent / f"data-{step}-{keys[-1]}"))

    async def arrive(pilot) -> None:
        await settle(app, pilot)
        app.open_step(step)
        await settle(app, pilot)
        await pilot.press(*keys)
        await until_dialog(app, pilot, dialog_type)

    assert snap_compare(app, terminal_size=SIZE, run_before=arrive)


@pytest.mark.slow
def test_a_zoomed_cell_looks_as_it_did(snap_compare, sample, half_blocks):
    """A 2x2 grid (steps 2 and 4, CFG 3 and 7) rendered here, its first cell zoomed."""
    project = Project.open(sample.root)
    run = render_a_2x2_grid(project)
    app = create_app(project, fake_services(sample.root.parent / "data-zoom"))

    async def arrive(pilot) -> None:
        await open_compare(app, pilot, finished=True)
        await pilot.press("z")
        await settle(app, pilot)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=arrive)
    finally:
        shutil.rmtree(run.path)
        shutil.rmtree(project.root / "grids")


@pytest.mark.slow
def test_the_export_confirmation_looks_as_it_did(snap_compare, sample, half_blocks):
    """Apply's export, with a file of the same name already in the project's exports folder."""
    project = Project.open(sample.root)
    run = recorded_run(project, "20260101-000000-zorbot", 4, 4, every=2)
    write_checkpoints(run)
    project.exports_dir.mkdir(exist_ok=True)
    (project.exports_dir / f"{project.settings.token.trigger}.safetensors").write_bytes(b"an earlier export")
    app = create_app(project, fake_services(sample.root.parent / "data-export"))

    async def arrive(pilot) -> None:
        await settle(app, pilot)
        app.open_step("apply")
        await settle(app, pilot)
        await pilot.press("escape", "e")
        await until_dialog(app, pilot, Confirm)
        await settle(app, pilot)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=arrive)
    finally:
        shutil.rmtree(run.path)
        shutil.rmtree(project.exports_dir)
