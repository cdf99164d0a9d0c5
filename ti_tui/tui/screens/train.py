"""The Train step: the plan before a run, the run live while it goes (from its events, never from the
trainer's memory), what became of it after, and the project's earlier runs.

A worker thread follows the shown run's events.jsonl and posts what a screen needs, thinned for
drawing; the screen only draws. So the dashboard is the same whether this wizard started the run,
another one did, or the wizard was closed and opened again while the trainer went on.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.signal import Signal
from textual.widgets import DataTable, ProgressBar, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from ti_tui.errors import UserError
from ti_tui.runs import RunDirectory, run_status
from ti_tui.runs.events import duration
from ti_tui.runs.history import CheckpointRow, Preview, RunHistory
from ti_tui.runs.status import RunStatus, read_history
from ti_tui.schedule import LearningRateSchedule, ScheduleError
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.curve_plot import Curve, CurvePlot
from ti_tui.tui.widgets.picture import Picture
from ti_tui.usecases.journey import FIXED_AT, STEP_TITLES

GUIDANCE = (
    "Training teaches the model your word and goes on if the wizard closes or SSH drops. The validation loss "
    "should fall and the previews look more like your subject; once they copy the photos, keep an earlier "
    "checkpoint. Next: Compare."
)
POLL_SECONDS = 0.25
STATUS_EVERY_SECONDS = 1.0
CURVE_POINTS = 400  # more than the braille dots across the widest terminal
CONTINUE_FROM = "continue-from:"  # + the project's folder: the checkpoint the next run starts from
PANELS = ("plan", "loss", "rate", "vectors", "previews", "checkpoints", "log", "runs")


@dataclass(frozen=True)
class RunView:
    """One look at a run, made in the watching thread: everything the screen draws, and nothing live."""

    run: RunDirectory
    status: RunStatus
    first_step: int
    total_steps: int
    step: int
    speed: str
    caching: tuple[int, int] | None
    curves: dict[str, list[Curve]]
    vector_verdict: str
    checkpoints: list[CheckpointRow]
    previews: list[Preview]
    lines: list[str]
    events_read: int
    log_tail: str = ""


@dataclass(frozen=True)
class RunRow:
    run: RunDirectory
    state: str
    steps: str
    started: str
    parent: str


def look_at(run: RunDirectory, history: RunHistory, status: RunStatus) -> RunView:
    """What the screen shows of `history`: curves thinned to CURVE_POINTS, the rest as it is."""

    def curve(label, series, colour, dotted=False) -> Curve:
        steps, values = series.points(CURVE_POINTS)
        return Curve(label, steps.tolist(), values.tolist(), colour, dotted)

    longest = [curve("longest vector", history.longest_vector, "primary")]
    if history.typical_norm and len(history.longest_vector):
        first, last = history.longest_vector.steps[0], history.longest_vector.steps[-1]
        longest.append(Curve("typical token", [first, last], [history.typical_norm] * 2, "success"))
    speed = ""
    if history.steps_per_second and (not status.active or status.state == "stalled"):  # a stalled run has no time left to tell
        speed = f"{history.steps_per_second:.2f} steps/s"
    elif history.steps_per_second:
        left = f", {duration(history.seconds_left)} left" if history.seconds_left is not None else ""
        speed = f"{history.steps_per_second:.2f} steps/s{left}"
    log_tail = ""
    if status.state in ("failed", "lost"):
        log_tail = _tail(run.log_file)
    return RunView(
        run=run,
        status=status,
        first_step=history.first_step,
        total_steps=status.total_steps or history.total_steps,
        step=history.step,
        speed=speed,
        caching=history.caching,
        curves={
            "loss": [
                curve("loss", history.loss, "foreground-darken-2"),
                curve("smoothed", history.smoothed_loss, "primary"),
                curve("validation", history.validation, "warning", dotted=len(history.validation) < 20),
            ],
            "rate": [curve("learning rate", history.learning_rate, "success")],
            "vectors": longest,
        },
        vector_verdict=history.vector_verdict(),
        checkpoints=history.checkpoint_rows(),
        previews=list(history.previews),
        lines=list(history.lines)[-40:],
        events_read=history.events_read,
        log_tail=log_tail,
    )


def _tail(path: Path, size: int = 2000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - size))
            return handle.read().decode("utf-8", "replace").split("\n", 1)[-1].strip()
    except OSError:
        return ""


class TrainScreen(StepScreen):
    STEP = "train"
    GUIDANCE = GUIDANCE
    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#panels Tabs"  # the arrows then move between the panels; a panel with a table gives it focus
    BINDINGS = [
        Binding("t", "start", "Train", tooltip="Start a run with the project's settings", id="train.start"),
        Binding("p", "pause", "Pause", tooltip="Pause the run, or go on with it", id="train.pause"),
        Binding("x", "stop", "Stop", tooltip="Save a checkpoint, then stop", id="train.stop"),
        Binding("s", "save", "Save", tooltip="A checkpoint now, besides the scheduled ones", id="train.save"),
        Binding("v", "preview", "Preview", tooltip="Render previews now", id="train.preview"),
        Binding("u", "resume", "Resume", tooltip="Carry the run on exactly where its last checkpoint left it"),
        Binding("c", "continue_from", "Continue from here", tooltip="A new run from the chosen checkpoint, with a new schedule"),
        Binding("o", "overlay", "Overlay", tooltip="Lay the chosen run's validation loss over this run's"),
        Binding("comma", "previews(1)", "Earlier previews", key_display=","),
        Binding("full_stop", "previews(-1)", "Later previews", key_display=".", show=False),
        Binding("less_than_sign", "panel(-1)", "Previous panel", key_display="<", show=False),
        Binding("greater_than_sign", "panel(1)", "Next panel", key_display=">", show=False),  # the tabs show the panels
    ]

    class Seen(Message):
        def __init__(self, view: RunView):
            super().__init__()
            self.view = view

    class RunsListed(Message):
        def __init__(self, rows: list[RunRow]):
            super().__init__()
            self.rows = rows

    class Planned(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    class Started(Message):
        def __init__(self, run: RunDirectory, process):
            super().__init__()
            self.run, self.process = run, process

    class Refused(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    class Overlaid(Message):
        def __init__(self, run: RunDirectory, curve: Curve):
            super().__init__()
            self.run, self.curve = run, curve

    def __init__(self):
        super().__init__()
        self.run: RunDirectory | None = None
        self.view: RunView | None = None
        self.runs: list[RunRow] = []
        self.overlay: Curve | None = None
        self.preview_index = 0  # into the steps with previews, newest first
        self.shown_previews: tuple = ()
        self.drawn: dict[str, int] = {}  # panel -> the events_read its drawing is from
        self.plan_text = "Working out the plan..."
        self.changed: Signal[RunView] = Signal(self, "run-seen")  # for tests: a look at the run was drawn

    def compose_body(self) -> ComposeResult:
        yield Static("No run yet.", id="run-state", markup=False)
        with Horizontal(id="run-progress"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="speed", markup=False)
        with TabbedContent(id="panels", initial="plan"):
            with TabPane("Plan", id="plan"), VerticalScroll():
                yield Static("Working out the plan...", id="plan-text", markup=False)
            with TabPane("Loss", id="loss"):
                yield CurvePlot("loss", id="loss-plot")
            with TabPane("Rate", id="rate"):
                yield CurvePlot("learning rate", id="rate-plot")
            with TabPane("Vectors", id="vectors"), Vertical():
                yield Static("", id="vector-verdict", markup=False)
                yield CurvePlot("length", id="vector-plot")
            with TabPane("Previews", id="previews"), Vertical():
                yield Static("No previews yet.", id="preview-caption", markup=False)
                with Horizontal(id="preview-pictures"):
                    yield Picture(id="preview-trigger")
                    yield Picture(id="preview-init")
            with TabPane("Checkpoints", id="checkpoints"):
                yield DataTable(id="checkpoint-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Log", id="log"), VerticalScroll(id="log-scroll"):
                yield Static("", id="log-text", markup=False)
            with TabPane("Runs", id="runs"):
                yield DataTable(id="run-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#run-progress").display = False
        self.query_one("#checkpoint-table", DataTable).add_columns("step", "validation loss", "longest vector", "file")
        self.query_one("#run-table", DataTable).add_columns("", "run", "state", "steps", "started", "from")
        self.work_out_plan(self.app.project)
        self.list_runs(self.app.project, show_current=True)

    # Following a run -----------------------------------------------------------------------

    def show_run(self, run: RunDirectory) -> None:
        """Follow `run` from the start of its log: its history replayed, then what comes."""
        self.run, self.view, self.preview_index, self.shown_previews, self.drawn = run, None, 0, (), {}
        self.query_one("#run-state", Static).update(f"Run {run.id}: reading its history...")
        self.draw_runs()
        self.follow(run)

    @work(thread=True, exit_on_error=False, exclusive=True, group="follow")
    def follow(self, run: RunDirectory) -> None:
        worker = get_current_worker()
        status, read, last_look = None, -1, 0.0
        while not worker.is_cancelled:
            try:
                with read_history(run) as history:
                    arrived = history.events_read != read
                    if arrived or time.monotonic() - last_look > STATUS_EVERY_SECONDS:
                        previous, read, last_look = status, history.events_read, time.monotonic()
                        status = run_status(run, history)
                        if arrived or status != previous:
                            self.post_message(self.Seen(look_at(run, history, status)))
            except UserError as error:
                self.post_message(self.Refused(str(error)))
                return
            if status is not None and not status.active:
                return  # ended, or lost: a resume follows it afresh
            time.sleep(POLL_SECONDS)

    @on(Seen)
    def seen(self, message: Seen) -> None:
        view = message.view
        if view.run != self.run:
            return  # a run no longer shown
        was_active = self.view is not None and self.view.status.active
        self.view = view
        self.draw_head(view)
        self.draw_panel(self.query_one(TabbedContent).active)
        if was_active and not view.status.active:
            self.list_runs(self.app.project)
            self.app.refresh_state()
            self.notify(f"Run {view.run.id}: {view.status.describe()}", markup=False, timeout=10)
        self.refresh_bindings()
        self.changed.publish(view)

    def draw_head(self, view: RunView) -> None:
        status = view.status
        if view.caching and status.active:
            words = f"caching the images' latents {view.caching[0]}/{view.caching[1]}"
        else:
            words = status.describe()
        self.query_one("#run-state", Static).update(f"Run {view.run.id}: {words}")
        self.query_one("#run-progress").display = True
        progress = self.query_one("#progress", ProgressBar)
        progress.update(total=max(1, view.total_steps - view.first_step), progress=max(0, view.step - view.first_step))
        self.query_one("#speed", Static).update(view.speed)

    def draw_panel(self, panel: str) -> None:
        """Draw the panel in sight from the latest look; the hidden ones wait until they are shown."""
        view = self.view
        if view is None or self.drawn.get(panel) == view.events_read and panel != "previews":
            return
        self.drawn[panel] = view.events_read
        steps = (view.first_step, max(view.total_steps, view.step, view.first_step + 1))
        if panel == "loss":
            overlay = [self.overlay] if self.overlay is not None else []
            self.query_one("#loss-plot", CurvePlot).show(view.curves["loss"] + overlay, steps)
        elif panel == "rate":
            self.query_one("#rate-plot", CurvePlot).show(view.curves["rate"], steps, floor=0.0)
        elif panel == "vectors":
            self.query_one("#vector-verdict", Static).update(view.vector_verdict)
            self.query_one("#vector-plot", CurvePlot).show(view.curves["vectors"], steps, floor=0.0)
        elif panel == "previews":
            self.draw_previews(view)
        elif panel == "checkpoints":
            self.draw_checkpoints(view)
        elif panel == "runs":
            self.draw_runs()
        elif panel == "log":
            text = "\n".join(view.lines)
            if view.log_tail:
                text += f"\n\nThe end of {view.run.log_file}:\n{view.log_tail}"
            self.query_one("#log-text", Static).update(text)
            self.call_after_refresh(self.query_one("#log-scroll", VerticalScroll).scroll_end, animate=False)

    def draw_checkpoints(self, view: RunView) -> None:
        table = self.query_one("#checkpoint-table", DataTable)
        row = table.cursor_row
        table.clear()
        for checkpoint in view.checkpoints:
            validation = f"{checkpoint.validation_loss:.4f}" if checkpoint.validation_loss is not None else ""
            longest = f"{checkpoint.longest_vector:.3f}" if checkpoint.longest_vector is not None else ""
            table.add_row(str(checkpoint.step), validation, longest, checkpoint.path.name, key=str(checkpoint.step))
        if view.checkpoints:
            table.move_cursor(row=min(row, len(view.checkpoints) - 1))

    def draw_previews(self, view: RunView) -> None:
        steps = sorted({preview.step for preview in view.previews}, reverse=True)
        caption = self.query_one("#preview-caption", Static)
        if not steps:
            caption.update("No previews yet: they come every preview.every steps, or now with v while the run goes.")
            return
        self.preview_index = min(self.preview_index, len(steps) - 1)
        step = steps[self.preview_index]
        at_step = [preview for preview in view.previews if preview.step == step]
        trigger = next((preview for preview in at_step if not preview.init), None)
        init = next((preview for preview in at_step if preview.init and trigger and preview.seed == trigger.seed), None)
        newer = "newest" if self.preview_index == 0 else f"{self.preview_index} newer step(s) with previews: ."
        caption.update(
            f"Step {step} ({newer}; earlier: ,), seed {trigger.seed if trigger else '-'}: "
            f"{trigger.prompt if trigger else ''}\nLeft: the trigger. Right: the init words in its place."
        )
        shown = (trigger.path if trigger else None, init.path if init else None)
        if shown != self.shown_previews:
            self.shown_previews = shown
            self.query_one("#preview-trigger", Picture).show(shown[0])
            self.query_one("#preview-init", Picture).show(shown[1])

    @on(TabbedContent.TabActivated)
    def panel_shown(self, event: TabbedContent.TabActivated) -> None:
        self.draw_panel(event.pane.id)
        self.refresh_bindings()
        tables = event.pane.query(DataTable)
        if tables:  # its arrows pick a row at once, not after a Tab
            self.set_focus(tables.first())

    # The plan and the runs --------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, exclusive=True, group="plan")
    def work_out_plan(self, project) -> None:
        from ti_tui.tui.format import describe_forecast
        from ti_tui.usecases.forecast import forecast_run

        device = self.app.device_for(project)
        forecast = forecast_run(project, device)
        lines = [describe_forecast(forecast, project, device)]
        if forecast.too_big:
            lines.append(forecast.too_big)
        start_from = self.continue_from()
        if start_from is not None:
            lines.append(
                f"The run starts from the checkpoint {start_from.name} and numbers its steps on from it (c on another checkpoint changes it)."
            )
        settings = project.settings
        vectors = f"{settings.token.vectors} vector(s)" if settings.token.vectors else "the suggested number of vectors"
        lines.append(f"The trigger {settings.token.trigger!r} is learned as {vectors}, starting from {settings.token.init_text!r}.")
        try:
            schedule = LearningRateSchedule.from_settings(settings.schedule, settings.training.steps)
            lines.append("Learning rate: " + "; ".join(schedule.describe()) + ".")
        except ScheduleError as error:
            lines.append(f"Learning rate: {error}")
        self.post_message(self.Planned("\n".join(lines)))

    @on(Planned)
    def planned(self, message: Planned) -> None:
        self.plan_text = message.text
        self.draw_plan()

    def draw_plan(self) -> None:
        problems = [finding for finding in self.app.state.problems if finding.severity == "error"]
        lines = [self.plan_text]
        if problems:
            lines.append("\nWhat stops a run now:")
            lines += [f"! {finding.what} ({_where_to_fix(finding)})" for finding in problems]
        else:
            lines.append("\nPress t to start training.")
        self.query_one("#plan-text", Static).update("\n".join(lines))

    def show_state(self, state) -> None:
        super().show_state(state)
        if self.is_mounted:
            self.draw_plan()

    @work(thread=True, exit_on_error=False, exclusive=True, group="runs")
    def list_runs(self, project, show_current: bool = False) -> None:
        """The project's runs, newest first; the one followed gets its state from the follower, not a second read.

        `show_current` follows the run a trainer is at work on (an older run resumed, maybe), else the newest.
        """
        from ti_tui.usecases.training import active_run, list_runs

        runs = list(reversed(list_runs(project)))
        followed = self.run
        if show_current and runs:
            followed = active_run(project) or runs[0]
            self.app.call_from_thread(self._show_current, followed)
        self.post_message(self.RunsListed([_run_row(run, with_state=run != followed) for run in runs]))

    def _show_current(self, run: RunDirectory) -> None:
        if self.run is None:
            self.show_run(run)
            self.query_one(TabbedContent).active = "loss"

    @on(RunsListed)
    def runs_listed(self, message: RunsListed) -> None:
        self.runs = message.rows
        self.draw_runs()

    def draw_runs(self) -> None:
        table = self.query_one("#run-table", DataTable)
        row_at = table.cursor_row
        table.clear()
        for row in self.runs:
            shown = ">" if row.run == self.run else ""
            state = row.state
            if row.run == self.run and self.view is not None:
                state = _state_words(self.view.status)
            table.add_row(shown, row.run.id, state, row.steps, row.started, row.parent, key=row.run.id)
        if self.runs:
            table.move_cursor(row=min(row_at, len(self.runs) - 1))
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#run-table")
    def run_chosen(self, event: DataTable.RowSelected) -> None:
        row = self.runs[event.cursor_row]
        self.show_run(row.run)
        self.overlay = None
        self.query_one(TabbedContent).active = "loss"

    # Keys --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        status = self.view.status if self.view is not None else None
        active = status is not None and status.active
        panel = self.query_one(TabbedContent).active if self.is_mounted else ""
        if action in ("pause", "stop", "save", "preview"):
            return active
        if action == "resume":
            return status is not None and status.resumable
        if action == "continue_from":
            return panel == "checkpoints" and bool(self.view and self.view.checkpoints)
        if action == "overlay":
            return panel in ("runs", "loss") and len(self.runs) > 1
        if action == "previews":
            return panel == "previews"
        return super().check_action(action, parameters)

    def action_panel(self, offset: int) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = PANELS[(PANELS.index(tabs.active) + offset) % len(PANELS)]

    def action_previews(self, offset: int) -> None:
        self.preview_index = max(0, self.preview_index + offset)
        if self.view is not None:
            self.draw_previews(self.view)

    def action_start(self) -> None:
        self.notify("Starting a run...")
        self.start_run(self.app.project, self.continue_from())

    @work(thread=True, exit_on_error=False, exclusive=True, group="start")
    def start_run(self, project, start_from: Path | None) -> None:
        from ti_tui.usecases.training import start_new_run

        try:
            self.post_message(self.Started(*start_new_run(project, start_from=start_from)))
        except UserError as error:
            if start_from is not None and not start_from.is_file():
                self.app.call_from_thread(self.forget_continue_from)  # gone: the next t starts from the init text
            self.post_message(self.Refused(str(error)))

    def action_resume(self) -> None:
        self.resume(self.app.project, self.run)

    @work(thread=True, exit_on_error=False, exclusive=True, group="start")
    def resume(self, project, run: RunDirectory) -> None:
        from ti_tui.usecases.training import resume_run

        try:
            self.post_message(self.Started(run, resume_run(project, run)))
        except UserError as error:
            self.post_message(self.Refused(str(error)))

    @on(Started)
    def started(self, message: Started) -> None:
        self.app.keep_trainer(message.process)
        if self.continue_from() is not None and message.run.facts().initial_embedding is not None:
            self.forget_continue_from()
        self.notify(f"Run {message.run.id} started; it goes on if the wizard closes.", markup=False)
        self.show_run(message.run)
        self.query_one(TabbedContent).active = "loss"
        self.list_runs(self.app.project)
        self.app.refresh_state()

    @on(Refused)
    def refused(self, message: Refused) -> None:
        self.notify(message.text, severity="error", markup=False, timeout=12)

    def action_pause(self) -> None:
        if self.view.status.state == "paused":
            self.run.ask_to_go_on()
            self.notify("Going on.")
        else:
            self.run.ask_to_pause()
            self.notify("The run pauses after the current step; p again goes on.")

    def action_stop(self) -> None:
        from ti_tui.usecases.training import stop_run

        try:
            stop_run(self.run)
            self.notify("The run saves a checkpoint and stops after the current step.")
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)

    def action_save(self) -> None:
        self.run.ask_to_save()
        self.notify("A checkpoint comes after the current step.")

    def action_preview(self) -> None:
        self.run.ask_for_previews()
        self.notify("Previews come after the current step.")

    def action_continue_from(self) -> None:
        from ti_tui.usecases.training import checkpoint_to_start_from

        table = self.query_one("#checkpoint-table", DataTable)
        checkpoint = self.view.checkpoints[table.cursor_row]
        try:
            checkpoint_to_start_from(checkpoint.path)
        except UserError as error:
            self.notify(str(error), severity="error", markup=False, timeout=12)
            return
        self.app.services.memory.remember_value(CONTINUE_FROM + os.fspath(self.app.project.root), os.fspath(checkpoint.path))
        self.notify(
            f"The next run starts from step {checkpoint.step} of run {self.run.id}. Set its schedule, then press t on Train.",
            markup=False,
            timeout=10,
        )
        self.app.open_step("settings", focus="schedule-learning_rate")

    def continue_from(self) -> Path | None:
        """The checkpoint chosen with c, even if it is gone since: starting a run then says so."""
        chosen = self.app.services.memory.value(CONTINUE_FROM + os.fspath(self.app.project.root))
        return Path(chosen) if chosen else None

    def forget_continue_from(self) -> None:
        self.app.services.memory.forget_value(CONTINUE_FROM + os.fspath(self.app.project.root))
        self.work_out_plan(self.app.project)

    def action_overlay(self) -> None:
        table = self.query_one("#run-table", DataTable)
        row = self.runs[table.cursor_row] if self.runs else None
        if row is None or row.run == self.run:
            row = next((other for other in self.runs if other.run != self.run), None)
        if self.overlay is not None and row is not None and self.overlay.label == f"run {row.run.id}":
            self.overlay = None
            self.drawn.pop("loss", None)
            self.query_one(TabbedContent).active = "loss"
            self.draw_panel("loss")
            return
        if row is not None:
            self.read_validation(row.run)

    @work(thread=True, exit_on_error=False, group="overlay")
    def read_validation(self, run: RunDirectory) -> None:
        with read_history(run) as history:
            steps, values = history.validation.points(CURVE_POINTS)
        self.post_message(self.Overlaid(run, Curve(f"run {run.id}", steps.tolist(), values.tolist(), "error", dotted=len(steps) < 20)))

    @on(Overlaid)
    def overlaid(self, message: Overlaid) -> None:
        if not message.curve.steps:
            self.notify(f"Run {message.run.id} has no validation losses to compare.", markup=False)
            return
        self.overlay = message.curve
        self.drawn.pop("loss", None)
        self.query_one(TabbedContent).active = "loss"
        self.draw_panel("loss")
        self.notify(f"The validation loss of run {message.run.id} is drawn over this run's.", markup=False)


_ENDED_RUN_ROWS: dict[tuple, RunRow] = {}  # by (folder, size and time of its log): an ended run's row does not change


def _run_row(run: RunDirectory, with_state: bool) -> RunRow:
    try:
        log = run.events_file.stat()
        key = (run.path, log.st_size, log.st_mtime_ns)
    except OSError:
        key = None
    if with_state and key in _ENDED_RUN_ROWS:
        return _ENDED_RUN_ROWS[key]
    try:
        facts = run.facts()
        status = run_status(run) if with_state else None
    except UserError as error:
        return RunRow(run, "damaged", "", "", str(error))
    steps = f"{facts.first_step + 1}-{facts.last_step}" if facts.first_step else str(facts.steps)
    parent = f"{facts.parent.run} step {facts.parent.step}" if facts.parent else ""
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(facts.created))
    row = RunRow(run, _state_words(status) if status else "", steps, started, parent)
    if status is not None and not status.active and status.state != "lost" and key is not None:
        _ENDED_RUN_ROWS[key] = row
    return row


def _state_words(status: RunStatus) -> str:
    return f"{status.state}, step {status.step} of {status.total_steps}"


def _where_to_fix(finding) -> str:
    step = FIXED_AT.get(finding.check)
    return f"the {STEP_TITLES[step]} step mends it" if step else "doctor explains it"
