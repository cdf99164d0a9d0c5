"""What a run is doing now, told from its folder alone, and following it as it goes."""

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ti_tui.detached import process_alive
from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.runs.directory import Checkpoint, Launch, RunDirectory, RunFacts
from ti_tui.runs.events import FINAL_EVENT, RunWatcher, duration, event_fix
from ti_tui.runs.history import RunHistory

RunState = Literal["starting", "running", "paused", "stalled", "finished", "stopped", "failed", "lost"]
STATE_AFTER = {"completed": "finished", "stopped": "stopped", "failed": "failed"}  # by the final event's reason
# A launched trainer that has not taken its lock after this long is not starting any more.
STARTUP_GRACE_SECONDS = 120
POLL_SECONDS = 0.25
STATUS_EVERY_SECONDS = 2.0
# A live trainer that has written nothing for this many of its steps, and this long, is not responding.
# Between steps it validates (every image, a few times over) and draws previews (an event each), so
# the allowance grows with the images.
STALLED_AFTER_STEPS = 100
STALLED_AFTER_STEPS_PER_IMAGE = 2
STALLED_AFTER_SECONDS = 15 * 60
# Before that, a trainer quiet for this many of its steps, and this long, is said to be so: one preview
# image at 20 sampling steps takes some 20 steps' time, and each image of a pass writes an event.
QUIET_AFTER_STEPS = 30
QUIET_AFTER_SECONDS = 60


@dataclass
class RunStatus:
    state: RunState
    step: int = 0
    total_steps: int = 0
    reason: str = ""
    last_checkpoint: Checkpoint | None = None
    loss: float | None = None
    log_file: Path | None = None
    fix: Fix | None = None  # what the trainer said to do about how it ended
    note: str = ""  # what else the reader needs to know to trust the rest, such as a missing event log

    @property
    def active(self) -> bool:
        """A trainer is (or is about to be) at work on the run."""
        return self.state in ("starting", "running", "paused", "stalled")

    @property
    def resumable(self) -> bool:
        """Ended early with a checkpoint to carry on from exactly."""
        return self.state in ("stopped", "failed", "lost") and self.last_checkpoint is not None

    def describe(self) -> str:
        return self._describe_state() + (f" ({self.note})" if self.note else "")

    def _describe_state(self) -> str:
        progress = f"step {self.step} of {self.total_steps}"
        if self.state == "lost":
            where = (
                f"; resume from the checkpoint at step {self.last_checkpoint.step}" if self.last_checkpoint else "; no checkpoint was saved"
            )
            log = f" (its last words are in {self.log_file})" if self.log_file else ""
            return f"lost at {progress}: the trainer stopped without saying why{log}{where}"
        if self.state == "stopped" and self.reason.startswith("stopped"):
            # The trainer's words name the step already: "stopped on request at step 36".
            return f"{self.reason.removesuffix(f' at step {self.step}')} at {progress}"
        if self.state in ("stalled", "finished", "stopped", "failed"):
            return f"{self.state} at {progress}" + (f": {self.reason}" if self.reason else "")
        return f"{self.state}, {progress}"


_HISTORIES: dict[Path, tuple[int, RunWatcher, RunHistory, threading.Lock]] = {}
_HISTORIES_GUARD = threading.Lock()


@contextmanager
def read_history(run: RunDirectory) -> Iterator[RunHistory]:
    """The run's history read to the end of its log, the caller's alone inside the with-block.

    A process reads a log once: each later call reads on from where the one before stopped, so a
    status asked every second of a run with 50,000 steps costs what the new lines cost.
    """
    try:
        inode = os.stat(run.events_file).st_ino
    except OSError:
        inode = 0
    with _HISTORIES_GUARD:
        known = _HISTORIES.get(run.path)
        if known is None or known[0] != inode:  # new, or another log put in its place: a new history
            known = _HISTORIES[run.path] = (inode, RunWatcher(run.events_file), RunHistory(), threading.Lock())
    _, watcher, history, lock = known
    with lock:
        history.feed(watcher.poll())
        yield history


