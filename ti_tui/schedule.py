"""Learning-rate schedule text: the piecewise syntax of the popular web UI, and the presets.

Piecewise: ``"0.005:200, 0.001:1000, 0.0005"``. Each rate holds up to and including its step
(steps count from 1); a bare last rate runs to the end of training, and so does a last rate with
step -1, as the web UI writes it ("0.005:100, 0.001:-1"). When the last item has a step too, its rate
carries on after that step rather than ending the run early.
"""

import math
from dataclasses import dataclass
from typing import Literal

SchedulePreset = Literal["piecewise", "constant", "cosine", "warmup_cosine"]


TO_THE_END = "-1"  # the web UI's step for a rate that lasts to the end of training


class ScheduleError(ValueError):
    """A learning-rate text that cannot be read; the message names the bad item."""


@dataclass(frozen=True)
class RatePiece:
    rate: float
    until_step: int | None  # None: until the end of training


def parse_piecewise(text: str) -> tuple[RatePiece, ...]:
    """Read ``"rate:step, rate:step, ..., rate"`` into pieces, or raise `ScheduleError`."""
    items = [item.strip() for item in text.split(",")]
    if items and items[-1] == "" and len(items) > 1:
        items.pop()  # a trailing comma is harmless
    if not items or items == [""]:
        raise ScheduleError("the learning rate is empty; write a number such as 0.005")
    pieces: list[RatePiece] = []
    for number, item in enumerate(items, start=1):
        where = f"item {number} {item!r}"
        if item == "":
            raise ScheduleError(f"item {number} is empty: remove the extra comma")
        rate_text, colon, step_text = item.partition(":")
        rate = _parse_rate(rate_text.strip(), where)
        if not colon or step_text.strip() == TO_THE_END:
            if number != len(items):
                raise ScheduleError(
                    f"{where}: step -1 means to the end of training, so only the last rate may have it"
                    if colon
                    else f"{where} has no step, but only the last rate may run to the end; write it as rate:step"
                )
            pieces.append(RatePiece(rate, None))
            continue
        step = _parse_step(step_text.strip(), where)
        if pieces and step <= pieces[-1].until_step:
            raise ScheduleError(f"{where}: step {step} does not come after step {pieces[-1].until_step}; steps must increase")
        pieces.append(RatePiece(rate, step))
    return tuple(pieces)


def _parse_rate(text: str, where: str) -> float:
    """`where` names the text for messages: "item 2 '0.001:x'", or "" for a lone rate."""
    prefix = f"{where}: the rate" if where else "the learning rate"
    try:
        rate = float(text)
    except ValueError:
        raise ScheduleError(f"{prefix} {text!r} is not a number (expected e.g. 0.005 or 5e-3)") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ScheduleError(f"{prefix} must be a positive number, not {text}")
    if rate > 1:
        raise ScheduleError(f"{prefix} {text} would destroy the embedding; use at most 1 (typical: 0.005)")
    return rate


def _parse_step(text: str, where: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ScheduleError(f"{where}: the step {text!r} is not a whole number of steps (expected e.g. 0.005:200)")
    if len(text) > 9:  # past a billion: no run is that long (and int() refuses 4,300 digits)
        raise ScheduleError(f"{where}: the step {text[:12]}... is beyond any run; steps go up to 1,000,000")
    step = int(text)
    if step < 1:
        raise ScheduleError(f"{where}: the step must be at least 1")
    return step


def parse_single_rate(text: str) -> float:
    """The presets other than piecewise take one peak rate."""
    return _parse_rate(text.strip(), "")


@dataclass(frozen=True)
class LearningRateSchedule:
    """The learning rate at each step of a run of `total_steps` steps (steps count from 1)."""

    preset: SchedulePreset
    pieces: tuple[RatePiece, ...]
    total_steps: int
    warmup_steps: int = 0
    min_rate: float = 0.0

    @classmethod
    def from_settings(cls, schedule, total_steps: int) -> "LearningRateSchedule":
        """From a project's `[schedule]` table; the text was checked when the project was read."""
        if schedule.preset == "piecewise":
            pieces = parse_piecewise(schedule.learning_rate)
        else:
            pieces = (RatePiece(parse_single_rate(schedule.learning_rate), None),)
        return cls(schedule.preset, pieces, total_steps, schedule.warmup_steps, schedule.min_learning_rate)

    def rate_at(self, step: int) -> float:
        peak = self.pieces[0].rate
        if self.preset == "piecewise":
            return next((piece.rate for piece in self.pieces if piece.until_step is None or step <= piece.until_step), self.pieces[-1].rate)
        if self.preset == "constant":
            return peak
        warmup = self.warmup_steps if self.preset == "warmup_cosine" else 0
        if step <= warmup:
            return peak * step / warmup
        progress = (step - warmup - 1) / max(1, self.total_steps - warmup - 1)
        return self.min_rate + (peak - self.min_rate) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def describe(self, first_step: int = 0) -> list[str]:
        """What the schedule does over this run, in lines a user checks before starting. A run that goes on from
        a checkpoint at `first_step` numbers its steps on from it, and so do these lines."""
        total = self.total_steps

        def at(step: int) -> int:
            return first_step + step

        if self.preset == "constant":
            return [f"{self.pieces[0].rate:g} for all {total} steps" + (f" ({at(1)}-{at(total)})" if first_step else "")]
        if self.preset in ("cosine", "warmup_cosine"):
            if self.preset == "warmup_cosine" and self.warmup_steps >= total:
                return [
                    f"rises from 0 toward {self.pieces[0].rate:g} over all {total} steps, ending at {self.rate_at(total):.3g}: "
                    f"the warmup ({self.warmup_steps} steps) is longer than the run"
                ]
            lines = []
            if self.preset == "warmup_cosine" and self.warmup_steps:
                lines.append(f"rises from 0 to {self.pieces[0].rate:g} over steps {at(1)}-{at(self.warmup_steps)}")
            lines.append(f"falls along a cosine to {self.min_rate:g} at step {at(total)}")
            return lines
        lines, start = [], 1
        for piece in self.pieces:
            if start > total:
                lines.append(f"{piece.rate:g} from step {at(start)}: never reached, the run ends at step {at(total)}")
                break
            end = total if piece.until_step is None or piece is self.pieces[-1] else min(piece.until_step, total)
            note = ""
            if piece is self.pieces[-1] and piece.until_step is not None and piece.until_step < total:
                note = f" (written to end at {piece.until_step}; it carries on to the end of the run)"
            lines.append(f"{piece.rate:g} for steps {at(start)}-{at(end)}{note}")
            start = (piece.until_step or total) + 1
        return lines
