"""A run's history as a dashboard reads it: the curves in arrays, the checkpoints, the previews, the
last sentences, and what the vectors' lengths say, built from events alone.

Fed the events in order (a replay of events.jsonl, then what is appended); it keeps numbers, not
events, so 50,000 steps cost a few megabytes. A step number seen again (a resume after a kill, a
step undone after a non-finite loss) cuts the curves back to before it: they show the path the
vectors took.
"""

import bisect
from array import array
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ti_tui.runs.events import FINAL_EVENT, describe_event

LOG_LINES = 200
# The vectors are over-trained once one is this many times as long as a typical token (as the
# embedding report says), and "rising" when the longest grew by this share over the second half of
# the steps so far.
OVER_TRAINED_TIMES = 3.0
RISING_SHARE = 0.2


class Series:
    """(step, value) pairs in arrays; a step that comes again drops what followed it."""

    def __init__(self):
        self.steps = array("l")
        self.values = array("d")

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, step: int, value: float) -> None:
        if self.steps and step <= self.steps[-1]:
            keep = bisect.bisect_left(self.steps, step)
            del self.steps[keep:]
            del self.values[keep:]
        self.steps.append(step)
        self.values.append(value)

    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def points(self, most: int):
        """At most `most` points, as two numpy arrays: the means of runs of neighbours when there are more."""
        import numpy  # here, not above: a status read needs no numpy, and the wizard's first paint waits for none

        steps = numpy.frombuffer(self.steps, dtype=numpy.int64).astype(float)
        values = numpy.frombuffer(self.values, dtype=float)
        finite = numpy.isfinite(values)
        steps, values = steps[finite], values[finite]
        if len(steps) <= most:
            return steps, values
        starts = numpy.linspace(0, len(steps), most, endpoint=False).astype(int)
        counts = numpy.diff(numpy.append(starts, len(steps)))
        return numpy.add.reduceat(steps, starts) / counts, numpy.add.reduceat(values, starts) / counts


@dataclass(frozen=True)
class CheckpointRow:
    step: int
    path: Path
    validation_loss: float | None
    longest_vector: float | None
    run: str = ""  # the run it belongs to, when that is a run this one goes on from


@dataclass(frozen=True)
class Preview:
    step: int
    prompt: str
    seed: int
    init: bool  # drawn with the init words in place of the trigger, to compare
    path: Path


