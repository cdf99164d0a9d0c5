"""The axes of an XY(Z) grid, written as the popular web UI's XYZ plot takes them.

    step=250,500,1000      checkpoints by step; "all" = every saved one, "last" = the newest,
                           "suggested" = the one suggested and its neighbours
    cfg=3-12 (+1.5)        a range by increment: 3, 4.5, ... 12
    cfg=1-10 [5]           a range by count: 5 values from 1 to 10
    seed=1-4               a range of whole numbers, by 1
    model=a.safetensors,b  model files (paths may be quoted); "base" = the project's model
    sampler=Euler a,DDIM   samplers by the names users know
    steps=10,20,40         sampling steps
    prompt=photo,painting  search and replace: the first word is found in the prompt, the others replace it
    strength=0.5-1.5 (+0.5)

Pure parsing: what the values mean (is there a checkpoint at step 250?) is checked when a grid is planned.
"""

import csv
import math
import re
from dataclasses import dataclass

from ti_tui.samplers import SamplerError, sampler_named


class AxisError(ValueError):
    """A spec that cannot be read; the message quotes the part that is wrong."""


@dataclass(frozen=True)
class AxisKind:
    name: str
    title: str  # how the grid labels it
    number: type | None  # int or float for numeric axes; None for words and paths
    low: float = 0
    high: float = math.inf


AXIS_KINDS: dict[str, AxisKind] = {
    kind.name: kind
    for kind in (
        AxisKind("step", "Step", int, 1),
        AxisKind("cfg", "CFG scale", float, 0, 30),
        AxisKind("model", "Model", None),
        AxisKind("seed", "Seed", int, 0, 2**32 - 1),
        AxisKind("sampler", "Sampler", None),
        AxisKind("steps", "Sampling steps", int, 1, 200),
        AxisKind("prompt", "Prompt", None),
        AxisKind("strength", "Strength", float, 0, 3),
    )
}
ALIASES = {
    "checkpoint": "step",
    "checkpoints": "step",
    "cfg scale": "cfg",
    "cfg_scale": "cfg",
    "models": "model",
    "seeds": "seed",
    "samplers": "sampler",
    "sampling steps": "steps",
    "sampling_steps": "steps",
    "prompt s/r": "prompt",
    "strengths": "strength",
}
MAX_VALUES = 100
STEP_WORDS = ("all", "last", "suggested")
# Either end may carry a sign ("-5-5"), so that a value out of range is named as such, not as unreadable.
_RANGE = re.compile(
    r"(?P<low>[+-]?[^-+\s]+)\s*-\s*(?P<high>[+-]?[^-+\s(\[]+)\s*(?:\((?P<sign>[+-])\s*(?P<by>[^)]*)\)|\[(?P<count>[^\]]*)\])?"
)


@dataclass(frozen=True)
class Axis:
    kind: AxisKind
    values: tuple  # numbers, words, or for step "all"/"last"/"suggested" until a grid is planned
    spec: str

    @property
    def name(self) -> str:
        return self.kind.name


def parse_axis(spec: str) -> Axis | None:
    """The axis a spec such as "cfg=3-12 (+1.5)" describes; None for an empty spec (no axis)."""
    spec = spec.strip()
    if not spec:
        return None
    name, equals, values_text = spec.partition("=")
    if not equals:
        raise AxisError(f'"{spec}" has no "=": write the axis, "=", and its values, such as "cfg=3,5,7"')
    key = " ".join(name.strip().lower().split())
    key = ALIASES.get(key, key)
    if key not in AXIS_KINDS:
        raise AxisError(f'"{name.strip()}" in "{spec}" is not an axis; axes are {", ".join(AXIS_KINDS)}')
    kind = AXIS_KINDS[key]
    items = _split(values_text, spec)
    values: list = []
    for item in items:
        values.extend(_values(kind, item, spec))
        if len(values) > MAX_VALUES:
            raise AxisError(f'"{spec}" gives more than {MAX_VALUES} values; a grid that size would take hours, so narrow it')
    if kind.name == "prompt" and len(values) < 2:
        raise AxisError(f'"{spec}" needs the word to find and at least one to put in its place, such as "prompt=photo,painting"')
    return Axis(kind, tuple(values), spec)


