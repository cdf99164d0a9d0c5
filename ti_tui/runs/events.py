"""The run's event log: the trainer appends, any number of watchers read, and events read as sentences.

events.jsonl holds one JSON object a line: `{"v": 1, "seq": n, "t": unix_time, "type": ..., ...}`.
Types: started, loading, caching, config, resumed_from, step, validating, validation, checkpoint,
previewing, preview, paused, resumed, warning, error, finished (the last one of a trainer's life, with
a reason). validating and previewing come before each image of a pass, to count it.
"""

import json
import os
import time
from pathlib import Path

import orjson

from ti_tui.findings import Fix
from ti_tui.fsutil import injected_write_fault, suffer_write_fault

EVENT_VERSION = 1
FINAL_EVENT = "finished"


class EventWriter:
    """Appends events, one JSON line each, flushed to disk at once; numbering goes on across resumes."""

    def __init__(self, path: Path):
        self.path = Path(path)
        previous = RunWatcher(self.path).poll()
        self.sequence = max((event.get("seq", 0) for event in previous), default=0)
        self.handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - appended to for the trainer's life
        if self.handle.tell() and not self.path.read_bytes().endswith(b"\n"):
            self.handle.write("\n")  # end a line cut short by a crash, so the next event stands alone

    def write(self, kind: str, fix: Fix | None = None, **fields) -> dict:
        """Append one event; `fix` says what the user can do about a warning, an error or the end."""
        self.sequence += 1
        event = {"v": EVENT_VERSION, "seq": self.sequence, "t": round(time.time(), 3), "type": kind, **fields}
        if fix is not None:
            event["fix"] = {"action": fix.action, "subject": fix.subject}
        line = json.dumps(event, allow_nan=True) + "\n"
        fault = injected_write_fault(self.path)
        if fault:
            self.handle.write(line[: len(line) // 2])
            suffer_write_fault(fault, self.handle)
        self.handle.write(line)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return event

    def close(self) -> None:
        self.handle.close()


class RunWatcher:
    """Every event of a run, once each and in order: first what the log holds, then what is appended.

    Reads by byte offset and keeps a half-written last line until its end arrives. A log that is
    replaced (another file in its place) or cut shorter is read again from its start, and only
    events numbered past those already passed on are passed on again.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.partial = b""
        self.identity: tuple[int, int] | None = None
        self.last_sequence = 0

    def poll(self) -> list[dict]:
        """The events appended since the last poll (all of them, the first time)."""
        try:
            with open(self.path, "rb") as handle:
                status = os.fstat(handle.fileno())
                identity = (status.st_dev, status.st_ino)
                if identity != self.identity or status.st_size < self.offset:
                    self.identity, self.offset, self.partial = identity, 0, b""
                handle.seek(self.offset)
                data = handle.read()
        except (FileNotFoundError, IsADirectoryError):
            return []  # no events yet; a folder in the log's place is named by the run's status
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        events = []
        for event in _parse(lines):
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                continue
            sequence = event.get("seq")
            if isinstance(sequence, int):
                if sequence <= self.last_sequence:
                    continue  # passed on before the log was replaced
                self.last_sequence = sequence
            events.append(event)
        return events


def _parse(lines: list[bytes]) -> list:
    """The lines' JSON values; a line cut by a crash mid-write is passed over and the next ones are read."""
    try:
        return orjson.loads(b"[" + b",".join(line for line in lines if line.strip()) + b"]")  # one call: fast on a long log
    except orjson.JSONDecodeError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))  # the json module also reads the NaN the trainer writes for a broken loss
            except ValueError:
                continue
        return parsed


def event_fix(event: dict) -> Fix | None:
    """What the user can do about an event, when the trainer said."""
    fix = event.get("fix")
    if isinstance(fix, dict) and isinstance(fix.get("action"), str):
        return Fix(fix["action"], str(fix.get("subject", "")))
    return None


def describe_event(event: dict) -> str | None:
    """The event as a sentence for people; None for an event with nothing to say."""
    describe = _SENTENCES.get(event["type"])
    try:
        return describe(event) if describe else None
    except (KeyError, TypeError, ValueError):
        return None  # an event from another version, without the fields this one expects


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _step(event: dict) -> str:
    speed, eta = event.get("steps_per_s"), event.get("eta_s")
    return (
        f"step {event['step']}/{event['total']}  loss {event['loss']:.4f} (smoothed {event['loss_smoothed']:.4f})  "
        f"lr {event['lr']:.2g}  {f'{speed:.2f} steps/s' if speed else ''}  "
        f"{f'ETA {duration(eta)}' if eta is not None else ''}"
    ).rstrip()


def _caching(event: dict) -> str:
    return f"Caching latents {event['done']}/{event['total']}"


def _config(event: dict) -> str:
    processes = f" x {event['processes']} processes" if event["processes"] > 1 else ""
    return (
        f"Training steps {event['start_step'] + 1}-{event['steps']} on {event['images']} images at {event['resolution']} px, "
        f"{event['vectors']} vector(s), batch {event['batch_size']} x {event['gradient_accumulation']}{processes} "
        f"({event['device']}, {event['dtype']})\nMemory needed: {event['memory_estimate']}"
    )


_SENTENCES = {
    "started": lambda event: f"Trainer started (process {event['pid']})",
    "loading": lambda event: f"Loading {event['model']}",
    "caching": _caching,
    "resumed_from": lambda event: f"Resuming from the checkpoint at step {event['step']}",
    "config": _config,
    "step": _step,
    "validating": lambda event: f"Validation at step {event['step']}: image {event['done'] + 1} of {event['total']}",
    "previewing": lambda event: f"Previews at step {event['step']}: image {event['done'] + 1} of {event['total']}",
    "validation": lambda event: f"step {event['step']}: validation loss {event['loss']:.4f}",
    "checkpoint": lambda event: f"step {event['step']}: saved {event['path']}",
    "preview": lambda event: f"step {event['step']}: preview {event['path']}",
    "paused": lambda event: f"Paused at step {event['step']}",
    "resumed": lambda event: f"Going on from step {event['step']}",
    "warning": lambda event: f"warning: {event['message']}",
    "error": lambda event: f"error: {event['message']}",
    FINAL_EVENT: lambda event: f"Run {event['reason']}: {event['message']}",
}
