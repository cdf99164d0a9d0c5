"""What a user waits for when comparing checkpoints: `ti-tui xy` end to end, against plain diffusers loops.

    python bench/xy_grid.py [--repeat 3] [--sd15 --size 256 --sampling-steps 4]

A project with 3 checkpoints (made-up vectors, no training) renders the grid 3 checkpoints x 3 CFG
scales (3, 7, 11), on builtin:tiny, or with --sd15 on a model with the exact SD 1.5 shapes (random
weights, bench/sd15_model.py). Every figure is the wall clock of a fresh process, from its start
to its exit, repeated --repeat times, the four alternated (median and every run printed), with the
peak resident memory of the largest process each one ran (the renderer, the reference script):

- `ti-tui xy PROJECT --x step=all --y "cfg=3,7,11"` with every cell rendered afresh (grids/cells/
  deleted first), and the same command again with every cell already there;
- the reference, plain diffusers as its documentation teaches it, run as one script: for each cell
  a fresh `StableDiffusionPipeline.from_pretrained`, `load_textual_inversion(checkpoint,
  token=trigger)`, the same prompt, seed, CFG scale, steps, sampler (as its diffusers scheduler) and
  size, the PNG saved; and a fairer one that loads the pipeline once and, per checkpoint, calls
  `load_textual_inversion` and then `unload_textual_inversion()` (with no argument, which removes
  every added token: a multi-vector embedding adds "zorbot", "zorbot_1", ..., and unloading
  "zorbot" alone leaves "zorbot_1", so that the next load refuses).

Size and sampling steps are the project's [xy] size and sampling_steps. Both sides run in the
precision our `model.precision = "auto"` chooses here. The cells of both are compared at the end:
they render the same computation, so they should match up to rounding.

On a shared machine other work slows every figure down (two torch threads on two busy cores
slow down many times over), so each measurement starts after 2 quiet seconds, and the cores that
other work kept busy during it are counted (all busy CPU time in /proc/stat less ours): runs where
that was 0.25 cores or more are marked noisy, and the medians of the quiet runs printed beside
the medians of all.
"""

import argparse
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(BENCH))

from train_step import read_into_file_cache  # noqa: E402

CHECKPOINT_STEPS = (100, 200, 300)
X_AXIS, Y_AXIS = "step=all", "cfg=3,7,11"
QUIET = 0.1  # a measurement starts once the CPUs were at most this busy for 2 s (or after a minute of waiting)
NOISY_CORES = 0.25  # a measurement during which other work kept this many cores busy on average is marked noisy
REFERENCES = {
    "per-cell": "reference: pipeline loaded per cell",
    "once": "reference: pipeline once, TI per checkpoint",
}


@dataclass
class Timing:
    wall_s: float
    others_cores: float  # CPU cores that other work on the machine kept busy meanwhile, on average
    peak_mb: float  # the largest resident memory of any one process of the command (the renderer, the script)
    phases: dict[str, float] = field(default_factory=dict)  # where the time went, in seconds

    @property
    def quiet(self) -> bool:
        return self.others_cores < NOISY_CORES


# The project ------------------------------------------------------------------------------------


