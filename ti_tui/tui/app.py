"""The wizard: a start screen, then one screen per step of the journey, over one project at a time.

`create_app` builds it; tests hand it `Services` whose calls are fakes. The app holds the open
project and where each step stands (worked out afresh from the files after every change, in a
worker); screens read both and are told of changes through two signals. An error nobody foresaw,
in any screen or widget, is survived where it can be: the user's typing saved, a notice, the
screen opened afresh.
"""

import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from textual import events, work
from textual._context import active_message_pump
from textual.app import App
from textual.binding import Binding
from textual.dom import NoScreen
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState, get_current_worker

from ti_tui.errors import UserError
from ti_tui.findings import Finding
from ti_tui.fsutil import atomic_write_text
from ti_tui.project import Project, ProjectChangedOnDiskError
from ti_tui.tui.commands import StepCommands
from ti_tui.tui.services import Services
from ti_tui.usecases.journey import STEPS, Step, StepState
from ti_tui.usecases.summary import ProjectSummary

WATCH_FILE_SECONDS = 2.0
CONTINUE_FROM = "continue-from:"  # + the project's folder: the checkpoint the next run starts from


@dataclass
class ProjectState:
    """What the screens show of the open project: each step's state, and the project's own problems."""

    steps: dict[Step, StepState] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    summary: ProjectSummary | None = None


class WizardApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "ti-tui"
    COMMANDS = App.COMMANDS | {StepCommands}
    BINDINGS = [
        Binding(
            "ctrl+o", "start", "Projects", tooltip="The start screen: recent projects, a new one, the sample", show=False, id="app.projects"
        ),
        Binding("ctrl+r", "reload", "Reload project.toml", show=False, priority=True, id="app.reload"),
        Binding("question_mark", "show_keys", "Keys", key_display="?", id="app.keys"),
        Binding("f1", "show_keys", "Keys", id="app.keys-in-a-field"),  # the footer shows it where ? is typing
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("ctrl+p", "command_palette", "Find", tooltip="Find a step, an action or a setting by name", id="app.find"),
    ]

    def __init__(self, project: Project | None, services: Services):
        super().__init__()
        self.services = services
        self.project = project
        self.state = ProjectState()
        self.state_changed: Signal[ProjectState] = Signal(self, "state-changed")
        self.settings_reloaded: Signal[Project] = Signal(self, "settings-reloaded")
        self.file_changed_elsewhere = False
        self.device_probes: dict = {}  # by (device, precision) setting: what a run would train on here
        self.probing = threading.Lock()  # workers of two screens asking at once wait for one probe
        self.trainers: list = []  # trainers this wizard started: reaped when they end, left running when it quits
        self.screens_to_reopen: list[Screen] = []  # stopped by an error, to be put back as new
        self.fresh_after_error: Screen | None = None  # opened afresh after an error, and no key pressed since
        self.arriving: Screen | None = None  # shown but not yet built: the keys typed meanwhile wait for it
        self.keys_for_arriving: list[events.Key] = []
        self.keys_in_hand = 0  # keys the app is handling now: a dialog pushed meanwhile is the user's doing

    def on_mount(self) -> None:
        self.set_interval(WATCH_FILE_SECONDS, self.notice_edits_elsewhere)
        self.set_interval(WATCH_FILE_SECONDS, self.reap_trainers)
        self.set_interval(WATCH_FILE_SECONDS, self.notice_a_run_ending)
        if self.project is None:
            self.action_start()
        else:
            self.open_project(self.project)

    # Projects and steps ----------------------------------------------------------------------

    def action_start(self) -> None:
        from ti_tui.tui.screens.start import StartScreen

        self.switch_to(StartScreen())

    def open_project(self, project: Project, step: Step | None = None) -> None:
        """Show `project` on `step`; by default where it was left, or on Train while a run is at work."""
        from ti_tui.usecases.journey import has_active_run

        self.project = project
        self.file_changed_elsewhere = False
        self.sub_title = project.name
        if step is None:
            remembered = self.services.memory.last_step(project.root)
            step = "train" if has_active_run(project) else remembered if remembered in STEPS else "images"
        self.state = ProjectState()
        self.open_step(step)
        self.call_after_refresh(self.refresh_state)  # the first screen is drawn before any work competes with it

    def open_step(self, step: Step, focus: str | None = None) -> None:
        from ti_tui.tui.screens import step_screen

        self.services.memory.remember(self.project.root, step)
        self.switch_to(step_screen(step, focus))

    def steps_looked_at(self) -> set[Step] | None:
        """The steps the user has opened on this project; None once it has a run (trained, so looked at)."""
        train = self.state.steps.get("train")
        if self.project is None or train is not None and train.progress != "not-yet":  # Train is "not yet" without runs
            return None
        return set(self.services.memory.seen_steps(self.project.root))

    def continue_from(self) -> Path | None:
        """The checkpoint chosen with c on Train for the next run to start from, even if it is gone since
        (starting the run then says so); None for a run from the init text."""
        chosen = self.services.memory.value(CONTINUE_FROM + os.fspath(self.project.root))
        return Path(chosen) if chosen else None

    def set_continue_from(self, checkpoint: Path | None) -> None:
        name = CONTINUE_FROM + os.fspath(self.project.root)
        if checkpoint is None:
            self.services.memory.forget_value(name)
        else:
            self.services.memory.remember_value(name, os.fspath(checkpoint))

    def switch_to(self, screen) -> None:
        self.flush_edits()
        if self.screen_stack and len(self.screen_stack) > 1:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    @work(thread=True, exit_on_error=False, exclusive=True, group="project-state")
    def refresh_state(self) -> None:
        """Where every step stands, from the files; the screens hear of it through `state_changed`."""
        project = self.project
        try:
            summary = self.services.summarize(project)
            state = ProjectState(self.services.step_states(project, summary), summary.problems, summary)
        except UserError as error:
            state = ProjectState(problems=[Finding("error", str(error), fix=error.fix)])
        except OSError as error:
            state = ProjectState(problems=[Finding("error", f"{error.filename or 'a file'}: {error.strerror or error}")])
        if not get_current_worker().is_cancelled:  # a newer look at the files is on its way
            self.call_from_thread(self._publish_state, project, state)

    def _publish_state(self, project: Project, state: ProjectState) -> None:
        if project is self.project:
            self.state = state
            self.state_changed.publish(state)

    # Settings --------------------------------------------------------------------------------

    def save_settings(self, changes: dict) -> list[Finding] | None:
        """Write settings through the core; their problems, in doctor's words, when they are not allowed;
        None when nothing could be written at all (the file was changed elsewhere, or cannot be written)."""
        try:
            update = self.project.update(changes)
        except ProjectChangedOnDiskError:
            self.file_changed_elsewhere = True
            self.notify(
                "project.toml was changed by another program, so this change was not saved. Press ctrl+r to reload it.",
                severity="warning",
                markup=False,
            )
            return None
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return None
        if update.changed:
            self.refresh_state()
        return update.problems

    def device_for(self, project: Project, before_probing=None):
        """What a run of `project` would train on here (a DeviceProbe), examined once per device and
        precision setting in a helper process; call it from a worker. `before_probing` runs first when it must wait."""
        model = project.settings.model
        key = (model.device, model.precision)
        with self.probing:
            if key not in self.device_probes:
                if before_probing is not None:
                    before_probing()
                self.device_probes[key] = self.services.probe_device(*key)
            return self.device_probes[key]

    def keep_trainer(self, process) -> None:
        self.trainers.append(process)

    def reap_trainers(self) -> None:
        self.trainers = [process for process in self.trainers if process.poll() is None]

    def notice_a_run_ending(self) -> None:
        """The steps bar follows a run's end on every step, not only on Train, which watches the run itself."""
        train = self.state.steps.get("train") if self.project is not None else None
        if train is None or not train.run_at_work:
            return
        from ti_tui.usecases.training import active_run

        try:
            ended = active_run(self.project) is None
        except (UserError, OSError):
            ended = True  # what went wrong is for the refreshed state to say
        if ended:
            self.refresh_state()

    def notice_edits_elsewhere(self) -> None:
        if self.project is not None and not self.file_changed_elsewhere and self.project.store.changed_on_disk():
            self.file_changed_elsewhere = True
            self.notify("project.toml was changed by another program. Press ctrl+r to reload it; nothing here overwrites it.", markup=False)

    def action_reload(self) -> None:
        try:
            self.project.store.reload()
        except UserError as error:
            self.notify(str(error), severity="error", markup=False, timeout=10)
            return
        self.file_changed_elsewhere = False
        self.settings_reloaded.publish(self.project)
        self.refresh_state()
        self.notify("Reloaded project.toml.")

    def flush_edits(self) -> None:
        flush = getattr(self.screen, "flush_edits", None) if self.screen_stack else None
        if flush is not None:
            flush()

    async def action_quit(self) -> None:
        self.flush_edits()
        self.exit()

    def exit(self, *arguments, **keywords) -> None:
        """Closing waits for every worker thread; those waiting on a helper process (a device probe takes
        seconds to import torch) end with it. A trainer the wizard started goes on in its own session."""
        from ti_tui.detached import end_helper_processes

        end_helper_processes()
        super().exit(*arguments, **keywords)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_failure(event)

    def report_failure(self, event: Worker.StateChanged) -> None:
        """Work that failed in a way nobody foresaw: said on the screen, never a traceback on the terminal.

        Worker events do not bubble: every screen hands its own to this."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.log.error(f"worker {event.worker.name} failed", error)
            self.notify(
                f"Something went wrong ({type(error).__name__}: {error}); the wizard goes on.", severity="error", markup=False, timeout=15
            )

    # Errors nobody foresaw --------------------------------------------------------------------

    async def _dispatch_message(self, message) -> None:
        """The app's own messages, and the keys with the actions they set off: one that raises is survived
        (Textual would stop the app's message loop, and with it the wizard)."""
        if isinstance(message, events.Key):
            self.fresh_after_error = None
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            self.survive(error, "the wizard goes on")

    def _handle_exception(self, error: Exception) -> None:
        """Whatever else raised, anywhere: Textual's one place for it, where it would end the wizard with a traceback.

        The message loop of the screen or widget that raised has stopped, so after the user's typing is
        saved its screen is put back as new (a dialog is closed), with a notice. The wizard ends, with the
        message and exit status 1, only where it cannot go on: the app itself failed, or a screen opened
        afresh failed again before a key was pressed.
        """
        from ti_tui.tui.screens.start import StartScreen
        from ti_tui.tui.screens.step import StepScreen

        failed = active_message_pump.get(None)
        screen = failed if isinstance(failed, Screen) else _screen_of(failed)
        if screen in self.screens_to_reopen:
            self.log.error("another error from a screen about to be opened afresh", error)
        elif (
            self._exit
            or failed is self
            or screen is self.fresh_after_error
            or screen not in self.screen_stack
            or not isinstance(screen, (ModalScreen, StepScreen, StartScreen))
        ):
            self.give_up(error)
        else:
            self.screens_to_reopen.append(screen)
            self.survive(error, "the dialog is closed" if isinstance(screen, ModalScreen) else "the screen is opened afresh")
            self.call_later(self.reopen, screen)

    def survive(self, error: Exception, outcome: str) -> None:
        self._exception = self._exception or error  # run_test hands it on at its end, so no test passes over one
        saved = self.save_edits_after_error()
        self.notify(
            f"Something went wrong ({_error_words(error)}); {outcome}. {saved}{self.write_error_report(error)}",
            severity="error",
            timeout=30,
            markup=False,
        )

    def give_up(self, error: Exception) -> None:
        self._exception = self._exception or error
        saved = self.save_edits_after_error()
        report = self.write_error_report(error)
        self.exit(return_code=1, message=f"ti-tui stopped on an error it did not expect ({_error_words(error)}). {saved}{report}")

    def save_edits_after_error(self) -> str:
        """Save what is typed on every open screen; the sentence that says so, for the notice."""
        try:
            for screen in self.screen_stack:
                flush = getattr(screen, "flush_edits", None)
                if flush is not None:
                    flush()
        except Exception as error:
            return f"What you typed could not all be saved ({_error_words(error)})."
        return "What you typed is saved."

    def write_error_report(self, error: Exception) -> str:
        """The traceback, into a file beside the wizard's memory; the sentence naming it ("" if it cannot be written)."""
        path = self.services.memory.path.parent / "last-error.txt"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, "".join(traceback.format_exception(error)))
        except OSError:
            return ""
        return f" The details are in {path}."

    async def reopen(self, screen: Screen) -> None:
        """`screen`, whose message loop stopped on an error, put back as new: a dialog closed, a step opened afresh."""
        from ti_tui.tui.screens import step_screen
        from ti_tui.tui.screens.start import StartScreen

        self.screens_to_reopen.remove(screen)
        if screen not in self.screen_stack:
            return
        while self.screen is not screen:  # the dialogs above it go with it
            await self.pop_screen()
        if isinstance(screen, ModalScreen):
            await self.pop_screen()
            return
        fresh = StartScreen() if isinstance(screen, StartScreen) else step_screen(screen.STEP)
        self.fresh_after_error = fresh
        await self.switch_screen(fresh)

    # Keys -------------------------------------------------------------------------------------

    @dataclass
    class ScreenBuilt(Message):
        """The screen shown last has its widgets, and the one meant for typing has focus."""

        screen: Screen

    def push_screen(self, screen, *arguments, **keywords):
        # A dialog a key opens is typed into at once; one that a worker's news opens (an export's question)
        # is not: what was typed before it came up was meant for what was there.
        if self.keys_in_hand and active_message_pump.get() is self:
            self.hold_keys_for(screen)
        return super().push_screen(screen, *arguments, **keywords)

    def switch_screen(self, screen):
        self.hold_keys_for(screen)  # another step, or the start screen: only ever the user's doing
        return super().switch_screen(screen)

    def hold_keys_for(self, screen: Screen) -> None:
        """Keys typed in the moment after the one that opens a screen are meant for it. Textual hands them on
        at once: to the field being left (those it does not take come back to the app, to act on the new
        screen's keys), or to the new screen before any field of it has focus. They were lost; they now wait
        until the screen is built, then go to the field it focuses. Keys that the field being left takes as
        typing stay there, as Textual gave them to it before the screen changed."""
        if isinstance(screen, Screen) and not screen.is_mounted:
            self.arriving = screen
            # Called after the screen's mount and resume, which focus the widget meant for typing.
            screen.call_after_refresh(self.post_message, self.ScreenBuilt(screen))

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key):
            await super().on_event(event)
            return
        if self.arriving is not None:
            if self.arriving in self.screen_stack:
                self.keys_for_arriving.append(events.Key(event.key, event.character))  # handed on afresh
                return
            # Closed before it was built (an error, say): what was typed for it is not for the screen below.
            self.arriving = None
            self.keys_for_arriving.clear()
        self.keys_in_hand += 1
        try:
            await super().on_event(event)
        finally:
            self.keys_in_hand -= 1

    async def on_wizard_app_screen_built(self, message: ScreenBuilt) -> None:
        if message.screen is self.arriving:
            await self.hand_on_held_keys()

    async def hand_on_held_keys(self) -> None:
        """In the order typed; a key among them that opens another screen has the rest wait for that one."""
        self.arriving = None
        held, self.keys_for_arriving = self.keys_for_arriving, []
        if held:
            self.fresh_after_error = None  # a key pressed since, as _dispatch_message would have noted
        for key in held:
            await self.on_event(key)

    def action_show_keys(self) -> None:
        from ti_tui.tui.screens.keys import KeysScreen

        if isinstance(self.screen, KeysScreen):
            self.screen.dismiss()
            return
        screen = self.screen
        focused = screen.focused
        screen.set_focus(None)  # a focused field hides the letter keys it takes as typing
        self.push_screen(KeysScreen(screen), lambda _: screen.set_focus(focused))


def _screen_of(node) -> Screen | None:
    try:
        return node.screen if node is not None else None
    except NoScreen:
        return None


def _error_words(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def create_app(project: Project | None = None, services: Services | None = None) -> WizardApp:
    """The wizard, on `project` or on the start screen; tests pass `services` with fakes."""
    return WizardApp(project, services or Services())
