"""Numbers in words, the way the screens show them."""

from ti_tui.intervals import describe_intervals, run_intervals, shortfalls
from ti_tui.runs.timing import describe_time


def gib(megabytes: float) -> str:
    return f"{megabytes / 1024:.1f} GiB"


def describe_forecast(forecast, project, device) -> str:
    """What the run will be: passes over the images, the memory on this device, and the time, as estimates."""
    training = project.settings.training
    intervals = run_intervals(project.settings, training.steps)
    lines = [
        f"{training.steps} steps of {training.batch_size} image(s)"
        + (f" x {training.gradient_accumulation} accumulated" if training.gradient_accumulation > 1 else "")
        + (
            f" over {forecast.images} training image(s): {forecast.epochs:.1f} passes, each image seen about {forecast.epochs:.0f} times."
            if forecast.images
            else ", with no images to train on yet (Images, step 1)."
        ),
        describe_intervals(intervals),
        *(f"! A run would have {missed}." for missed in shortfalls(intervals, 0, training.steps)),
    ]
    if forecast.memory is None:
        lines.append(f"Memory and time: {forecast.problem}." if forecast.problem else "")
        return "\n".join(line for line in lines if line)
    free = (
        f" of {gib(device.free_memory / 2**20)} free"
        if device.free_memory
        else f" of {gib(device.total_memory / 2**20)}"
        if device.total_memory
        else ""
    )
    lines.append(f"Memory: {forecast.memory.describe()}{free}, on {device.name} in {device.dtype}.")
    if forecast.time is not None:
        lines.append(f"Time: {describe_time(forecast.time)}, {forecast.time_source}.")
    return "\n".join(lines)