def run_status(run: RunDirectory, history: RunHistory | None = None) -> RunStatus:
    """What a run is doing now, from its folder alone; pass its history when it is at hand, read to the end."""
    odd = run.odd_files_problem()  # before the log is opened: what stands in its place may not be a file
    if odd:
        raise UserError(odd)
    if history is None:
        with read_history(run) as history:
            return run_status(run, history)
    facts = run_facts(run)
    checkpoints = run.checkpoints(facts)
    # The step the trainer is at, by its log: a resume that passed over damaged states went back before
    # the last checkpoint. Only when the log says nothing (or is gone) does a checkpoint tell how far it got.
    reached = history.step or (checkpoints[-1].step if checkpoints else 0)
    status = RunStatus("starting", step=reached, total_steps=facts.last_step, loss=history.loss.last(), log_file=run.log_file)
    resumable = [checkpoint for checkpoint in checkpoints if checkpoint.resumable]
    status.last_checkpoint = resumable[-1] if resumable else None
    if checkpoints and not run.events_file.exists():
        status.note = f"its event log {run.events_file} is missing, so the step is its last checkpoint's"
    final = history.final
    launched = facts.launches[-1] if facts.launches else None
    ended_at = final.get("t") if final is not None and isinstance(final.get("t"), (int, float)) else 0.0
    relaunched = final is not None and launched is not None and launched.started > ended_at
    if run.is_locked():
        status.state = "paused" if history.paused else "running"
        stall = _stall(history, launched, len(facts.images))
        if stall:
            status.state, status.reason = "stalled", stall
        elif status.state == "running":
            status.note = "; ".join(filter(None, [status.note, _quiet(history, run)]))
    elif final is not None and not relaunched:
        status.state = STATE_AFTER.get(final.get("reason"), "failed")
        status.reason = str(final.get("message", ""))
        status.fix = event_fix(final)
    elif _launch_is_fresh(launched):
        status.state = "starting"
    elif checkpoints and checkpoints[-1].step >= facts.last_step:
        # The trainer saved its last step and ended, but its final event is not there to say so.
        status.state = "finished"
        status.reason = "the checkpoint of its last step is saved"
    else:
        status.state = "lost"
        status.fix = Fix("resume", run.id) if status.last_checkpoint else None
    return status


def run_facts(run: RunDirectory) -> RunFacts:
    """What run.json says; when it cannot be read, the error says what to do with the run's folder.

    Nothing else records what the run was, so the folder only gets in the way: it cannot be resumed,
    and no trainer can be at work on it unless one holds its lock.
    """
    try:
        return run.facts()
    except UserError as error:
        raise UserError(
            f"{error}. Move the folder {run.path} out of {run.path.parent} (its checkpoints can still start a new run), or delete it"
        ) from None


def run_is_active(run: RunDirectory) -> bool:
    """Whether a trainer is at work on the run (or about to be): what run_status says, without reading the log."""
    if run.is_locked():
        return True
    try:
        launches = run.facts().launches
    except UserError:
        return False
    return _launch_is_fresh(launches[-1] if launches else None)


def follow_run(run: RunDirectory, watcher: RunWatcher | None = None, between_polls: Callable[[], None] | None = None) -> Iterator[dict]:
    """The run's events as they are written, until its final event; it ends without one when the run is lost.

    `between_polls` runs after each look at the log (the launcher reaps its trainer there).
    """
    watcher = watcher or RunWatcher(run.events_file)
    last_check = time.monotonic()
    while True:
        for event in watcher.poll():
            yield event
            if event["type"] == FINAL_EVENT:
                return
        if between_polls is not None:
            between_polls()
        if time.monotonic() - last_check > STATUS_EVERY_SECONDS:
            last_check = time.monotonic()
            if not run_status(run).active:  # lost, or ended without its final event
                for event in watcher.poll():  # written just before the end
                    yield event
                    if event["type"] == FINAL_EVENT:
                        return
                return
        time.sleep(POLL_SECONDS)


def _stall(history: RunHistory, launched: Launch | None, images: int) -> str | None:
    """Why a trainer that holds its lock trains no step, with what to do; None while it works."""
    pid = history.pid or (launched.pid if launched is not None else None)
    if not pid:
        return None
    if _process_stopped(pid):
        return (
            f"its trainer (process {pid}) is stopped (by SIGSTOP, or Ctrl-Z where it was started), so it trains no step; "
            f"let it go on with: kill -CONT {pid}"
        )
    if history.paused or not history.steps_per_second or history.last_event_time is None:
        return None
    silent = time.time() - history.last_event_time
    step_seconds = 1 / history.steps_per_second
    if silent < max(STALLED_AFTER_SECONDS, (STALLED_AFTER_STEPS + STALLED_AFTER_STEPS_PER_IMAGE * images) * step_seconds):
        return None
    return (
        f"its trainer (process {pid}) has written nothing for {duration(silent)}, while a step takes {step_seconds:.2g} s, "
        f"so it is not responding; end it with: kill {pid} (then kill -9 {pid} if it stays), and resume the run"
    )


def _quiet(history: RunHistory, run: RunDirectory) -> str:
    """'no progress for N' with what to look at, when a trainer at work has written nothing for long; else ''."""
    if not history.steps_per_second or history.last_event_time is None:
        return ""
    silent = time.time() - history.last_event_time
    step_seconds = 1 / history.steps_per_second
    if silent < max(QUIET_AFTER_SECONDS, QUIET_AFTER_STEPS * step_seconds):
        return ""
    return (
        f"no progress for {duration(silent)}, while a step takes {step_seconds:.2g} s: see what it last wrote in {run.log_file}, "
        f"and whether process {history.pid or '?'} still uses the CPU (top), or the GPU (nvidia-smi)"
    )


def _process_stopped(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.Error:
        return False


def _launch_is_fresh(launch: Launch | None) -> bool:
    """A trainer was launched a moment ago and is still alive, but has not taken its lock yet."""
    if launch is None or time.time() - launch.started > STARTUP_GRACE_SECONDS:
        return False
    return process_alive(launch.pid, launch.process_started)
