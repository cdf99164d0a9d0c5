"""Which checkpoint to use, suggested from a run's history and said in words: the step where the validation
loss stopped improving, before the vectors grow long enough to mean over-training.

Judging that by eye is what a first-timer finds hardest. The rule reads only numbers the trainer records
(fixed-noise validation losses, the longest vector at each step, a typical token's length), so the
dashboard, Compare, Apply and the command line all say the same.
"""

import bisect
import math
from dataclasses import dataclass

from ti_tui.runs.history import OVER_TRAINED_TIMES, RunHistory

# Validation losses are noisy (a few samples, fixed noise): each is read as the mean of it and of this
# many on either side, so that one lucky dip does not choose the step.
VALIDATION_NEIGHBOURS = 1
# The loss "stopped improving" at the first validation that comes within this share of the whole fall
# (from the first validation to the lowest) of the lowest: later ones gain little, and cost length.
PLATEAU_SHARE = 0.1
# It is "still falling" when, over this last share of the validations, it fell by more than PLATEAU_SHARE
# of the whole fall: the run stopped before the loss did.
LAST_SHARE = 0.25
# A longest vector this many times a typical token's is long: said, as a caution, before it is over-trained.
LONG_TIMES = 2.0
# Fewer validation losses than this (the one before the first step among them) say nothing of a trend.
MIN_VALIDATIONS = 3


@dataclass(frozen=True)
class Suggestion:
    step: int  # the checkpoint suggested
    words: str  # why, in a sentence or two
    over_trained_from: int | None  # the first checkpoint whose vectors say over-trained; None when none does

    def flags(self, step: int) -> bool:
        """Whether the checkpoint at `step` is likely over-trained."""
        return self.over_trained_from is not None and step >= self.over_trained_from


def suggest_checkpoint(history: RunHistory) -> Suggestion | None:
    """The checkpoint to use, and why; None while the run has saved none."""
    steps = sorted(history.checkpoints)
    if not steps:
        return None
    times = _times_typical(history)
    over_trained_from = next((step for step in steps if times.get(step, 0.0) >= OVER_TRAINED_TIMES), None)
    sound = [step for step in steps if over_trained_from is None or step < over_trained_from]
    validation = _smoothed_validation(history, before=over_trained_from)
    ended = history.final is not None
    before_too_long = "the last checkpoint before the vectors grow too long" if over_trained_from else "the last checkpoint"

    if not sound:
        step = min(steps, key=lambda candidate: times[candidate])
        words = (
            f"Every checkpoint's vectors are over {OVER_TRAINED_TIMES:g}x a typical token, likely over-trained; "
            f"step {step:,} is the least so. Train again with a lower learning rate."
        )
        return Suggestion(step, words, over_trained_from)
    if len(validation) < MIN_VALIDATIONS:
        step = sound[-1]
        if not len(history.validation):
            reason = "there are no validation losses to judge by (training.validation_every is 0)"
        elif not validation and not _finite_losses(history):
            reason = "the validation losses are not numbers"
        else:
            reason = "there are too few validation losses yet to judge by"
        words = f"Step {step:,}, {before_too_long}: {reason}."
    elif _never_fell(validation):
        lowest = min(validation, key=lambda pair: pair[1])[0]
        step = min(sound, key=lambda candidate: abs(candidate - lowest))
        words = f"Step {step:,}, nearest the lowest validation loss (step {lowest:,}): the loss did not fall, so the word learns little; try a higher learning rate."
    elif _plateau(validation) == validation[-1][0] or _still_falling(validation):
        step = sound[-1]
        if over_trained_from is not None:
            words = (
                f"Step {step:,}, {before_too_long}: the validation loss was still falling, so a lower learning rate would take it further."
            )
        elif ended:
            words = f"Step {step:,}: the validation loss was still falling at the end; more steps would likely help (a new run from it)."
        else:
            words = f"Step {step:,}, the newest: the validation loss is still falling while the run goes on."
    else:
        plateau = _plateau(validation)
        step = next((candidate for candidate in sound if candidate >= plateau), sound[-1])
        words = f"Step {step:,}: the validation loss stopped improving near step {plateau:,}."
    if step in times:
        length = f"the vectors are {times[step]:.1f}x a typical token"
        words = words[:-1] + (f", and {length}." if times[step] < LONG_TIMES else f", but {length}, long already.")
    if over_trained_from is not None:
        words += f" From step {over_trained_from:,} they pass {OVER_TRAINED_TIMES:g}x: likely over-trained."
    return Suggestion(step, words, over_trained_from)


def suggestion_for(run) -> Suggestion | None:
    """The suggestion for a run, from its event log read to the end."""
    from ti_tui.runs.status import read_history

    with read_history(run) as history:
        return suggest_checkpoint(history)


def _times_typical(history: RunHistory) -> dict[int, float]:
    """Each checkpoint's longest vector as a multiple of a typical token's length (the last recorded at or before it)."""
    if not history.typical_norm or not history.longest_vector.steps:
        return {}
    recorded, lengths = history.longest_vector.steps, history.longest_vector.values
    times = {}
    for step in history.checkpoints:
        index = bisect.bisect_right(recorded, step) - 1
        if index >= 0 and math.isfinite(lengths[index]):
            times[step] = lengths[index] / history.typical_norm
    return times


def _smoothed_validation(history: RunHistory, before: int | None) -> list[tuple[int, float]]:
    """(step, the mean of the loss there and of its neighbours), for the validations before `before`."""
    pairs = [(step, loss) for step, loss in zip(history.validation.steps, history.validation.values, strict=True) if math.isfinite(loss)]
    if before is not None:
        pairs = [(step, loss) for step, loss in pairs if step < before]
    smoothed = []
    for index, (step, _) in enumerate(pairs):
        window = [loss for _, loss in pairs[max(0, index - VALIDATION_NEIGHBOURS) : index + VALIDATION_NEIGHBOURS + 1]]
        smoothed.append((step, sum(window) / len(window)))
    return smoothed


def _still_falling(validation: list[tuple[int, float]]) -> bool:
    """Whether the smoothed validation loss fell, over its last stretch, by more than a little of its whole fall."""
    if len(validation) < 4:
        return False
    fall = validation[0][1] - min(loss for _, loss in validation)
    last = validation[-max(2, round(len(validation) * LAST_SHARE)) :]
    return fall > 0 and last[0][1] - last[-1][1] > PLATEAU_SHARE * fall


def _never_fell(validation: list[tuple[int, float]]) -> bool:
    return validation[0][1] - min(loss for _, loss in validation) <= 0


def _finite_losses(history: RunHistory) -> bool:
    return any(math.isfinite(loss) for loss in history.validation.values)


def _plateau(validation: list[tuple[int, float]]) -> int:
    """The step where the smoothed validation loss (one that fell) stopped improving."""
    lowest = min(loss for _, loss in validation)
    fall = validation[0][1] - lowest
    return next(step for step, loss in validation if loss <= lowest + PLATEAU_SHARE * fall)
