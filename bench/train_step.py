"""Training speed, memory and start-up of ti-tui's trainer against the diffusers example's method.

    python bench/train_step.py [--resolution 256] [--batch 1] [--steps 6] [--device cpu|cuda]
                               [--precision auto|fp32|bf16|fp16] [--repeat 1] [--no-scaling]

Both run on a model with the exact SD 1.5 shapes (random weights, built once into the cache), on
the same images, resolution, batch, precision and steps, each in a fresh process, one after the
other. Ours is the real trainer, started the way `ti-tui train` starts it; the reference is
bench/reference_loop.py. The first steps of each are a warm-up (ours encodes each image's latents
the first time it is drawn, so the warm-up covers one pass over the images); steps/s is measured
on the steps after it, time to first step from the process start, memory as the peak resident
size on the CPU or the peak allocated memory on a GPU. The model's files are read once before
either starts, so that start-up is timed on a warm disk cache for both.
"""

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(BENCH))

IMAGES = 5  # the fewest a project accepts, so that one pass over them (the warm-up) is short on a CPU


@dataclass
class Measurement:
    first_step_s: float
    steps_per_s: float
    peak_memory_mb: float
    losses: list[float]
    estimate_mb: float | None = None  # what our trainer printed before its first step


def steady_speed(times: list[float], warmup: int) -> float:
    measured = times[warmup - 1 :]
    if len(measured) < 2:
        raise SystemExit("too few steps to measure a speed; raise --steps")
    return (len(measured) - 1) / (measured[-1] - measured[0])


def wait_for_peak_rss(process: subprocess.Popen) -> float:
    """Wait for the process to end; its peak resident size in MiB, as the kernel counted it.

    The trainer runs in a session of its own, so an interrupted benchmark would leave it running
    and slow every later measurement: it is stopped with the benchmark.
    """
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait for it again
    return usage.ru_maxrss / 1024


def read_into_file_cache(folder: Path) -> None:
    """Read every model file once, so that neither loop's start-up is timed on a cold disk cache."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass


def prepare_images(folder: Path) -> Path:
    images = folder / "images"
    images.mkdir(parents=True)
    for picture in sorted((REPOSITORY / "sample_project" / "images").glob("*.jpg"))[:IMAGES]:
        shutil.copy(picture, images / picture.name)
        shutil.copy(picture.with_suffix(".txt"), images / picture.with_suffix(".txt").name)
    return images


def make_project(model: Path, images: Path, work: Path, resolution: int, batch: int, steps: int, precision: str, device: str):
    """A project set up as both loops train: validation and previews off, one checkpoint at the end."""
    from ti_tui.project import create_project

    project = create_project(work / f"ours-{resolution}-{batch}-{time.monotonic_ns()}", model=str(model), images=images, token="zorbot")
    settings = project.settings.model_copy(deep=True)
    settings.model.precision, settings.model.device = precision, device
    settings.dataset.kind, settings.dataset.resolution = "subject", resolution
    settings.token.init_text, settings.token.vectors = "robot", 1
    training = settings.training
    training.batch_size, training.template, training.latent_sampling = batch, "photo", "random"
    training.validation_every, training.save_every = 0, steps
    settings.preview.every = 0
    settings.schedule.preset, settings.schedule.learning_rate = "constant", "0.005"
    project.store.save(settings)
    return project


def run_ours(model: Path, images: Path, work: Path, resolution: int, batch: int, steps: int, precision: str, device: str) -> Measurement:
    from ti_tui.usecases.training import create_run, start_trainer

    project = make_project(model, images, work, resolution, batch, steps, precision, device)
    started = time.time()  # what `ti-tui train` does from here on counts: checking the images, starting the trainer
    run = create_run(project, steps=steps)
    process = start_trainer(run)
    peak = wait_for_peak_rss(process)
    events = run.events()
    step_events = [event for event in events if event["type"] == "step"]
    final = [event for event in events if event["type"] == "finished"]
    if not final or final[0]["reason"] != "completed":
        raise SystemExit(f"our trainer did not finish: {final or run.log_file.read_text()[-2000:]}")
    if device.startswith("cuda"):
        peak = max(event["memory_mb"] for event in step_events)
    times = [event["t"] for event in step_events]
    warmup = math.ceil(IMAGES / batch)
    config = next(event for event in events if event["type"] == "config")
    losses = [event["loss"] for event in step_events]
    return Measurement(times[0] - started, steady_speed(times, warmup), peak, losses, config["memory_estimate_mb"])


def time_train_command(
    model: Path, images: Path, work: Path, resolution: int, batch: int, steps: int, precision: str, device: str
) -> float:
    """`ti-tui train PROJECT --steps N` as a user types it: seconds from the command's start to its exit."""
    project = make_project(model, images, work, resolution, batch, steps, precision, device)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "ti_tui", "train", str(project.root), "--steps", str(steps)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"ti-tui train failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    return elapsed


