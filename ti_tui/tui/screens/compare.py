"""The Compare step: an XY grid of checkpoints (and CFG scales, models, seeds ...), rendered in a process of
its own, drawn in the terminal, a cell zoomed, and the checkpoint that looks best chosen for Apply.

A worker follows the newest grid's events and posts what the screen draws, as Train does for runs:
the grid goes on if the wizard closes, and is picked up again when it opens.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.signal import Signal
from textual.widgets import DataTable, ProgressBar, Static
from textual.worker import get_current_worker

from ti_tui.errors import UserError
from ti_tui.infer.grid import Cell, GridDirectory, GridPlan
from ti_tui.paths import user_path
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.path_input import PathInput
from ti_tui.tui.widgets.picture import Picture
from ti_tui.tui.widgets.setting_field import SettingField
from ti_tui.usecases.compare import GridStatus, grid_status, list_grids, plan_grid, start_grid, stop_grid, with_model_added

GUIDANCE = (
    "Render the trigger at several checkpoints and CFG scales side by side, and choose the step that looks like "
    "your subject in new scenes without copying the photos. Axes: step, cfg, model, seed, sampler, steps, prompt, strength. Next: Apply."
)
POLL_SECONDS = 0.5
CHOSEN_MARK = "★"
RENDERED_MARK = "■"
WAITING_MARK = "·"


@dataclass(frozen=True)
class GridView:
    grid: GridDirectory
    plan: GridPlan
    status: GridStatus
    rendered: frozenset[str]  # keys of the cells whose image is on disk
    suggested: int | None  # the step suggested in the grid's run, to say on its cells


class CompareScreen(StepScreen):
    STEP = "compare"
    GUIDANCE = GUIDANCE
    CSS_PATH = "compare.tcss"
    AUTO_FOCUS = "#cells"
    BINDINGS = [
        Binding(
            "n",
            "render",
            "Render",
            tooltip="Render the grid the axes describe (cells already rendered are reused)",
            id="compare.render",
        ),
        Binding("x", "stop", "Stop", id="compare.stop"),
        Binding("z", "zoom", "Zoom", tooltip="The chosen cell alone, large; again for the whole grid", id="compare.zoom"),
        Binding("c", "choose", "Choose", tooltip="Keep this cell's checkpoint: Apply and ti-tui export use it", id="compare.choose"),
        Binding("m", "add_model", "Add model", tooltip="Put another model file on the grid", id="compare.add-model"),
        Binding("w", "next_z", "Next Z", show=False, id="compare.next-z"),
    ]
    view: reactive[GridView | None] = reactive(None, bindings=True, always_update=True)  # the last look at the grid: n or x

    @dataclass
    class Seen(Message):
        view: GridView

    @dataclass
    class Refused(Message):
        text: str

    def __init__(self):
        super().__init__()
        self.z = 0
        self.zoomed = False
        self.changed: Signal[GridView] = Signal(self, "grid-seen")  # for tests: a look at the grid was drawn

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="axes"):
            for role, words in (("x", "across"), ("y", "down"), ("z", "grids")):
                yield Static(words, classes="axis-name", markup=False)
                yield SettingField(f"xy.{role}", id=f"axis-{role}", classes="axis")
        with Horizontal(id="grid-state"):
            yield Static("No grid yet: press n to render one.", id="grid-words", markup=False)
            yield ProgressBar(id="grid-progress", show_eta=False)
        with Horizontal(id="grid-area"):
            yield Picture(id="grid-picture")
            with Vertical(id="cells-side"):
                yield DataTable(id="cells", cursor_type="cell", show_row_labels=True)
                yield Static("", id="cell-facts", markup=False)
        yield PathInput(placeholder="a model file or folder to put on the grid (tab or → completes)", id="add-model", compact=True)
        yield Static("", id="add-model-note", classes="note problem", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#grid-progress").display = False
        self.query_one("#add-model").display = False
        self.query_one("#add-model-note").display = False
        self.follow(self.app.project)

    # Following the newest grid -------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, exclusive=True, group="follow")
    def follow(self, project, grid: GridDirectory | None = None) -> None:
        worker = get_current_worker()
        plan, last, suggested = None, None, None
        while not worker.is_cancelled:
            if grid is None:
                grids = list_grids(project)
                if not grids:
                    return
                grid = grids[-1]
            try:
                if plan is None:
                    plan = grid.plan()
                    suggested = _suggested_step(project, plan.run)
                status = grid_status(grid)
            except UserError as error:
                self.post_message(self.Refused(str(error)))
                return
            rendered = frozenset(cell.key for cell in plan.cells if grid.cell_file(cell).is_file())
            look = (status.state, status.done, tuple(status.images), rendered)
            if look != last:
                last = look
                self.post_message(self.Seen(GridView(grid, plan, status, rendered, suggested)))
            if not status.active:
                return
            time.sleep(POLL_SECONDS)

    @on(Seen)
    def seen(self, message: Seen) -> None:
        view = message.view
        was_active = self.view is not None and self.view.grid == view.grid and self.view.status.active
        first_look = self.view is None or self.view.grid != view.grid
        self.view = view
        if first_look:
            self.z, self.zoomed = 0, False
            self.remove_class("-zoomed")
            self.build_table(view.plan)
        self.draw(view)
        if was_active and not view.status.active:
            self.app.refresh_state()
            self.notify(f"Grid {view.grid.id} {view.status.state}: {view.status.message}", markup=False, timeout=8)
        self.changed.publish(view)

    @on(Refused)
    def refused(self, message: Refused) -> None:
        self.query_one("#grid-words", Static).update(message.text)
        self.notify(message.text, severity="error", markup=False, timeout=10)

    # Drawing --------------------------------------------------------------------------------------

    def build_table(self, plan: GridPlan) -> None:
        table = self.query_one("#cells", DataTable)
        table.clear(columns=True)
        columns = plan.axes["x"].labels if "x" in plan.axes else ("",)
        for label in columns:
            table.add_column(_value_of(label))

    def draw(self, view: GridView) -> None:
        status = view.status
        axes = " × ".join(axis.spec for axis in view.plan.axes.values()) or "one cell"
        words = f"Grid {view.grid.id} ({axes}): {status.state}, {status.done} of {status.total} cells"
        if status.message and status.state != "finished":
            words += f"; {status.message}"
        if view.suggested is not None:
            words += f"; step {view.suggested:,} is suggested (Train's Checkpoints say why)"
        self.query_one("#grid-words", Static).update(words)
        progress = self.query_one("#grid-progress", ProgressBar)
        progress.display = status.active
        progress.update(total=max(1, status.total), progress=status.done)
        self.fill_table(view)
        self.draw_picture()

    def fill_table(self, view: GridView) -> None:
        table = self.query_one("#cells", DataTable)
        cursor = table.cursor_coordinate
        table.clear()
        chosen = self.chosen_embedding()
        rows = view.plan.axes["y"].labels if "y" in view.plan.axes else ("",)
        for y, label in enumerate(rows):
            marks = []
            for x in range(view.plan.count("x")):
                cell = self.cell_at(x, y)
                mark = WAITING_MARK if cell is None or cell.key not in view.rendered else RENDERED_MARK
                marks.append(f"{mark}{CHOSEN_MARK if cell is not None and cell.settings.embedding == chosen else ''}")
            table.add_row(*marks, label=_value_of(label))
        table.cursor_coordinate = cursor
        self.describe_cell()

    def chosen_embedding(self) -> str:
        export = self.app.project.settings.export
        if self.view is None or not export.step:
            return ""
        for cell in self.view.plan.cells:
            if cell.settings.embedding_label == f"step {export.step}" and _run_of(cell) == export.run:
                return cell.settings.embedding
        return ""

    def cell_at(self, x: int, y: int) -> Cell | None:
        if self.view is None:
            return None
        return next((cell for cell in self.view.plan.cells if (cell.x, cell.y, cell.z) == (x, y, self.z)), None)

    def selected_cell(self) -> Cell | None:
        coordinate = self.query_one("#cells", DataTable).cursor_coordinate
        return self.cell_at(coordinate.column, coordinate.row)

    def describe_cell(self) -> None:
        cell = self.selected_cell()
        facts = self.query_one("#cell-facts", Static)
        if cell is None:
            facts.update("")
            return
        settings = cell.settings
        labels = [axis.labels[getattr(cell, role)] for role, axis in self.view.plan.axes.items()]
        chosen = "  (chosen)" if settings.embedding == self.chosen_embedding() else ""
        if self.view.suggested is not None and settings.embedding_label == f"step {self.view.suggested}":
            chosen += "  (suggested)"
        facts.update(
            "\n".join(
                [
                    " · ".join(labels) + chosen,
                    f"{settings.embedding_label} · {settings.model_label}",
                    f"CFG {settings.cfg_scale:g} · seed {settings.seed} · {settings.sampler} · {settings.sampling_steps} steps",
                ]
            )
        )

    def draw_picture(self) -> None:
        picture = self.query_one("#grid-picture", Picture)
        view = self.view
        if view is None:
            picture.show(None)
            return
        if self.zoomed:
            cell = self.selected_cell()
            path = view.grid.cell_file(cell) if cell is not None and cell.key in view.rendered else None
        else:
            images = [path for path in view.status.images if path.is_file()]
            path = images[self.z] if self.z < len(images) else None
        if path != picture.path:
            picture.show(path)

    @on(DataTable.CellHighlighted, "#cells")
    def highlighted(self) -> None:
        self.describe_cell()
        if self.zoomed:
            self.draw_picture()

    @on(DataTable.CellSelected, "#cells")
    def selected(self) -> None:
        self.action_zoom()

    # Keys ---------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters) -> bool | None:
        active = self.view is not None and self.view.status.active
        if action == "render":
            return not active
        if action == "stop":
            return active
        if action in ("zoom", "choose"):
            return self.view is not None
        if action == "next_z":
            return self.view is not None and self.view.plan.count("z") > 1
        return True

    def action_render(self) -> None:
        self.flush_edits()
        self.query_one("#grid-words", Static).update("Planning the grid...")
        self.start(self.app.project)

    @work(thread=True, exit_on_error=False, exclusive=True, group="start")
    def start(self, project) -> None:
        try:
            grid, process = start_grid(project, plan_grid(project))
        except UserError as error:
            self.post_message(self.Refused(str(error)))
            return
        self.app.call_from_thread(self.app.keep_trainer, process)  # reaped when it ends, like a trainer
        self.app.call_from_thread(self.follow, project, grid)

    def action_stop(self) -> None:
        try:
            stop_grid(self.view.grid)
        except UserError as error:
            self.notify(str(error), severity="warning", markup=False)
            return
        self.notify("The grid stops after the cell it is rendering.", markup=False)

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.set_class(self.zoomed, "-zoomed")  # compare.tcss gives the picture every row but the keys'
        self.draw_picture()

    def action_next_z(self) -> None:
        self.z = (self.z + 1) % self.view.plan.count("z")
        self.fill_table(self.view)
        self.draw_picture()

    def action_choose(self) -> None:
        from ti_tui.usecases.checkpoints import choose_checkpoint
        from ti_tui.usecases.training import find_run

        cell = self.selected_cell()
        if cell is None:
            return
        step = int(cell.settings.embedding_label.removeprefix("step "))
        project = self.app.project
        run_id = _run_of(cell)  # the grid's run, or one it goes on from
        try:
            choose_checkpoint(project, find_run(project, run_id), step)
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.app.refresh_state()
        self.fill_table(self.view)
        self.notify(f"Step {step} of run {run_id} is chosen: Apply exports it.", markup=False)

    def action_add_model(self) -> None:
        field = self.query_one("#add-model", PathInput)
        field.display = True
        field.focus()

    @on(PathInput.Submitted, "#add-model")
    def model_given(self, message: PathInput.Submitted) -> None:
        field = self.query_one("#add-model", PathInput)
        note = self.query_one("#add-model-note", Static)
        text = message.value.strip()
        if text:
            try:
                changes = with_model_added(self.app.project, user_path(text, Path.cwd()))
            except UserError as error:
                note.update(str(error))
                note.display = True
                return
            if self.app.save_settings(changes) == []:
                for key in changes:
                    self.query_one(f"#axis-{key.removeprefix('xy.')}", SettingField).show_saved()
        field.value = ""
        field.display = note.display = False
        self.query_one("#cells").focus()

    def settings_reloaded(self, project) -> None:
        for field in self.query(SettingField):
            field.show_saved()


def _value_of(label: str) -> str:
    """ "CFG scale: 7" -> "7": the table's headers are short, the axis is named in the fields above."""
    return label.split(": ", 1)[-1]


def _suggested_step(project, run_id: str) -> int | None:
    """The step suggested in the grid's run; None when there is none, or the run's folder is gone (the grid
    is shown all the same)."""
    from ti_tui.runs.suggestion import suggestion_for
    from ti_tui.usecases.training import find_run

    try:
        suggestion = suggestion_for(find_run(project, run_id))
    except UserError:
        return None
    return suggestion.step if suggestion is not None else None


def _run_of(cell: Cell) -> str:
    """The run whose checkpoint the cell shows: the folder its file lies in, runs/<run>/checkpoints/."""
    return Path(cell.settings.embedding).parent.parent.name
