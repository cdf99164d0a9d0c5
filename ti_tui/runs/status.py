"""What a run is doing now, told from its folder alone, and following it as it goes."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ti_tui.findings import Fix
from ti_tui.runs.directory import Checkpoint, Launch, RunDirectory
from ti_tui.runs.events import FINAL_EVENT, RunWatcher, event_fix

RunState = Literal["starting", "running", "paused", "finished", "stopped", "failed", "lost"]
STATE_AFTER = {"completed": "finished", "stopped": "stopped", "failed": "failed"}  # by the final event's reason
# A launched trainer that has not taken its lock after this long is not starting any more.
STARTUP_GRACE_SECONDS = 120
POLL_SECONDS = 0.25
STATUS_EVERY_SECONDS = 2.0


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

    @property
    def active(self) -> bool:
        """A trainer is (or is about to be) at work on the run."""
        return self.state in ("starting", "running", "paused")

    @property
    def resumable(self) -> bool:
        """Ended early with a checkpoint to carry on from exactly."""
        return self.state in ("stopped", "failed", "lost") and self.last_checkpoint is not None

    def describe(self) -> str:
        progress = f"step {self.step} of {self.total_steps}"
        if self.state == "lost":
            where = (
                f"; resume from the checkpoint at step {self.last_checkpoint.step}" if self.last_checkpoint else "; no checkpoint was saved"
            )
            log = f" (its last words are in {self.log_file})" if self.log_file else ""
            return f"lost at {progress}: the trainer stopped without saying why{log}{where}"
        if self.state in ("finished", "stopped", "failed"):
            return f"{self.state} at {progress}" + (f": {self.reason}" if self.reason else "")
        return f"{self.state}, {progress}"


def run_status(run: RunDirectory) -> RunStatus:
    """What a run is doing now, from its folder alone."""
    events = run.events()
    facts = run.facts()
    status = RunStatus("starting", total_steps=facts.steps, log_file=run.log_file)
    session = events
    for index in range(len(events) - 1, -1, -1):
        if events[index]["type"] == "started":
            session = events[index:]
            break
    for event in events:
        if event["type"] == "step" and isinstance(event.get("step"), int):  # a hand-made or foreign line is passed over
            status.step, status.loss = event["step"], event.get("loss")
    checkpoints = run.resumable_checkpoints()
    status.last_checkpoint = checkpoints[-1] if checkpoints else None
    final = next((event for event in reversed(session) if event["type"] == FINAL_EVENT), None)
    launched = facts.launches[-1] if facts.launches else None
    ended_at = final.get("t") if final is not None and isinstance(final.get("t"), (int, float)) else 0.0
    relaunched = final is not None and launched is not None and launched.started > ended_at
    if run.is_locked():
        paused = [event["type"] for event in session if event["type"] in ("paused", "resumed")]
        status.state = "paused" if paused and paused[-1] == "paused" else "running"
    elif final is not None and not relaunched:
        status.state = STATE_AFTER.get(final.get("reason"), "failed")
        status.reason = str(final.get("message", ""))
        status.fix = event_fix(final)
    elif _launch_is_fresh(launched):
        status.state = "starting"
    else:
        status.state = "lost"
        status.fix = Fix("resume", run.id) if status.last_checkpoint else None
    return status


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
            if run_status(run).state == "lost":
                for event in watcher.poll():  # written just before the end
                    yield event
                    if event["type"] == FINAL_EVENT:
                        return
                return
        time.sleep(POLL_SECONDS)


def _launch_is_fresh(launch: Launch | None) -> bool:
    """A trainer was launched a moment ago and is still alive, but has not taken its lock yet."""
    if launch is None or time.time() - launch.started > STARTUP_GRACE_SECONDS:
        return False
    return _process_alive(launch.pid, launch.process_started)


def _process_alive(pid: int | None, started: float | None) -> bool:
    """The process is alive and is the one launched, not a later one that got its number."""
    if not pid:
        return False
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (started is None or abs(process.create_time() - started) < 1.0)
    except psutil.Error:
        return False
