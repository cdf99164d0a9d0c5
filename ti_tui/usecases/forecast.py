"""What a run of the project will be, before it starts: how often each image is seen, the memory it
needs on the device at hand, and roughly how long it takes.

The memory comes from the trainer's own estimate, worked out from the model's sizes as read from its
files. The time comes from the work one step does, measured once (`bench/`), and the speed the
device multiplies matrices at, measured a moment before by a helper process: an estimate, and said
to be one.
"""

from dataclasses import dataclass

from ti_tui.errors import UserError
from ti_tui.project import Project
from ti_tui.sd.device import DeviceProbe
from ti_tui.sd.size import model_size
from ti_tui.sd.source import classify_model_source
from ti_tui.train.memory import MemoryEstimate, estimate_from_shapes
from ti_tui.usecases.images import originals, training_size

# One training step of SD 1.5 (UNet 859.5M parameters) at 512 px, batch 1: forward and backward to
# the vectors, counted with torch.utils.flop_counter.FlopCounterMode (shared/FACTS.md). Other sizes
# scale with the latent area, the batch and the UNet's parameters.
STEP_GFLOP_SD15_512 = 1360.0
SD15_UNET_PARAMETERS = 859_520_964
# Of the matrix-multiply speed a device reaches, what a whole step reaches: 0.43-0.48 measured on a
# CPU with native bf16 at 256 and 512 px (bench/RESULTS.md). Not yet measured on a GPU.
STEP_EFFICIENCY = 0.45
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class RunForecast:
    images: int  # training images, mirror copies included
    epochs: float  # passes over the images
    memory: MemoryEstimate | None
    seconds: float | None
    problem: str = ""  # why memory or time are missing
    resolution: int = 0
    too_big: str = ""  # when the run would not fit in the device's free memory: that, and what to change first


def forecast_run(project: Project, device: DeviceProbe | None) -> RunForecast:
    settings = project.settings
    training = settings.training
    images = len(originals(project)) * (2 if settings.dataset.flip else 1)
    seen = training.steps * training.batch_size * training.gradient_accumulation * training.processes
    epochs = seen / images if images else 0.0
    if device is None or device.problem:
        return RunForecast(images, epochs, None, None, device.problem if device else "the device is being examined")
    try:
        size = model_size(classify_model_source(settings.model.base, project.root))
        resolution = training_size(project)
    except UserError as error:
        return RunForecast(images, epochs, None, None, str(error))
    except OSError as error:
        return RunForecast(images, epochs, None, None, f"{error.filename or 'the model'} cannot be read: {error.strerror}")
    bytes_per_element = BYTES.get(device.dtype, 4)
    on_cpu = device.name == "cpu"
    checkpointing = training.gradient_checkpointing == "on"
    memory = estimate_from_shapes(
        size.parameters * bytes_per_element,
        size.unet_channels,
        resolution // 8,
        training.batch_size,
        bytes_per_element,
        on_cpu,
        checkpointing,
    )
    gflop = STEP_GFLOP_SD15_512 * (resolution / 512) ** 2 * training.batch_size * training.gradient_accumulation
    gflop *= size.unet_parameters / SD15_UNET_PARAMETERS
    seconds = training.steps * gflop / (device.matmul_gflops * STEP_EFFICIENCY) if device.matmul_gflops else None
    return RunForecast(images, epochs, memory, seconds, resolution=resolution, too_big=_too_big(memory, device, training, resolution))


def _too_big(memory: MemoryEstimate, device: DeviceProbe, training, resolution: int) -> str:
    """'' when the run fits in the device's free memory; else the settings to try, the one that saves most first."""
    if not device.free_memory or memory.total_mb * 2**20 <= device.free_memory:
        return ""
    tries = []
    if training.batch_size > 1:
        tries.append(
            f"training.batch_size = {training.batch_size // 2} (with training.gradient_accumulation = {training.gradient_accumulation * 2} to see as many images a step)"
        )
    if training.gradient_checkpointing != "on" and device.name != "cpu":
        tries.append('training.gradient_checkpointing = "on" (slower steps, a fraction of the activations)')
    if resolution > 256:
        tries.append(f"dataset.resolution = {resolution * 3 // 4 // 8 * 8} (smaller images, less detail)")
    need, free = memory.total_mb / 1024, device.free_memory / 2**30
    advice = f"; try {tries[0]}" if tries else "; no setting makes it smaller: it needs a device with more memory"
    return f"The run needs {need:.1f} GiB but {device.name} has {free:.1f} GiB free, so it would not fit{advice}."
