"""How long a user waits for two everyday commands, end to end, each against its reference.

    python bench/sample_commands.py [--repeat 3] [--steps 30]

- `ti-tui --help`, against the bare interpreter starting and exiting (`python -c pass`): what no
  command can do faster. The help must not wait on the model libraries.
- `ti-tui train COPY --steps 30` on a copy of the sample project (builtin:tiny, checkpoints,
  previews and validation every 10 steps, as the run-protocol test sets them), against
  `bench/reference_loop.py` training the same tiny model on the same images for the same steps
  (the diffusers example's loop, in the precision "auto" picks here, with no checkpoints, previews
  or validation to write); and again with ours set to write none of them but the last checkpoint.

Every figure is the wall clock of a fresh process, from its start to its exit; the two of a pair
alternate, and each is repeated --repeat times (every run printed, then the median). These used to
be timed assertions in the tests, where a busy machine made them fail; here they are figures.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

# As the run-protocol test trains it.
TRAIN_SETTINGS = {
    "preview.every": 10,
    "preview.prompts": ["a photo of [name]"],
    "preview.seeds": [1],
    "preview.sampling_steps": 4,
    "training.save_every": 10,
    "training.validation_every": 10,
}


def wall_clock(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return took


def sample_copy(folder: Path, settings: dict) -> Path:
    from ti_tui.project import Project

    root = folder / "sample"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(REPOSITORY / "sample_project", root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    Project.open(root).update(settings)
    return root


def compare(name: str, ours, reference, repeat: int) -> None:
    """Alternate the two `repeat` times; print every run and the medians."""
    ours_times, reference_times = [], []
    for attempt in range(repeat):
        ours_times.append(ours())
        reference_times.append(reference())
        print(f"  {name} run {attempt + 1}: ti-tui {ours_times[-1]:.2f} s, reference {reference_times[-1]:.2f} s", flush=True)
    ours_median, reference_median = statistics.median(ours_times), statistics.median(reference_times)
    print(
        f"{name}: ti-tui median {ours_median:.2f} s, reference median {reference_median:.2f} s, ratio {ours_median / reference_median:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    arguments = parser.parse_args()

    import torch

    from ti_tui.sd.device import choose_dtype
    from ti_tui.sd.tiny import IMAGE_SIZE, ensure_builtin_tiny

    ti_tui = [str(Path(sys.executable).parent / "ti-tui")]
    with tempfile.TemporaryDirectory(prefix="ti-tui-bench-") as scratch:
        folder = Path(scratch)
        compare(
            "ti-tui --help",
            lambda: wall_clock([*ti_tui, "--help"], folder),
            lambda: wall_clock([sys.executable, "-c", "pass"], folder),
            arguments.repeat,
        )
        model = ensure_builtin_tiny()
        reference = [
            sys.executable,
            str(REPOSITORY / "bench" / "reference_loop.py"),
            "--model",
            str(model),
            "--images",
            str(REPOSITORY / "sample_project" / "images"),
            "--resolution",
            str(IMAGE_SIZE),
            "--steps",
            str(arguments.steps),
            # the precision the sample's precision = "auto" trains in here
            "--precision",
            {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[choose_dtype("auto", torch.device("cpu"))],
        ]
        # The same run with nothing besides the steps but the last checkpoint: what the reference does.
        bare_settings = {"preview.every": 0, "training.save_every": arguments.steps, "training.validation_every": 0}
        for name, settings in (("with checkpoints, previews, validation", TRAIN_SETTINGS), ("steps only", bare_settings)):
            compare(
                f"train the sample {arguments.steps} steps, {name}",
                lambda settings=settings: wall_clock(
                    [*ti_tui, "train", str(sample_copy(folder, settings)), "--steps", str(arguments.steps)], folder
                ),
                lambda: wall_clock(reference, REPOSITORY),
                arguments.repeat,
            )


if __name__ == "__main__":
    main()
