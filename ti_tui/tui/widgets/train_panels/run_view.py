"""One look at a run, made in the Train step's watching thread: everything its panels draw, and nothing live."""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ti_tui.runs import RunDirectory
from ti_tui.runs.events import duration
from ti_tui.runs.history import CheckpointRow, Preview, RunHistory
from ti_tui.runs.status import RunStatus
from ti_tui.runs.suggestion import Suggestion, suggest_checkpoint
from ti_tui.tui.widgets.curve_plot import Curve

CURVE_POINTS = 400  # more than the braille dots across the widest terminal


@dataclass(frozen=True)
class RunView:
    run: RunDirectory
    status: RunStatus
    first_step: int
    total_steps: int
    step: int
    speed: str
    caching: tuple[int, int] | None
    busy: tuple[str, int, int] | None  # what the trainer does between steps, and how far it is
    curves: dict[str, list[Curve]]
    vector_verdict: str
    checkpoints: list[CheckpointRow]
    suggestion: Suggestion | None  # the checkpoint to use, and why; None before the first
    previews: list[Preview]
    lines: list[str]
    events_read: int
    log_tail: str = ""

    @property
    def step_range(self) -> tuple[int, int]:
        """The steps a plot spans: the run's own, first to last, however far it got."""
        return self.first_step, max(self.total_steps, self.step, self.first_step + 1)


def look_at(run: RunDirectory, history: RunHistory, status: RunStatus, earlier: list[CheckpointRow] | None = None) -> RunView:
    """What the panels show of `history`: curves thinned to CURVE_POINTS, the rest as it is; `earlier`: the
    checkpoints of the runs it goes on from, listed after its own."""

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
        left = ""
        if history.seconds_left is not None:
            # Validation and previews, which the time left counts, write no step: it is counted down meanwhile.
            since = time.time() - history.left_since if history.busy and history.left_since else 0.0
            left = f", {duration(max(0.0, history.seconds_left - since))} left"
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
        busy=history.busy,
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
        checkpoints=history.checkpoint_rows() + (earlier or []),
        suggestion=suggest_checkpoint(history),
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
