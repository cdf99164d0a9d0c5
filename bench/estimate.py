"""The time `ti-tui train` says a run will take, beside the time the command takes, validation and previews on.

    python bench/estimate.py [--configs tiny-256,tiny-512,sd15-256,sd15-512] [--device cpu]

Each configuration is a fresh project on 5 of the sample's images, trained twice with `ti-tui train`
as a user types it: the first run's estimate is worked out from the device's measured matrix speed
(no run there yet), the second's from the seconds the first run measured. The reference each
estimate is held against is the wall clock of its own command, start to exit. The device probe and
the count of each model's arithmetic are kept in the cache folder, a user's first command waits
for them once, before it prints its estimate: here they are taken before the first command is timed.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from train_step import IMAGES, machine, prepare_images, read_into_file_cache  # noqa: E402

TOLERANCE = 0.25  # the estimate's likely time within this share of the measured time
# What each model's runs do: short enough for a CPU, with every kind of work in them.
RUNS = {
    # steps, validation_every, save_every, preview.every, prompts, seeds, compare_init, sampling_steps
    "tiny": (60, 20, 20, 30, 2, 1, True, 10),
    "sd15": (4, 4, 2, 4, 1, 1, False, 4),
}
PROMPTS = ["a photo of [name]", "[name] on a sandy beach"]


def make_project(model: str, images: Path, work: Path, name: str, resolution: int, device: str):
    from ti_tui.project import create_project

    steps, validation_every, save_every, preview_every, prompts, seeds, compare_init, sampling_steps = RUNS[name]
    project = create_project(work / f"{name}-{resolution}", model=model, images=images, token="zorbot")
    settings = project.settings.model_copy(deep=True)
    settings.model.device = device
    settings.dataset.kind, settings.dataset.resolution = "subject", resolution
    settings.token.init_text, settings.token.vectors = "robot", 1
    training = settings.training
    training.steps, training.validation_every, training.save_every = steps, validation_every, save_every
    preview = settings.preview
    preview.every, preview.prompts, preview.seeds = preview_every, PROMPTS[:prompts], list(range(1, seeds + 1))
    preview.compare_init, preview.sampling_steps = compare_init, sampling_steps
    project.store.save(settings)
    return project


def timed_train(project) -> tuple[float, tuple[float, float, float], str]:
    """(seconds the command took, the (shortest, likely, longest) it said, where it said they came from)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ti_tui", "train", str(project.root)], capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"ti-tui train failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    said = re.search(r"^Time: about (\S+) \((\S+) to (\S+)\), (.*)$", result.stdout, re.MULTILINE)
    if not said:
        raise SystemExit(f"ti-tui train printed no time estimate:\n{result.stdout[:3000]}")
    likely, low, high = (seconds_of(text) for text in said.group(1, 2, 3))
    return elapsed, (low, likely, high), said.group(4)


def seconds_of(text: str) -> float:
    hours = re.fullmatch(r"(\d+)h(\d+)m", text)
    if hours:
        return int(hours[1]) * 3600 + int(hours[2]) * 60
    minutes = re.fullmatch(r"(\d+)m(\d+)s", text)
    return int(minutes[1]) * 60 + int(minutes[2])


def warm_file_cache(model: Path) -> bool:
    """Read the model into the disk cache, as a model trained on before is; then read back torch's own libraries,
    which 4.3 GB pushes out, and which a user's machine holds (some 7 s on this one, paid by no later command)."""
    read_into_file_cache(model)
    subprocess.run([sys.executable, "-c", "import ti_tui.train.engine, diffusers, transformers"], check=True)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/estimate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="tiny-256,tiny-512,sd15-256,sd15-512")
    parser.add_argument("--device", default="cpu")
    arguments = parser.parse_args(argv)
    configs = [(name, int(size)) for name, size in (config.split("-") for config in arguments.configs.split(","))]

    from ti_tui.sd.device import remembered_probe
    from ti_tui.sd.size import model_size
    from ti_tui.sd.source import classify_model_source
    from ti_tui.sd.work import work_in_a_helper

    models = {"tiny": "builtin:tiny"}
    if any(name == "sd15" for name, _ in configs):
        from sd15_model import sd15_model_dir

        models["sd15"] = str(sd15_model_dir())
    probe = remembered_probe(arguments.device, "auto")
    print(f"Machine: {machine(arguments.device)}; the probe measured {probe.matmul_gflops:.0f} GFLOP/s in {probe.dtype}")
    print(f"Each project: {IMAGES} images; runs as in RUNS (steps, validation, checkpoints, previews): {RUNS}")
    print()
    print(f"{'config':10}{'run':>5}{'estimate (range)':>26}{'measured':>10}{'off by':>8}  source")
    failures, in_cache = 0, False
    with tempfile.TemporaryDirectory(prefix="ti-tui-estimate-") as scratch:
        work = Path(scratch)
        images = prepare_images(work)
        for name, resolution in configs:
            if name == "sd15" and not in_cache:
                in_cache = warm_file_cache(Path(models["sd15"]))
            project = make_project(models[name], images, work, name, resolution, arguments.device)
            size = model_size(classify_model_source(project.settings.model.base, project.root))
            work_in_a_helper(size.unet_config, size.vae_config, resolution)
            for attempt in (1, 2):
                elapsed, (low, likely, high), source = timed_train(project)
                off = likely / elapsed - 1
                failures += abs(off) > TOLERANCE
                print(
                    f"{name}-{resolution:<5}{attempt:>5}{likely:>9.0f} s ({low:.0f}-{high:.0f} s){elapsed:>9.1f} s{off:>+8.0%}  {source}",
                    flush=True,
                )
    print(f"\n{'Every estimate within' if not failures else f'{failures} estimate(s) outside'} {TOLERANCE:.0%} of the measured time")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