def _split(values_text: str, spec: str) -> list[str]:
    if not values_text.strip():
        raise AxisError(f'"{spec}" has no values after "="')
    try:
        items = next(csv.reader([values_text], skipinitialspace=True, strict=True))
    except csv.Error as error:
        raise AxisError(f'"{values_text.strip()}" in "{spec}" cannot be split into values ({error}); check the quotes') from None
    items = [item.strip() for item in items]
    if any(not item for item in items):
        raise AxisError(f'"{values_text.strip()}" in "{spec}" has an empty value: remove the extra comma')
    return items


def _values(kind: AxisKind, item: str, spec: str) -> list:
    if kind.name == "step" and item.lower() in STEP_WORDS:
        return [item.lower()]
    if kind.name == "sampler":
        try:
            return [sampler_named(item).name]
        except SamplerError as error:
            raise AxisError(f'"{item}" in "{spec}": {error}') from None
    if kind.number is None:
        return [item]
    match = _RANGE.fullmatch(item)
    if match:
        return _range(kind, match, item, spec)
    return [_number(kind, item, spec)]


def _number(kind: AxisKind, text: str, spec: str):
    try:
        value = kind.number(text)
    except ValueError:
        expected = "a whole number" if kind.number is int else "a number"
        example = "1-10 (+2)" if kind.number is int else "3-12 (+1.5)"
        raise AxisError(f'"{text}" in "{spec}" is not {expected} or a range such as {example}') from None
    if not (kind.low <= value <= kind.high) or (isinstance(value, float) and not math.isfinite(value)):
        accepted = f"{kind.low:g} or more" if kind.high == math.inf else f"{kind.low:g} to {kind.high:.10g}"
        raise AxisError(f'"{text}" in "{spec}" is out of range: {kind.title.lower()} takes {accepted}')
    return value


def _range(kind: AxisKind, match: re.Match, item: str, spec: str) -> list:
    """The values of a range, as the web UI's XYZ plot gives them, except where it errs: a range that
    counts down keeps its end, and a range of fractions never passes its end."""
    low, high = _number(kind, match["low"], spec), _number(kind, match["high"], spec)
    if match["count"] is not None:
        written = match["count"].strip()
        digits = written.lstrip("0") if written.isascii() and written.isdigit() else ""
        if not digits:
            raise AxisError(f'"[{written}]" in "{spec}" should be how many values, a whole number from 1')
        if len(digits) > len(str(MAX_VALUES)) or int(digits) > MAX_VALUES:  # a thousand digits are not read as a number
            raise AxisError(f'"[{written}]" in "{spec}" asks for more than {MAX_VALUES} values')
        count = int(digits)
        if count == 1:
            return [low]
        # Evenly spaced as numpy's linspace spaces them; whole-number axes then drop the fraction (1-10 [3]: 1, 5, 10).
        spacing = (high - low) / (count - 1)
        values = [low + index * spacing for index in range(count - 1)] + [high]
        return [int(value) if kind.number is int else round(value, 6) for value in values]
    increment = _increment(kind, match["by"], item, spec)
    if match["sign"] == "-" or low > high:
        increment = -increment
        if low < high:
            raise AxisError(f'"{item}" in "{spec}" counts down from {low:g} but ends higher, at {high:g}')
    if math.floor((high - low) / increment + 1e-9) + 1 > MAX_VALUES:
        raise AxisError(f'"{item}" in "{spec}" gives more than {MAX_VALUES} values; use a larger increment')
    values, index = [], 0
    while True:
        value = low + index * increment
        if (increment > 0 and value > high + 1e-9) or (increment < 0 and value < high - 1e-9):
            return values
        values.append(value if kind.number is int else round(value, 6))
        index += 1


def _increment(kind: AxisKind, text: str | None, item: str, spec: str):
    """The size of a range's steps: any positive number (whole for whole-number axes), even past the
    axis's limits, since only the values it reaches must be in range (steps=1-200 (+250) is just 1)."""
    if text is None:
        return 1
    try:
        increment = kind.number(text.strip())
    except ValueError:
        expected = "a whole number" if kind.number is int else "a number"
        raise AxisError(f'the increment "{text.strip()}" in "{spec}" is not {expected}') from None
    if increment == 0:
        raise AxisError(f'"{item}" in "{spec}" has an increment of 0, which never reaches the end')
    if increment < 0 or not math.isfinite(increment):
        raise AxisError(f'the increment "{text.strip()}" in "{spec}" should be a positive number; write the direction as (+2) or (-2)')
    return increment
