"""How long a run takes: the work it does, counted, times the seconds each piece of work takes.

A run is its start (the trainer's process and the model's load), the latents of its images, its
steps, its validation passes, its checkpoints and its preview images. The seconds of each come from
a run on the same device, model and size (its events record them), or, where none has measured them,
from one training step's seconds: the other pieces are UNet forward passes and VAE passes, counted
in steps by ratios measured with `bench/estimate.py`. Torch-free: the wizard and the trainer both
count with it.
"""

import statistics
from dataclasses import dataclass, replace

from ti_tui.intervals import VALIDATION_IMAGES, VALIDATION_TIMESTEPS, RunIntervals
from ti_tui.runs.events import duration

# Ratios between the pieces of work, on the SD 1.5 shapes and builtin:tiny (bench/estimate.py):
FORWARD_SHARE = 0.4  # a UNet forward pass of one image, in training steps of one image
DECODE_FORWARDS = 4.0  # a VAE decode (the end of a preview image), in UNet forward passes
ENCODE_FORWARDS = 1.0  # a VAE encode of one image (and of its mirror image), in UNet forward passes
CHECKPOINT_SECONDS = 0.05  # writing an embedding and its resume state: small files
COMMAND_SECONDS = 1.0  # `ti-tui train` itself, before it starts the trainer and after the trainer ends
# How far the time may fall either side of the estimate: close once this device has been measured.
MEASURED_RANGE = (0.85, 1.2)
WORKED_OUT_RANGE = (0.6, 1.6)


@dataclass(frozen=True)
class RunWork:
    """What a run does, counted."""

    images: int  # images whose latents are encoded (each with its mirror image when flips are on)
    steps: int
    images_per_step: int  # batch size times accumulation
    validation_images: int  # over all validation passes together
    checkpoints: int
    preview_images: int  # over all preview rounds together
    sampling_steps: int  # of each preview image
    guided: bool  # previews drawn with CFG: two forward passes a sampling step


def count_work(
    intervals: RunIntervals,
    first_step: int,
    last_step: int,
    images: int,
    images_per_step: int,
    preview,
    *,
    validate_first: bool = True,
    with_init: bool = False,
    encoded: int = 0,
) -> RunWork:
    """The work of the steps after `first_step` up to `last_step` (the trainer's numbering) on `images` images, of
    which `encoded` have their latents already; `validate_first`: the run scores the vectors before its first step,
    as a fresh run does; `with_init`: each preview is drawn with the init words too. `preview`: the [preview] settings."""
    passes = due(intervals.validation, first_step, last_step) + (1 if validate_first and intervals.validation else 0)
    variants = 2 if with_init else 1
    return RunWork(
        images=images - encoded,
        steps=max(0, last_step - first_step),
        images_per_step=images_per_step,
        validation_images=passes * min(VALIDATION_IMAGES, images),
        checkpoints=due(intervals.save, first_step, last_step),
        preview_images=due(intervals.preview, first_step, last_step) * len(preview.prompts) * len(preview.seeds) * variants,
        sampling_steps=preview.sampling_steps,
        guided=preview.cfg_scale != 1,
    )


def due(every: int, after: int, last: int) -> int:
    """How many steps after `after`, up to and with `last`, do what comes every `every` steps (the last step always)."""
    if not every or last <= after:
        return 0
    return last // every - after // every + (0 if last % every == 0 else 1)


@dataclass(frozen=True)
class PhaseSeconds:
    """The seconds of each piece of work, and where they come from, in words."""

    start: float
    image: float
    step: float  # of one image
    validation_image: float
    checkpoint: float
    preview_image: float
    preview_sampling_steps: int  # the preview_image above is at this many sampling steps
    guided: bool
    source: str
    measured: bool

    def preview_image_at(self, sampling_steps: int, guided: bool) -> float:
        """A preview image's seconds at another count of sampling steps: a pass (two with CFG) per step and a decode."""
        forward = self.preview_image / (self.preview_sampling_steps * (2 if self.guided else 1) + DECODE_FORWARDS)
        return forward * (sampling_steps * (2 if guided else 1) + DECODE_FORWARDS)