def run_reference(model: Path, images: Path, resolution: int, batch: int, steps: int, precision: str, device: str) -> Measurement:
    import psutil

    command = [
        sys.executable,
        str(BENCH / "reference_loop.py"),
        "--model",
        str(model),
        "--images",
        str(images),
        "--resolution",
        str(resolution),
        "--batch",
        str(batch),
        "--steps",
        str(steps),
        "--precision",
        precision,
        "--device",
        device,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    started = psutil.Process(process.pid).create_time()
    lines = [json.loads(line) for line in process.stdout]
    process.wait()
    if process.returncode:
        raise SystemExit("the reference loop failed")
    times = [line["t"] for line in lines if "step" in line]
    peak = next(line["peak_memory_mb"] for line in lines if "peak_memory_mb" in line)
    warmup = math.ceil(IMAGES / batch)
    return Measurement(times[0] - started, steady_speed(times, warmup), peak, [line["loss"] for line in lines if "step" in line])


def chosen_precision(precision: str, device: str) -> str:
    """What our trainer would pick for "auto", named so that the reference can use the same."""
    import torch

    from ti_tui.sd.device import choose_dtype

    dtype = choose_dtype(precision, torch.device(device))
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def machine(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    capability = torch.backends.cpu.get_cpu_capability()
    cpu_info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpu_info.splitlines() if line.startswith("model name")), platform.processor())
    return f"{model}, {os.cpu_count()} cores ({capability}), {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def compare(model: Path, images: Path, work: Path, resolution: int, batch: int, steps: int, precision: str, device: str, repeat: int):
    """Alternate ours and the reference `repeat` times; the best of each counts, and every one of ours is returned too."""
    warmup = math.ceil(IMAGES / batch)
    ours, reference = [], []
    for _ in range(repeat):
        ours.append(run_ours(model, images, work, resolution, batch, warmup + steps, precision, device))
        reference.append(run_reference(model, images, resolution, batch, warmup + steps, precision, device))
    return max(ours, key=lambda m: m.steps_per_s), max(reference, key=lambda m: m.steps_per_s), ours


PEAK_SPREAD = 0.03  # the peaks of repeats of one run, highest against lowest
ESTIMATE_TOLERANCE = 0.10  # the estimate printed before the first step, against each peak


