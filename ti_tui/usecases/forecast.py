"""What a run of the project will be, before it starts: how often each image is seen, the memory it
needs on the device at hand, and how long it takes, as a range.

The memory comes from the trainer's own estimate, worked out from the model's sizes as read from its
files. The time counts everything a run does (start, latents, steps, validation, checkpoints,
previews) at the seconds the project's last run on the same device, model and size measured; before
there is one, from the work one step does, measured once (`bench/`), and the speed the device
multiplies matrices at, measured a moment before by a helper process. It says which.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ti_tui.errors import UserError
from ti_tui.intervals import VALIDATION_TIMESTEPS, run_intervals
from ti_tui.project import Project
from ti_tui.runs.timing import CHECKPOINT_SECONDS, MeasuredRun, PhaseSeconds, count_work, measure_run, seconds_range
from ti_tui.sd.device import DeviceProbe
from ti_tui.sd.size import model_size
from ti_tui.sd.source import classify_model_source
from ti_tui.sd.work import ModelWork, work_in_a_helper
from ti_tui.train.memory import MemoryEstimate, estimate_from_shapes
from ti_tui.usecases.images import originals, training_size

# How fast a device works through each kind of work, as shares of the matrix speed its probe measured, and
# what each costs besides its arithmetic: fitted on the SD 1.5 shapes and builtin:tiny at 128-512 px, on a
# CPU with native bf16 (bench/estimate.py, bench/RESULTS.md). Not yet measured on a GPU.
FORWARD_EFFICIENCY = 0.7  # a UNet forward pass
STEP_EFFICIENCY = 0.5  # a training step: the forward pass and the gradient back to the prompt
ENCODE_EFFICIENCY = 0.7  # the VAE's encoder
DECODE_EFFICIENCY = 0.45  # the VAE's decoder
ATTENTION_SCORE_SECONDS = 1.1e-9  # each attention score's softmax; what sets the pace at a large latent with narrow heads
STEP_ATTENTION_SHARE = 1.2  # a step's attention work, in forward passes'
FORWARD_OVERHEAD_SECONDS = 0.01  # Python and the sampler around each UNet call, which a small model's passes are made of
VALIDATION_OVERHEAD_SECONDS = 0.04  # an image's validation prompts encoded and its event written
STEP_OVERHEAD_SECONDS = 0.06  # Python, the optimiser, the event written
PREVIEW_OVERHEAD_SECONDS = 0.15  # the prompts encoded, the sampler set up, the PNG written
IMAGE_OVERHEAD_SECONDS = 0.03  # an image read and cropped before its latents are encoded
START_SECONDS = 5.5  # the trainer's process and its imports, before the model's weights are read (4.6-5.9 s measured)
LOAD_BYTES_PER_SECOND = 1.0e9  # the weights read (from the disk cache) and converted to the run's precision
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


@dataclass(frozen=True)
class RunForecast:
    images: int  # training images, mirror copies included
    epochs: float  # passes over the images
    memory: MemoryEstimate | None
    time: tuple[float, float, float] | None  # seconds: shortest, likely, longest
    time_source: str = ""  # where the seconds come from, in words
    problem: str = ""  # why memory or time are missing
    resolution: int = 0
    too_big: str = ""  # when the run would not fit in the device's free memory: that, and what to change first


def forecast_run(
    project: Project, device: DeviceProbe | None, steps: int | None = None, count_work_of_model: Callable = work_in_a_helper
) -> RunForecast:
    """The run the project's settings make; `steps`, when given, in place of training.steps. `count_work_of_model`:
    (UNet config, VAE config, resolution) -> ModelWork."""
    settings = project.settings
    training = settings.training
    if steps is not None:
        training = training.model_copy(update={"steps": steps})
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
    phases = _measured_phases(project, device, resolution)
    if phases is None and device.matmul_gflops:
        model_work = count_work_of_model(size.unet_config, size.vae_config, resolution)
        if not model_work.problem:
            start = START_SECONDS + size.parameters * bytes_per_element / LOAD_BYTES_PER_SECOND
            phases = worked_out_phases(model_work, device.matmul_gflops, start, settings)
    time = None
    if phases is not None:
        work = count_work(
            run_intervals(settings, training.steps),
            0,
            training.steps,
            len(originals(project)),
            training.batch_size * training.gradient_accumulation,
            settings.preview,
            with_init=settings.preview.compare_init and bool(settings.token.init_text),
        )
        time = seconds_range(work, phases)
    return RunForecast(
        images,
        epochs,
        memory,
        time,
        phases.source if phases else "",
        resolution=resolution,
        too_big=_too_big(memory, device, training, resolution),
    )


def worked_out_phases(work: ModelWork, gflops: float, start: float, settings) -> PhaseSeconds:
    """Each piece's seconds from the arithmetic it does and the device's matrix speed."""

    def seconds(gflop: float, efficiency: float) -> float:
        return gflop / (gflops * efficiency)

    def forward(batch: int) -> float:
        return batch * (seconds(work.forward_gflop, FORWARD_EFFICIENCY) + work.attention_mscores * 1e6 * ATTENTION_SCORE_SECONDS)

    preview = settings.preview
    guided = preview.cfg_scale != 1
    sampling_step = forward(2 if guided else 1) + FORWARD_OVERHEAD_SECONDS
    return PhaseSeconds(
        start=start,
        image=seconds(work.encode_gflop, ENCODE_EFFICIENCY) * (2 if settings.dataset.flip else 1) + IMAGE_OVERHEAD_SECONDS,
        step=seconds(work.step_gflop, STEP_EFFICIENCY)
        + STEP_ATTENTION_SHARE * work.attention_mscores * 1e6 * ATTENTION_SCORE_SECONDS
        + STEP_OVERHEAD_SECONDS,
        validation_image=forward(len(VALIDATION_TIMESTEPS)) + VALIDATION_OVERHEAD_SECONDS,
        checkpoint=CHECKPOINT_SECONDS,
        preview_image=preview.sampling_steps * sampling_step + seconds(work.decode_gflop, DECODE_EFFICIENCY) + PREVIEW_OVERHEAD_SECONDS,
        preview_sampling_steps=preview.sampling_steps,
        guided=guided,
        source="worked out from the model and this device's speed",
        measured=False,
    )


def _measured_phases(project: Project, device: DeviceProbe, resolution: int) -> PhaseSeconds | None:
    """The seconds measured by the project's newest run on this device, precision, model and size, if any."""
    from ti_tui.usecases.training import list_runs

    for run in reversed(list_runs(project)):
        try:
            facts = run.facts()
        except UserError:
            continue
        if facts.settings.model.base != project.settings.model.base:
            continue
        measured: MeasuredRun | None = measure_run(run.events(), facts.launches[-1].started if facts.launches else None, run.id)
        if measured and (measured.device, measured.dtype, measured.resolution) == (device.name, device.dtype, resolution):
            return measured.phases
    return None


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