def phases_from_step(step: float, start: float, source: str, measured: bool = False) -> PhaseSeconds:
    """Every piece's seconds from one step's (of one image), by the ratios above."""
    forward = step * FORWARD_SHARE
    return PhaseSeconds(
        start=start,
        image=forward * ENCODE_FORWARDS,
        step=step,
        validation_image=forward * len(VALIDATION_TIMESTEPS),
        checkpoint=CHECKPOINT_SECONDS,
        preview_image=forward * (2 + DECODE_FORWARDS),
        preview_sampling_steps=1,
        guided=True,
        source=source,
        measured=measured,
    )


def run_seconds(work: RunWork, phases: PhaseSeconds) -> float:
    return (
        phases.start
        + work.images * phases.image
        + work.steps * work.images_per_step * phases.step
        + work.validation_images * phases.validation_image
        + work.checkpoints * phases.checkpoint
        + work.preview_images * phases.preview_image_at(work.sampling_steps, work.guided)
        + COMMAND_SECONDS
    )


def describe_time(time: tuple[float, float, float]) -> str:
    """A run's time as its likely length and a range: 'about 4m10s (3m30s to 5m00s)'."""
    low, likely, high = time
    return f"about {duration(likely)} ({duration(low)} to {duration(high)})"


def seconds_range(work: RunWork, phases: PhaseSeconds) -> tuple[float, float, float]:
    """(shortest, likely, longest) seconds of the run."""
    likely = run_seconds(work, phases)
    low, high = MEASURED_RANGE if phases.measured else WORKED_OUT_RANGE
    return likely * low, likely, likely * high


# From a run's events --------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasuredRun:
    """What a run's events say its pieces took, and what it ran on (to tell whether another run compares)."""

    device: str
    dtype: str
    resolution: int
    images_per_step: int
    phases: PhaseSeconds


def measure_run(events: list[dict], launched: float | None, name: str) -> MeasuredRun | None:
    """The seconds a run's events record; None when it trained no step. `launched`: when its trainer was
    started (time.time()), for the start's seconds."""
    config = next((event for event in reversed(events) if event.get("type") == "config"), None)
    # A step's seconds: between two steps with nothing else between them, the middle one (not thrown by a warm-up).
    step_times = [
        later["t"] - earlier["t"]
        for earlier, later in zip(events, events[1:], strict=False)
        if earlier.get("type") == later.get("type") == "step" and later.get("step") == earlier.get("step", 0) + 1
    ]
    if config is None or not step_times:
        return None
    try:
        images_per_step = int(config["batch_size"]) * int(config["gradient_accumulation"])
        step = statistics.median(step_times) / images_per_step
        start = float(config["t"]) - launched if launched else float(config.get("load_s") or 0)
        measured = phases_from_step(step, start, f"as run {name} measured", measured=True)
        found = _median_seconds(events, "caching", "seconds")
        if found is not None:
            measured = replace(measured, image=found)
        found = _median_seconds(events, "validation", "seconds", per="images")
        if found is not None:
            measured = replace(measured, validation_image=found)
        found = _median_seconds(events, "checkpoint", "seconds")
        if found is not None:
            measured = replace(measured, checkpoint=found)
        previews = [event for event in events if event.get("type") == "preview" and event.get("seconds") and event.get("sampling_steps")]
        if previews:
            measured = replace(
                measured,
                preview_image=statistics.median(float(event["seconds"]) for event in previews),
                preview_sampling_steps=int(previews[-1]["sampling_steps"]),
                guided=bool(previews[-1].get("guided", True)),
            )
        return MeasuredRun(str(config["device"]), str(config["dtype"]), int(config["resolution"]), images_per_step, measured)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None  # events of another version


def _median_seconds(events: list[dict], kind: str, field: str, per: str = "") -> float | None:
    values = []
    for event in events:
        if event.get("type") == kind and isinstance(event.get(field), (int, float)):
            values.append(float(event[field]) / max(1, int(event.get(per) or 1)) if per else float(event[field]))
    return statistics.median(values) if values else None