def describe_peaks(runs: list[Measurement]) -> str:
    """Every repeat's peak, their spread and the estimate against each: the memory is the same run to run."""
    peaks = [run.peak_memory_mb for run in runs]
    spread = max(peaks) / min(peaks) - 1
    estimate = runs[0].estimate_mb
    off = [estimate / peak - 1 for peak in peaks]
    return (
        f"Peak of each repeat (ti-tui): {', '.join(f'{peak / 1024:.2f}' for peak in peaks)} GiB, spread {spread:.1%} "
        f"({'within' if spread <= PEAK_SPREAD else 'over'} {PEAK_SPREAD:.0%}); the estimate {estimate / 1024:.2f} GiB is "
        f"{', '.join(f'{value:+.1%}' for value in off)} of them "
        f"({'each within' if all(abs(value) <= ESTIMATE_TOLERANCE for value in off) else 'not all within'} {ESTIMATE_TOLERANCE:.0%})"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/train_step.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6, help="measured steps of each, after the warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--repeat", type=int, default=1, help="alternate the two this many times, keep the best of each")
    parser.add_argument(
        "--no-scaling", dest="scaling", action="store_false", help="skip the 256/384/512 px x batch 1/2/4 table (an hour on a CPU)"
    )
    arguments = parser.parse_args(argv)

    from sd15_model import parameter_counts, sd15_model_dir

    precision = chosen_precision(arguments.precision, arguments.device)
    built = time.monotonic()
    model = sd15_model_dir()
    counts = parameter_counts(model)
    read_into_file_cache(model)
    print(f"Machine: {machine(arguments.device)}")
    print(
        f"Model: SD 1.5 shapes, random weights (UNet {counts['unet'] / 1e6:.1f}M, text encoder {counts['text_encoder'] / 1e6:.1f}M, "
        f"VAE {counts['vae'] / 1e6:.1f}M parameters), ready in {time.monotonic() - built:.0f} s"
    )
    print(
        f"Run: {arguments.resolution} px, batch {arguments.batch}, {precision} on {arguments.device}, {IMAGES} images, "
        f"{math.ceil(IMAGES / arguments.batch)} warm-up + {arguments.steps} measured steps, each loop in a fresh process"
    )
    with tempfile.TemporaryDirectory(prefix="ti-tui-bench-") as scratch:
        work = Path(scratch)
        images = prepare_images(work)
        ours, reference, repeats = compare(
            model, images, work, arguments.resolution, arguments.batch, arguments.steps, precision, arguments.device, arguments.repeat
        )
        memory_kind = "peak allocated VRAM" if arguments.device.startswith("cuda") else "peak RSS"
        print()
        print(f"{'':12}{'steps/s':>10}{'first step':>14}{memory_kind:>20}")
        for name, measurement in (("ti-tui", ours), ("reference", reference)):
            print(
                f"{name:12}{measurement.steps_per_s:>10.3f}{measurement.first_step_s:>12.1f} s"
                f"{measurement.peak_memory_mb / 1024:>17.2f} GiB"
            )
        print(f"\nSpeed ratio (ti-tui / reference): {ours.steps_per_s / reference.steps_per_s:.2f}x")
        print(f"Memory ratio (ti-tui / reference): {ours.peak_memory_mb / reference.peak_memory_mb:.2f}")
        print(f"Time to first step ratio (ti-tui / reference): {ours.first_step_s / reference.first_step_s:.2f}")
        print(f"Memory estimate printed by ti-tui: {ours.estimate_mb / 1024:.2f} GiB; measured {ours.peak_memory_mb / 1024:.2f} GiB")
        print(describe_peaks(repeats))

        # The command as a user runs it, for two run lengths: the difference is the cost of the extra
        # steps with everything between them (events, the progress line), the rest is start-up and the end.
        short_run, long_run = (
            math.ceil(IMAGES / arguments.batch) + arguments.steps,
            math.ceil(IMAGES / arguments.batch) + 2 * arguments.steps,
        )
        wall = {
            steps: time_train_command(model, images, work, arguments.resolution, arguments.batch, steps, precision, arguments.device)
            for steps in (short_run, long_run)
        }
        per_step = (wall[long_run] - wall[short_run]) / (long_run - short_run)
        print(
            f"\n`ti-tui train --steps N`, wall clock of the whole command: {short_run} steps {wall[short_run]:.1f} s, {long_run} steps {wall[long_run]:.1f} s"
        )
        print(f"  per step, end to end: {per_step:.2f} s ({1 / per_step:.3f} steps/s; in the loop: {ours.steps_per_s:.3f} steps/s)")
        print(f"  the rest (start-up, loading, caching {IMAGES} images' latents, the end): {wall[short_run] - short_run * per_step:.1f} s")

        if arguments.scaling:
            print(f"\nScaling ({arguments.device}, {precision}, {max(2, arguments.steps // 3)} measured steps each)")
            print(
                f"{'px':>5}{'batch':>6}{'ti-tui steps/s':>16}{'reference':>11}{'ratio':>7}{'ti-tui GiB':>12}{'reference GiB':>15}{'estimate GiB':>14}"
            )
            for resolution in (256, 384, 512):
                for batch in (1, 2, 4):
                    ours, reference, _ = compare(
                        model, images, work, resolution, batch, max(2, arguments.steps // 3), precision, arguments.device, 1
                    )
                    print(
                        f"{resolution:>5}{batch:>6}{ours.steps_per_s:>16.3f}{reference.steps_per_s:>11.3f}"
                        f"{ours.steps_per_s / reference.steps_per_s:>7.2f}{ours.peak_memory_mb / 1024:>12.2f}"
                        f"{reference.peak_memory_mb / 1024:>15.2f}{ours.estimate_mb / 1024:>14.2f}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