def make_project(work: Path, model: str, size: int, sampling_steps: int):
    """A copy of the sample project on `model`, with a run holding made-up checkpoints at CHECKPOINT_STEPS."""
    from ti_tui.project import Project
    from ti_tui.usecases.training import create_run

    root = work / "project"
    shutil.copytree(REPOSITORY / "sample_project", root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids"))
    project = Project.open(root)
    update = project.update({"model.base": model, "preview.every": 0, "xy.size": size, "xy.sampling_steps": sampling_steps})
    if update.problems:
        raise SystemExit(f"the project's settings were refused: {update.problems}")
    project = Project.open(root)
    write_checkpoints(create_run(project, steps=CHECKPOINT_STEPS[-1]), project.settings.token.trigger)
    return project


def write_checkpoints(run, trigger: str) -> None:
    """Checkpoints as the trainer saves them, of random vectors (width 768, as SD 1.x's text encoder)."""
    import torch

    from ti_tui.embedding.files import Embedding, write_embedding

    vectors = run.facts().vectors
    run.checkpoints_dir.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for step in CHECKPOINT_STEPS:
        embedding = Embedding(torch.randn(vectors, 768, generator=generator) * 0.4, trigger=trigger, step=step)
        write_embedding(embedding, run.checkpoint_paths(trigger, step).embedding, "safetensors")


def reference_job(project, model_folder: Path, dtype: str) -> dict:
    """The cells of our plan, as a plain diffusers script needs them: files, prompts and scheduler classes."""
    from ti_tui.samplers import sampler_named
    from ti_tui.usecases.compare import plan_grid

    plan = plan_grid(project, X_AXIS, Y_AXIS)
    cells = []
    for cell in plan.cells:
        settings = cell.settings
        sampler = sampler_named(settings.sampler)
        cells.append(
            {
                "name": f"cell-{cell.x}-{cell.y}.png",
                "embedding": settings.embedding,
                "trigger": settings.word,
                "prompt": settings.prompt,
                "negative_prompt": settings.negative_prompt,
                "seed": settings.seed,
                "cfg": settings.cfg_scale,
                "steps": settings.sampling_steps,
                "scheduler": sampler.scheduler,
                "scheduler_options": sampler.options,
                "size": settings.size,  # 0 = the pipeline's default, the model's own size
                "ours": cell.key + ".png",
            }
        )
    return {"model": str(model_folder), "dtype": dtype, "cells": cells, "sampler": plan.cells[0].settings.sampler}


# Ours: the command as a user types it -----------------------------------------------------------


def time_ours(project) -> Timing:
    """`ti-tui xy PROJECT --x step=all --y cfg=3,7,11`, from its start to its exit; its phases from the grid's events."""
    from ti_tui.usecases.compare import list_grids

    command = [sys.executable, "-m", "ti_tui", "xy", str(project.root), "--x", X_AXIS, "--y", Y_AXIS]
    launched = time.time()
    result, wall, others_cores, peak_mb = run_timed(command)
    ended = launched + wall
    if result.returncode:
        raise SystemExit(f"ti-tui xy failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    events = [json.loads(line) for line in list_grids(project)[-1].events_file.read_text().splitlines()]
    at = {event["type"]: event["t"] for event in events}  # the last of each kind
    cells = [event["t"] for event in events if event["type"] == "cell"]
    phases = {"start-up (CLI, plan, renderer started)": at["started"] - launched}
    if cells:
        intervals = [later - earlier for earlier, later in zip(cells, cells[1:])]
        per_cell = statistics.median(intervals) if intervals else 0.0
        phases["imports and model load (to the first cell, less one cell)"] = cells[0] - at["loading"] - per_cell
        phases[f"cells ({len(cells)} x the median cell: sampling, embedding swap, PNG)"] = per_cell * len(cells)
        phases["grid drawn, exit"] = ended - cells[-1]
    else:
        phases["grid drawn from the cells, exit"] = ended - at["started"]
    return Timing(wall, others_cores, peak_mb, phases)


def run_timed(command: list[str]) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run `command` to its exit: its result, its wall clock, the cores other work kept busy meanwhile, and
    the peak resident memory (MiB) of the largest of its processes.

    Other work is what /proc/stat counts as busy less the CPU time of the command and everything it
    started: the renderer `ti-tui xy` starts detached outlives it by a moment, and is handed to this
    process (a child subreaper) to be waited for and counted. Each process is waited for with wait4,
    which tells its own peak memory.
    """
    busy_before, ours_before = machine_busy_seconds(), children_cpu_seconds()
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        peak_kb = usage.ru_maxrss
        while True:
            try:
                _, _, usage = os.wait4(-1, 0)  # the detached renderer, if it is still exiting
            except ChildProcessError:
                break
            peak_kb = max(peak_kb, usage.ru_maxrss)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        result = subprocess.CompletedProcess(command, process.returncode, stdout.read(), stderr.read())
    window = time.perf_counter() - started
    others = (machine_busy_seconds() - busy_before) - (children_cpu_seconds() - ours_before)
    return result, wall, max(0.0, others / window), peak_kb / 1024


def machine_busy_seconds() -> float:
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def become_subreaper() -> None:
    """Descendants whose parent exits are handed to this process (Linux), so their CPU time can be counted."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


# The reference: plain diffusers, as a user following its documentation writes it ----------------


def run_reference(mode: str, job: dict, out: Path) -> None:
    """Render `job`'s cells into `out`; prints one JSON line per phase timed."""
    launched_imports = time.time()
    import diffusers
    import torch
    from diffusers import StableDiffusionPipeline

    def report(phase: str, seconds: float) -> None:
        print(json.dumps({"phase": phase, "s": seconds}), flush=True)

    report("imports", time.time() - launched_imports)
    dtype = getattr(torch, job["dtype"])
    model = job["model"]

    def load_pipeline():
        started = time.perf_counter()
        if Path(model).is_file():
            pipe = StableDiffusionPipeline.from_single_file(model, dtype=dtype)
        else:
            pipe = StableDiffusionPipeline.from_pretrained(model, dtype=dtype)
        cell = job["cells"][0]
        pipe.scheduler = getattr(diffusers, cell["scheduler"]).from_config(pipe.scheduler.config, **cell["scheduler_options"])
        pipe.set_progress_bar_config(disable=True)
        report("from_pretrained", time.perf_counter() - started)
        return pipe

    def load_embedding(pipe, cell) -> None:
        started = time.perf_counter()
        pipe.load_textual_inversion(cell["embedding"], token=cell["trigger"])
        report("load_textual_inversion", time.perf_counter() - started)

    def render(pipe, cell) -> None:
        started = time.perf_counter()
        image = pipe(
            cell["prompt"],
            negative_prompt=cell["negative_prompt"] or None,
            num_inference_steps=cell["steps"],
            guidance_scale=cell["cfg"],
            height=cell["size"] or None,
            width=cell["size"] or None,
            generator=torch.Generator().manual_seed(cell["seed"]),
        ).images[0]
        report("sampling", time.perf_counter() - started)
        started = time.perf_counter()
        image.save(out / cell["name"])
        report("PNG", time.perf_counter() - started)

    if mode == "per-cell":
        for cell in job["cells"]:
            pipe = load_pipeline()
            load_embedding(pipe, cell)
            render(pipe, cell)
            del pipe
    else:
        pipe = load_pipeline()
        by_checkpoint = sorted(job["cells"], key=lambda cell: cell["embedding"])
        for _, cells in groupby(by_checkpoint, key=lambda cell: cell["embedding"]):
            cells = list(cells)
            load_embedding(pipe, cells[0])
            for cell in cells:
                render(pipe, cell)
            started = time.perf_counter()
            pipe.unload_textual_inversion()
            report("unload_textual_inversion", time.perf_counter() - started)


def reference_run(mode: str, job_file: Path, work: Path, repeat: int) -> Timing:
    return time_reference(mode, job_file, work / f"reference-{mode}-{repeat}")


def time_reference(mode: str, job_file: Path, out: Path) -> Timing:
    """The reference script in a fresh process, from its start to its exit; its phases summed from what it printed."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--reference", mode, "--job", str(job_file), "--out", str(out)]
    result, wall, others_cores, peak_mb = run_timed(command)
    if result.returncode:
        raise SystemExit(f"the reference ({mode}) failed: {result.stderr[-3000:]}")
    phases: dict[str, float] = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            phases[entry["phase"]] = phases.get(entry["phase"], 0.0) + entry["s"]
    phases["interpreter start, exit, the rest"] = wall - sum(phases.values())
    return Timing(wall, others_cores, peak_mb, phases)


# Comparing and printing ---------------------------------------------------------------------------


def largest_difference(job: dict, ours: Path, reference: Path) -> int:
    """The largest difference of one pixel channel, of 255, between our cells and the reference's."""
    import numpy
    from PIL import Image

    largest = 0
    for cell in job["cells"]:
        with Image.open(ours / cell["ours"]) as mine, Image.open(reference / cell["name"]) as theirs:
            difference = numpy.abs(numpy.asarray(mine.convert("RGB"), dtype=int) - numpy.asarray(theirs.convert("RGB"), dtype=int))
        largest = max(largest, int(difference.max()))
    return largest


def busy_fraction(seconds: float) -> float:
    """How busy the machine's CPUs were over the next `seconds` (0 idle, 1 every core busy), from /proc/stat."""

    def counters() -> tuple[int, int]:
        values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # all, idle + iowait

    total, idle = counters()
    time.sleep(seconds)
    total_after, idle_after = counters()
    return 1 - (idle_after - idle) / max(1, total_after - total)


def wait_for_quiet(most_s: float = 60) -> bool:
    """Wait until other work leaves the CPUs nearly idle for 2 s (other sessions' tests share them); False if it never did."""
    deadline = time.monotonic() + most_s
    while time.monotonic() < deadline:
        if busy_fraction(2) < QUIET:
            return True
    return False


def machine() -> str:
    import platform

    import torch

    cpu_info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpu_info.splitlines() if line.startswith("model name")), platform.processor())
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    bf16 = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in flags]
    return (
        f"{model}, {os.cpu_count()} cores ({torch.backends.cpu.get_cpu_capability()}; lscpu bf16 flags: {', '.join(bf16) or 'none'}), "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def dtype_name(precision: str) -> str:
    import torch

    from ti_tui.sd.device import choose_dtype

    return str(choose_dtype(precision, torch.device("cpu"))).removeprefix("torch.")


def print_table(timings: dict[str, list[Timing]], cells: int) -> None:
    """Medians of every run, and of the quiet runs (other work under NOISY_CORES cores); noisy runs are marked *."""

    def median(runs: list[Timing]) -> float | None:
        return statistics.median(run.wall_s for run in runs) if runs else None

    ours = timings["ti-tui xy, every cell rendered"]
    ours_all, ours_quiet = median(ours), median([run for run in ours if run.quiet])
    print(
        f"\n{'':46}{'median s':>9}{'cells/s':>9}{'ref/ours':>9}{'quiet runs':>11}{'median s':>9}{'ref/ours':>9}{'peak MiB':>9}"
        "  runs s (* noisy)"
    )
    for name, runs in timings.items():
        quiet = [run for run in runs if run.quiet]
        all_median, quiet_median = median(runs), median(quiet)
        reference = name.startswith("reference")
        ratio = f"{all_median / ours_all:>8.2f}x" if reference else f"{'':9}"
        quiet_text = f"{quiet_median:>9.1f}" if quiet_median else f"{'-':>9}"
        quiet_ratio = f"{quiet_median / ours_quiet:>8.2f}x" if reference and quiet_median and ours_quiet else f"{'':9}"
        every = " ".join(f"{run.wall_s:.1f}{'' if run.quiet else '*'}" for run in runs)
        peak = max(run.peak_mb for run in runs)
        print(
            f"{name:46}{all_median:>9.1f}{cells / all_median:>9.2f}{ratio}{len(quiet):>6} of {len(runs)}{quiet_text}{quiet_ratio}"
            f"{peak:>9.0f}  {every}"
        )


def print_phases(timings: dict[str, list[Timing]]) -> None:
    print("\nWhere the time goes (seconds; medians over the quiet runs, or over all where none was quiet):")
    for name, runs in timings.items():
        runs = [run for run in runs if run.quiet] or runs
        parts = ", ".join(f"{phase} {statistics.median(run.phases.get(phase, 0.0) for run in runs):.1f}" for phase in runs[0].phases)
        print(f"  {name}: {parts}")


# The benchmark ------------------------------------------------------------------------------------


def benchmark(arguments: argparse.Namespace) -> None:
    from ti_tui.sd.tiny import ensure_builtin_tiny

    if arguments.sd15:
        from sd15_model import sd15_model_dir

        model_folder = sd15_model_dir()
        model, model_name = str(model_folder), "SD 1.5 shapes, random weights"
    else:
        model_folder = ensure_builtin_tiny()
        model, model_name = "builtin:tiny", "builtin:tiny"
    become_subreaper()
    read_into_file_cache(model_folder)
    subprocess.run([sys.executable, "-c", "import torch, diffusers, transformers, ti_tui.infer.xy"], check=True, capture_output=True)

    with tempfile.TemporaryDirectory(prefix="ti-tui-xy-bench-") as scratch:
        work = Path(scratch)
        project = make_project(work, model, arguments.size, arguments.sampling_steps)
        dtype = dtype_name(project.settings.model.precision)
        job = reference_job(project, model_folder, dtype)
        job_file = work / "job.json"
        job_file.write_text(json.dumps(job))
        cells, size = len(job["cells"]), arguments.size or "the model's own"
        print(f"Machine: {machine()}")
        print(
            f"Model: {model_name}, {dtype}; grid {len(CHECKPOINT_STEPS)} checkpoints x 3 CFG scales (3, 7, 11) = {cells} cells, "
            f"size {size}, {arguments.sampling_steps} steps of {job['sampler']}"
        )
        print(
            f"Each figure: the wall clock of a fresh process, start to exit; {arguments.repeat} repeats, alternated, each "
            f"started after 2 quiet seconds (at most a minute's wait); noisy: other work kept {NOISY_CORES} cores or more busy meanwhile",
            flush=True,
        )

        cells_dir = project.root / "grids" / "cells"

        def afresh(repeat: int) -> Timing:
            shutil.rmtree(cells_dir, ignore_errors=True)
            return time_ours(project)

        measurements = {
            "ti-tui xy, every cell rendered": afresh,
            "ti-tui xy, every cell already there": lambda repeat: time_ours(project),
            **{name: partial(reference_run, mode, job_file, work) for mode, name in REFERENCES.items()},
        }
        timings: dict[str, list[Timing]] = {name: [] for name in measurements}
        never_quiet = 0
        for repeat in range(arguments.repeat):
            for name, measure in measurements.items():
                never_quiet += not wait_for_quiet()
                timing = measure(repeat)
                timings[name].append(timing)
                print(
                    f"  repeat {repeat + 1}, {name}: {timing.wall_s:.1f} s (others kept {timing.others_cores:.2f} cores busy)", flush=True
                )

        print(f"Measurements started without 2 quiet seconds first: {never_quiet} of {len(measurements) * arguments.repeat}")
        print_table(timings, cells)
        fresh = statistics.median(timing.wall_s for timing in timings["ti-tui xy, every cell rendered"])
        reused = statistics.median(timing.wall_s for timing in timings["ti-tui xy, every cell already there"])
        print(f"With every cell already there the command takes {reused:.1f} s, {fresh / reused:.1f} times quicker than rendering afresh")
        print_phases(timings)
        last = arguments.repeat - 1
        for mode, name in REFERENCES.items():
            difference = largest_difference(job, cells_dir, work / f"reference-{mode}-{last}")
            print(f"Largest pixel difference, ours against {name}: {difference} of 255")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/xy_grid.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sd15", action="store_true", help="the model with SD 1.5's shapes instead of builtin:tiny")
    parser.add_argument("--size", type=int, default=0, help="[xy] size: cell size in pixels (default 0, the model's own)")
    parser.add_argument("--sampling-steps", type=int, default=20, help="[xy] sampling_steps (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="times each is run; medians are printed (default 3)")
    parser.add_argument("--reference", choices=sorted(REFERENCES), help=argparse.SUPPRESS)  # the reference script itself
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.reference:
        run_reference(arguments.reference, json.loads(arguments.job.read_text()), arguments.out)
    else:
        benchmark(arguments)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