@dataclass
class RunHistory:
    total_steps: int = 0
    first_step: int = 0
    step: int = 0
    steps_per_second: float | None = None
    seconds_left: float | None = None
    typical_norm: float | None = None
    norms: list[float] = field(default_factory=list)  # the vectors' lengths at the last step
    paused: bool = False
    pid: int | None = None  # the trainer's process, as it said when it started
    last_event_time: float | None = None  # when the trainer last wrote anything
    final: dict | None = None  # the final event of the trainer's last life
    loss: Series = field(default_factory=Series)
    smoothed_loss: Series = field(default_factory=Series)
    learning_rate: Series = field(default_factory=Series)
    validation: Series = field(default_factory=Series)
    longest_vector: Series = field(default_factory=Series)
    checkpoints: dict[int, Path] = field(default_factory=dict)
    previews: list[Preview] = field(default_factory=list)
    lines: deque = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    caching: tuple[int, int] | None = None
    busy: tuple[str, int, int] | None = None  # ("validation" or "previews", done, total) while the trainer does that
    left_since: float | None = None  # when seconds_left was said
    events_read: int = 0

    def feed(self, events: list[dict]) -> "RunHistory":
        for event in events:
            self.events_read += 1
            try:
                self._take(event)
            except (KeyError, TypeError, ValueError):
                continue  # an event from another version, without the fields this one reads
        return self

    def _take(self, event: dict) -> None:
        kind = event["type"]
        if isinstance(event.get("t"), (int, float)):
            self.last_event_time = float(event["t"])
        if kind in ("validating", "previewing"):
            self.busy = ("validation" if kind == "validating" else "previews", int(event["done"]), int(event["total"]))
            return
        if kind != "preview":
            self.busy = None
        if kind == "step":
            self._step(event)
            return
        sentence = describe_event(event)
        if sentence and kind == "caching" and self.lines and self.lines[-1].startswith("Caching"):
            self.lines[-1] = sentence  # one line that counts up, not one a picture
        elif sentence:
            self.lines.append(sentence)
        if kind == "started":
            self.final, self.paused = None, False
            self.pid = event["pid"] if isinstance(event.get("pid"), int) else None
            self.steps_per_second = self.seconds_left = None  # the speed of a life that ended is not this one's
        elif kind == "resumed_from":
            self.step = int(event["step"])  # back to a checkpoint, maybe an earlier one than the last
        elif kind == "config":
            self.total_steps, self.first_step = int(event["steps"]), int(event["start_step"])
            self.typical_norm = float(event["typical_norm"]) if event.get("typical_norm") else None
        elif kind == "caching":
            self.caching = (int(event["done"]), int(event["total"]))
        elif kind == "validation":
            self.validation.add(int(event["step"]), float(event["loss"]))
        elif kind == "checkpoint":
            self.checkpoints[int(event["step"])] = Path(event["path"])
        elif kind == "preview":
            self.previews.append(
                Preview(int(event["step"]), str(event["prompt"]), int(event["seed"]), bool(event["init"]), Path(event["path"]))
            )
        elif kind in ("paused", "resumed"):
            self.paused = kind == "paused"
        elif kind == FINAL_EVENT:
            self.final = event

    def _step(self, event: dict) -> None:
        step = self.step = int(event["step"])  # first: a line with the step alone still says how far the run came
        self.total_steps = int(event.get("total") or self.total_steps)
        self.steps_per_second, self.seconds_left = event.get("steps_per_s"), event.get("eta_s")
        self.left_since = self.last_event_time
        self.loss.add(step, float(event["loss"]))
        self.smoothed_loss.add(step, float(event["loss_smoothed"]))
        self.learning_rate.add(step, float(event["lr"]))
        norms = event.get("norms") or []
        if norms:
            self.norms = [float(norm) for norm in norms]
            self.longest_vector.add(step, max(self.norms))
        self.caching = None

    # What a dashboard asks ------------------------------------------------------------------

    def checkpoint_rows(self) -> list[CheckpointRow]:
        """Every checkpoint with the validation loss and the longest vector at its step, newest first."""
        validation = dict(zip(self.validation.steps, self.validation.values, strict=True))
        lengths = dict(zip(self.longest_vector.steps, self.longest_vector.values, strict=True))
        return [
            CheckpointRow(step, path, validation.get(step), lengths.get(step))
            for step, path in sorted(self.checkpoints.items(), reverse=True)
        ]

    def vector_verdict(self) -> str:
        """The vectors' lengths against a typical token's, in words; over-training said when it shows."""
        if not self.norms:
            return "No step yet."
        longest = max(self.norms)
        lengths = ", ".join(f"{norm:.3f}" for norm in self.norms)
        if not self.typical_norm:
            return f"Vector lengths {lengths}."
        times = longest / self.typical_norm
        said = f"Vector lengths {lengths}: the longest is {times:.1f}x a typical token ({self.typical_norm:.3f})"
        if times >= OVER_TRAINED_TIMES:
            return said + ". That is the sign of over-training: an earlier checkpoint will likely look better, or lower the learning rate."
        if times > 1.5 and self._rising():
            return said + ", and rising. A length that keeps rising is the first sign of over-training; watch the previews."
        return said + ", steady."

    def _rising(self) -> bool:
        values = self.longest_vector.values
        if len(values) < 8:
            return False
        earlier = values[len(values) // 2]
        return earlier > 0 and (values[-1] - earlier) / earlier > RISING_SHARE
