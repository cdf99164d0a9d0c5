"""The Train step: the plan before a run, the run live while it goes (from its events, never from the
trainer's memory), what became of it after, and the project's earlier runs.

A worker thread follows the shown run's events.jsonl and posts looks at it, thinned for drawing; the
screen hands each look to its panels (ti_tui/tui/widgets/train_panels), which draw it. So the dashboard
is the same whether this wizard started the run, another one did, or the wizard was closed and opened
again while the trainer went on.
"""

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import var
from textual.signal import Signal
from textual.widgets import ProgressBar, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from ti_tui.errors import UserError
from ti_tui.runs import RunDirectory, run_status
from ti_tui.runs.status import read_history
from ti_tui.schedule import LearningRateSchedule, ScheduleError
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.curve_plot import Curve
from ti_tui.tui.widgets.train_panels import (
    CURVE_POINTS,
    CheckpointsPanel,
    LogPanel,
    LossPanel,
    PlanPanel,
    PreviewsPanel,
    RatePanel,
    RunPanel,
    RunRow,
    RunsPanel,
    RunView,
    VectorsPanel,
    look_at,
    run_row,
)

GUIDANCE = (
    "Training teaches the model your word and goes on if the wizard closes or SSH drops. The validation loss "
    "should fall and the previews look more like your subject; once they copy the photos, keep an earlier "
    "checkpoint. Next: Compare."
)
POLL_SECONDS = 0.25
STATUS_EVERY_SECONDS = 1.0


