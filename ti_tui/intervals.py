"""How often a run saves a checkpoint, measures the validation loss and renders previews.

Each is a number of steps, or "auto": spread over the run so that a short run gets checkpoints and
previews too, rounded to a number a user reads at a glance (50, not 47).
"""

import math
from dataclasses import dataclass

AUTO = "auto"
# What "auto" spreads over a run: about this many of each.
CHECKPOINTS_PER_RUN = 10
VALIDATIONS_PER_RUN = 10
PREVIEW_ROUNDS_PER_RUN = 5
FRIENDLY = (1, 2, 2.5, 5)  # times a power of ten; 2.5 only from 25 up, so that steps stay whole
# A validation pass: the loss of the first images, each at these timesteps with fixed noise.
VALIDATION_IMAGES = 16
VALIDATION_TIMESTEPS = (100, 300, 500, 700, 900)


@dataclass(frozen=True)
class RunIntervals:
    save: int  # steps between checkpoints
    validation: int  # steps between validation losses; 0 = none
    preview: int  # steps between preview rounds; 0 = none


def run_intervals(settings, steps: int) -> RunIntervals:
    """The intervals of a run of `steps` steps with these settings, "auto" worked out."""
    training, preview = settings.training, settings.preview
    return RunIntervals(
        save=interval(training.save_every, steps, CHECKPOINTS_PER_RUN),
        validation=interval(training.validation_every, steps, VALIDATIONS_PER_RUN),
        preview=interval(preview.every, steps, PREVIEW_ROUNDS_PER_RUN),
    )


def interval(setting: int | str, steps: int, per_run: int) -> int:
    return friendly_interval(steps, per_run) if setting == AUTO else int(setting)


def friendly_interval(steps: int, times: int) -> int:
    """About `steps / times`, rounded to the nearest of 1, 2, 5, 10, 20, 25, 50, 100, ... (nearest by ratio)."""
    wanted = max(1.0, steps / times)
    power = 10 ** math.floor(math.log10(wanted))
    candidates = [int(factor * scale) for scale in (power, power * 10) for factor in FRIENDLY if float(factor * scale).is_integer()]
    return min(candidates, key=lambda candidate: abs(math.log(candidate / wanted)))


def describe_intervals(intervals: RunIntervals) -> str:
    validation = f"validation every {intervals.validation}" if intervals.validation else "no validation"
    previews = f"previews every {intervals.preview}" if intervals.preview else "no previews"
    return f"Checkpoints every {intervals.save} steps, {validation}, {previews}."


def shortfalls(intervals: RunIntervals, first_step: int, last_step: int) -> list[str]:
    """What a run from `first_step` to `last_step` misses with these intervals, in words: no checkpoint before
    its end, no preview. The last step always saves, validates and renders previews."""
    said = []
    if last_step - first_step < 2:
        return said  # a run of one step has nothing before its end to miss
    if _due_before(intervals.save, first_step, last_step) == 0:
        said.append(f"no checkpoint before the last step (training.save_every is {intervals.save}): nothing earlier to compare or keep")
    if intervals.preview and _due_before(intervals.preview, first_step, last_step) == 0:
        said.append(f"previews only at the last step (preview.every is {intervals.preview}): none to watch while it trains")
    return said


def _due_before(every: int, first_step: int, last_step: int) -> int:
    """How many multiples of `every` fall after `first_step` and before `last_step`."""
    return max(0, (last_step - 1) // every - first_step // every)
