"""A training run on disk, and the protocol between the trainer and whoever watches it.

    runs/<run-id>/
      run.json        what the run is (settings snapshot, images, parent), written by the launcher
      events.jsonl    what happened, one JSON object a line, appended by the trainer alone
      trainer.log     the trainer's own output
      trainer.lock    held (flock) by the trainer for its whole life: held means alive
      control/        requests to the trainer: stop, save-now, preview-now, pause
      checkpoints/    <trigger>-<step>.safetensors, and .state.pt beside it for exact resume
      previews/       step-<step>-p<prompt>-s<seed>[-init].png

Everything about a run can be told from its folder alone, so a TUI that quits, or an SSH link
that drops, loses nothing: a new watcher replays events.jsonl and carries on.
"""

import fcntl
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ti_tui.errors import UserError
from ti_tui.fsutil import atomic_write_text

EVENT_VERSION = 1
CONTROL_REQUESTS = ("stop", "save-now", "preview-now", "pause")
FINAL_EVENT = "finished"
STATE_AFTER = {"completed": "finished", "stopped": "stopped", "failed": "failed"}  # by the final event's reason
# A launched trainer that has not taken its lock after this long is not starting any more.
STARTUP_GRACE_SECONDS = 120


@dataclass(frozen=True)
class Checkpoint:
    step: int
    embedding: Path
    state: Path

    @property
    def resumable(self) -> bool:
        return self.state.is_file()


class RunDirectory:
    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def log_file(self) -> Path:
        return self.path / "trainer.log"

    @property
    def lock_file(self) -> Path:
        return self.path / "trainer.lock"

    @property
    def control_dir(self) -> Path:
        return self.path / "control"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def previews_dir(self) -> Path:
        return self.path / "previews"

    def read(self) -> dict:
        try:
            return json.loads(self.run_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.path} is not a training run (it has no run.json)") from None
        except (OSError, ValueError) as error:
            raise UserError(f"{self.run_file} cannot be read ({error}); the run is damaged") from None

    def write(self, facts: dict) -> None:
        """Only the launcher writes run.json; the trainer reads it."""
        atomic_write_text(self.run_file, json.dumps(facts, indent=1))

    def checkpoints(self) -> list[Checkpoint]:
        found = []
        for path in self.checkpoints_dir.glob("*.safetensors") if self.checkpoints_dir.is_dir() else []:
            match = re.fullmatch(r"(.+)-(\d+)", path.stem)
            if match:
                found.append(Checkpoint(int(match.group(2)), path, path.with_name(path.stem + ".state.pt")))
        return sorted(found, key=lambda checkpoint: checkpoint.step)

    def resumable_checkpoints(self) -> list[Checkpoint]:
        return [checkpoint for checkpoint in self.checkpoints() if checkpoint.resumable]

    def checkpoint_paths(self, trigger: str, step: int) -> Checkpoint:
        embedding = self.checkpoints_dir / f"{trigger}-{step}.safetensors"
        return Checkpoint(step, embedding, embedding.with_name(embedding.stem + ".state.pt"))

    def request(self, name: str) -> None:
        """Ask the trainer for something; it looks between steps."""
        if name not in CONTROL_REQUESTS:
            raise ValueError(f"unknown control request {name!r}")
        self.control_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.control_dir / name, f"{time.time()}\n")

    def withdraw(self, name: str) -> None:
        (self.control_dir / name).unlink(missing_ok=True)

    def pending_requests(self) -> set[str]:
        if not self.control_dir.is_dir():
            return set()
        return {path.name for path in self.control_dir.iterdir() if path.name in CONTROL_REQUESTS}

    def is_locked(self) -> bool:
        """Whether a trainer holds this run's lock, that is, is alive."""
        try:
            handle = open(self.lock_file, "rb")
        except FileNotFoundError:
            return False
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False

    def events(self) -> list[dict]:
        return EventTail(self.events_file).read_new()