class TrainScreen(StepScreen):
    STEP = "train"
    GUIDANCE = GUIDANCE
    CSS_PATH = "train.tcss"
    AUTO_FOCUS = "#panels Tabs"  # the arrows then move between the panels; a panel with a table gives it focus
    BINDINGS = [
        Binding("t", "start", "Train", tooltip="Start a run with the project's settings", id="train.start"),
        # While a run is at work t is not offered (the footer has no room for a key that cannot act), yet
        # pressed it still says why no second run starts.
        Binding("t", "start_beside_the_run", show=False, id="train.start-while-running"),
        Binding("p", "pause", "Pause", tooltip="Pause the run, or go on with it", id="train.pause"),
        Binding("x", "stop", "Stop", tooltip="Save a checkpoint, then stop", id="train.stop"),
        # Besides the scheduled ones, so in ? and not the footer: at 80 columns it has room for the keys that steer.
        Binding("s", "save", "Save", tooltip="A checkpoint now, besides the scheduled ones", show=False, id="train.save"),
        Binding("v", "preview", "Preview", tooltip="Render previews now", show=False, id="train.preview"),
        Binding("u", "resume", "Resume", tooltip="Carry the run on exactly where its last checkpoint left it", id="train.resume"),
        Binding(
            "c",
            "continue_from",
            "Continue from here",
            tooltip="A new run from the chosen checkpoint, with a new schedule",
            id="train.continue-from",
        ),
        Binding("o", "overlay", "Overlay", tooltip="Lay the chosen run's validation loss over this run's", id="train.overlay"),
        Binding("comma", "previews(1)", "Earlier previews", key_display=",", id="train.earlier-previews"),
        Binding("full_stop", "previews(-1)", "Later previews", key_display=".", show=False, id="train.later-previews"),
        Binding("less_than_sign", "panel(-1)", "Previous panel", key_display="<", show=False, id="train.previous-panel"),
        # The tabs show the panels.
        Binding("greater_than_sign", "panel(1)", "Next panel", key_display=">", show=False, id="train.next-panel"),
    ]

    running = var(False, bindings=True)  # the shown run is at work: pause, stop, save and preview act on it
    resumable = var(False, bindings=True)
    panel_in_sight = var("plan", bindings=True)  # the keys for what a panel shows act on that panel only

    @dataclass
    class Seen(Message):
        """A look at the run followed."""

        view: RunView

    @dataclass
    class RunsListed(Message):
        rows: list[RunRow]

    @dataclass
    class Planned(Message):
        text: str

    @dataclass
    class Started(Message):
        run: RunDirectory
        process: subprocess.Popen

    @dataclass
    class Refused(Message):
        text: str

    @dataclass
    class Overlaid(Message):
        """Another run's validation loss, read to lay over this run's."""

        run: RunDirectory
        curve: Curve

    def __init__(self):
        super().__init__()
        self.run: RunDirectory | None = None
        self.view: RunView | None = None  # the latest look at the run
        self.changed: Signal[RunView] = Signal(self, "run-seen")  # for tests: a look at the run was drawn
        self.plan_panel = PlanPanel()
        self.loss_panel = LossPanel()
        self.previews_panel = PreviewsPanel()
        self.checkpoints_panel = CheckpointsPanel()
        self.runs_panel = RunsPanel()

    def compose_body(self) -> ComposeResult:
        yield Static("No run yet.", id="run-state", markup=False)
        with Horizontal(id="run-progress"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static("", id="speed", markup=False)
        with TabbedContent(id="panels", initial="plan"):
            yield self.plan_panel
            yield self.loss_panel
            yield RatePanel()
            yield VectorsPanel()
            yield self.previews_panel
            yield self.checkpoints_panel
            yield LogPanel()
            yield self.runs_panel

    def watch_running(self) -> None:
        if self.plan_panel.is_mounted:
            self.plan_panel.draw(self.app.state)  # its last line says whether t starts a run now

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#run-progress").display = False
        self.work_out_plan(self.app.project)
        self.list_runs(self.app.project, show_current=True)

    # Following a run -----------------------------------------------------------------------

    def show_run(self, run: RunDirectory) -> None:
        """Follow `run` from the start of its log: its history replayed, then what comes."""
        self.run, self.view = run, None
        self.running = self.resumable = False
        self.query_one("#run-state", Static).update(f"Run {run.id}: reading its history...")
        for panel in self.query(RunPanel):
            panel.follow(run)
        self.follow(run)

    @work(thread=True, exit_on_error=False, exclusive=True, group="follow")
    def follow(self, run: RunDirectory) -> None:
        from ti_tui.usecases.checkpoints import earlier_checkpoint_rows

        worker = get_current_worker()
        status, read, last_look = None, -1, 0.0
        try:
            earlier = earlier_checkpoint_rows(self.app.project, run)  # once: the runs it goes on from are done
        except UserError:
            earlier = []
        while not worker.is_cancelled:
            try:
                with read_history(run) as history:
                    arrived = history.events_read != read
                    if arrived or time.monotonic() - last_look > STATUS_EVERY_SECONDS:
                        previous, read, last_look = status, history.events_read, time.monotonic()
                        status = run_status(run, history)
                        if arrived or status != previous:
                            self.post_message(self.Seen(look_at(run, history, status, earlier)))
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
        self.running, self.resumable = view.status.active, view.status.resumable
        self.draw_head(view)
        for panel in self.query(RunPanel):
            panel.look(view)
        if was_active and not view.status.active:
            self.list_runs(self.app.project)
            self.app.refresh_state()
            self.notify(f"Run {view.run.id}: {view.status.describe()}", markup=False, timeout=10)
        self.changed.publish(view)

    def draw_head(self, view: RunView) -> None:
        status = view.status
        if view.caching and status.active:
            words = f"caching the images' latents {view.caching[0]}/{view.caching[1]}"
        elif view.busy and status.state == "running":
            what, done, total = view.busy
            words = f"{status.describe()}; {what} {done + 1}/{total}"
        else:
            words = status.describe()
        self.query_one("#run-state", Static).update(f"Run {view.run.id}: {words}")
        self.query_one("#run-progress").display = True
        progress = self.query_one("#progress", ProgressBar)
        progress.update(total=max(1, view.total_steps - view.first_step), progress=max(0, view.step - view.first_step))
        self.query_one("#speed", Static).update(view.speed)

    @on(TabbedContent.TabActivated)
    def panel_shown(self, event: TabbedContent.TabActivated) -> None:
        self.panel_in_sight = event.pane.id
        if isinstance(event.pane, RunPanel):
            event.pane.come_into_sight()

    def show_panel(self, panel: str) -> None:
        self.query_one(TabbedContent).active = panel

    # The plan and the runs --------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, exclusive=True, group="plan")
    def work_out_plan(self, project) -> None:
        from ti_tui.tui.format import describe_forecast
        from ti_tui.usecases.forecast import forecast_run
        from ti_tui.usecases.training import first_step_after, notes_before_a_run

        device = self.app.device_for(project)
        forecast = forecast_run(project, device, count_work_of_model=self.app.services.count_model_work)
        lines = [describe_forecast(forecast, project, device)]
        if forecast.too_big:
            lines.append(forecast.too_big)
        lines += [f"Note: {note}" for note in notes_before_a_run(project)]
        start_from = self.app.continue_from()
        first_step = first_step_after(start_from)
        settings = project.settings
        if start_from is not None:
            numbered = f", steps {first_step + 1}-{first_step + settings.training.steps}" if first_step else ""
            lines.append(
                f"The run starts from the checkpoint {start_from.name} and numbers its steps on from it{numbered} "
                "(c on another checkpoint changes it)."
            )
        vectors = f"{settings.token.vectors} vector(s)" if settings.token.vectors else "the suggested number of vectors"
        lines.append(f"The trigger {settings.token.trigger!r} is learned as {vectors}, starting from {settings.token.init_text!r}.")
        try:
            schedule = LearningRateSchedule.from_settings(settings.schedule, settings.training.steps)
            lines.append("Learning rate: " + "; ".join(schedule.describe(first_step)) + ".")
        except ScheduleError as error:
            lines.append(f"Learning rate: {error}")
        self.post_message(self.Planned("\n".join(lines)))

    @on(Planned)
    def planned(self, message: Planned) -> None:
        self.plan_panel.show_plan(message.text)

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
        self.post_message(self.RunsListed([run_row(run, with_state=run != followed) for run in runs]))

    def _show_current(self, run: RunDirectory) -> None:
        if self.run is None:
            self.show_run(run)
            self.show_panel("loss")

    @on(RunsListed)
    def runs_listed(self, message: RunsListed) -> None:
        self.runs_panel.rows = message.rows

    @on(RunsPanel.Chosen)
    def run_chosen(self, message: RunsPanel.Chosen) -> None:
        self.show_run(message.run)
        self.loss_panel.lay_over(None, None)
        self.show_panel("loss")

    # Keys --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in ("pause", "stop", "save", "preview", "start_beside_the_run"):
            return self.running
        if action == "start":
            return not self.running
        if action == "resume":
            return self.resumable
        if action == "continue_from":
            return self.panel_in_sight == "checkpoints" and self.checkpoints_panel.chosen is not None
        if action == "overlay":
            return self.panel_in_sight in ("runs", "loss") and len(self.runs_panel.rows) > 1
        if action == "previews":
            return self.panel_in_sight == "previews"
        return super().check_action(action, parameters)

    def action_panel(self, offset: int) -> None:
        tabs = self.query_one(TabbedContent)
        panels = [pane.id for pane in tabs.query(TabPane)]
        tabs.active = panels[(panels.index(tabs.active) + offset) % len(panels)]

    def action_previews(self, offset: int) -> None:
        self.previews_panel.turn(offset)

    def action_start(self) -> None:
        self.notify("Starting a run...")
        self.start_run(self.app.project, self.app.continue_from())

    def action_start_beside_the_run(self) -> None:
        self.start_run(self.app.project, self.app.continue_from())  # the core refuses, naming the run at work

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
        if self.app.continue_from() is not None and message.run.facts().initial_embedding is not None:
            self.forget_continue_from()
        self.notify(f"Run {message.run.id} started; it goes on if the wizard closes.", markup=False)
        self.show_run(message.run)
        self.show_panel("loss")
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

        checkpoint = self.checkpoints_panel.chosen
        if checkpoint is None:
            return
        try:
            checkpoint_to_start_from(checkpoint.path)
        except UserError as error:
            self.notify(str(error), severity="error", markup=False, timeout=12)
            return
        self.app.set_continue_from(checkpoint.path)
        self.notify(
            f"The next run starts from step {checkpoint.step} of run {self.run.id}. Set its schedule, then press t on Train.",
            markup=False,
            timeout=10,
        )
        self.app.open_step("settings", focus="schedule-learning_rate")

    def forget_continue_from(self) -> None:
        self.app.set_continue_from(None)
        self.work_out_plan(self.app.project)

    def action_overlay(self) -> None:
        run = self.runs_panel.other_run()
        if run is None:
            return
        if self.loss_panel.overlaid_run == run:
            self.loss_panel.lay_over(None, None)
            self.show_panel("loss")
        else:
            self.read_validation(run)

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
        self.loss_panel.lay_over(message.run, message.curve)
        self.show_panel("loss")
        self.notify(f"The validation loss of run {message.run.id} is drawn over this run's.", markup=False)
