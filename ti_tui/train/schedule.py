"""Learning-rate schedule text: the piecewise syntax of the popular web UI, and the presets.

Piecewise: ``"0.005:200, 0.001:1000, 0.0005"``. Each rate holds up to and including its step
(steps count from 1); a bare last rate runs to the end of training. When the last item has a step
too, its rate carries on after that step rather than ending the run early.
"""

import math
from dataclasses import dataclass
from typing import Literal

SchedulePreset = Literal["piecewise", "constant", "cosine", "warmup_cosine"]


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
        if not colon:
            if number != len(items):
                raise ScheduleError(
                    f"{where} has no step, but only the last rate may run to the end; write it as rate:step"
                )
            pieces.append(RatePiece(rate, None))
            continue
        step = _parse_step(step_text.strip(), where)
        if pieces and step <= pieces[-1].until_step:
            raise ScheduleError(
                f"{where}: step {step} does not come after step {pieces[-1].until_step}; steps must increase"
            )
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
    if not text.isdigit():
        raise ScheduleError(f"{where}: the step {text!r} is not a whole number of steps (expected e.g. 0.005:200)")
    step = int(text)
    if step < 1:
        raise ScheduleError(f"{where}: the step must be at least 1")
    return step


def parse_single_rate(text: str) -> float:
    """The presets other than piecewise take one peak rate."""
    return _parse_rate(text.strip(), "")