class TrainerLock:
    """The trainer's claim on its run, held until the process ends (the kernel lets go even on kill -9)."""

    def __init__(self, run: RunDirectory):
        self.handle = open(run.lock_file, "a+b")
        for _ in range(50):  # a watcher checking liveness holds a shared lock for a moment
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.1)
        raise UserError(f"another trainer is already running in {run.path}")

    def release(self) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class EventWriter:
    """Appends events, one JSON line each, flushed to disk at once; numbering goes on across resumes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        previous = EventTail(self.path).read_new()
        self.sequence = max((event.get("seq", 0) for event in previous), default=0)
        self.handle = open(self.path, "a", encoding="utf-8")
        if self.handle.tell() and not self.path.read_bytes().endswith(b"\n"):
            self.handle.write("\n")  # end a line cut short by a crash, so the next event stands alone

    def write(self, kind: str, **fields) -> dict:
        self.sequence += 1
        event = {"v": EVENT_VERSION, "seq": self.sequence, "t": round(time.time(), 3), "type": kind, **fields}
        self.handle.write(json.dumps(event, allow_nan=True) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return event

    def close(self) -> None:
        self.handle.close()


class EventTail:
    """Reads events as they are appended, by byte offset; a half-written last line waits for its end."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.partial = b""

    def read_new(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash mid-write; the next ones are whole
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                events.append(event)
        return events


RunState = Literal["starting", "running", "paused", "finished", "stopped", "failed", "lost"]


@dataclass
class RunStatus:
    state: RunState
    step: int = 0
    total_steps: int = 0
    reason: str = ""
    last_checkpoint: Checkpoint | None = None
    loss: float | None = None
    log_file: Path | None = None

    def describe(self) -> str:
        progress = f"step {self.step} of {self.total_steps}"
        if self.state == "lost":
            where = f"; resume from the checkpoint at step {self.last_checkpoint.step}" if self.last_checkpoint else "; no checkpoint was saved"
            log = f" (its last words are in {self.log_file})" if self.log_file else ""
            return f"lost at {progress}: the trainer stopped without saying why{log}{where}"
        if self.state in ("finished", "stopped", "failed"):
            return f"{self.state} at {progress}" + (f": {self.reason}" if self.reason else "")
        return f"{self.state}, {progress}"


def run_status(run: RunDirectory) -> RunStatus:
    """What a run is doing now, from its folder alone."""
    events = run.events()
    facts = run.read()
    status = RunStatus("starting", total_steps=facts.get("steps", 0), log_file=run.log_file)
    session = events
    for index in range(len(events) - 1, -1, -1):
        if events[index]["type"] == "started":
            session = events[index:]
            break
    for event in events:
        if event["type"] == "step":
            status.step, status.loss = event["step"], event.get("loss")
    checkpoints = run.resumable_checkpoints()
    status.last_checkpoint = checkpoints[-1] if checkpoints else None
    final = next((event for event in reversed(session) if event["type"] == FINAL_EVENT), None)
    launched = (facts.get("launches") or [{}])[-1]
    relaunched = final is not None and launched.get("started", 0) > final.get("t", 0)
    if run.is_locked():
        paused = [event["type"] for event in session if event["type"] in ("paused", "resumed")]
        status.state = "paused" if paused and paused[-1] == "paused" else "running"
    elif final is not None and not relaunched:
        status.state = STATE_AFTER.get(final.get("reason"), "failed")
        status.reason = final.get("message", "")
    elif _launch_is_fresh(launched):
        status.state = "starting"
    else:
        status.state = "lost"
    return status


def _launch_is_fresh(launch: dict) -> bool:
    """A trainer was launched a moment ago and is still alive, but has not taken its lock yet."""
    if not launch or time.time() - launch.get("started", 0) > STARTUP_GRACE_SECONDS:
        return False
    return _process_alive(launch.get("pid"), launch.get("process_started"))


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
