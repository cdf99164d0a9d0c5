"""How close the memory estimate ti-tui prints before the first step comes to the peak it then reaches.

    python bench/memory_estimate.py [--precision bf16 fp32] [--cells 256x1 512x4 ...] [--device cpu]

For each precision, resolution and batch, our trainer runs on the SD 1.5-shaped model (bench/
sd15_model.py) for one pass over the images and one step more, each run in a fresh process; the
table gives the estimate from its config event beside the peak resident size the kernel counted
(or, on a GPU, the peak allocated memory the step events report).
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from train_step import IMAGES, machine, make_project, prepare_images, read_into_file_cache, wait_for_peak_rss  # noqa: E402

CELLS = ("256x1", "256x2", "256x4", "384x1", "384x2", "384x4", "512x1", "512x2", "512x4")


def measure(model: Path, images: Path, work: Path, resolution: int, batch: int, precision: str, device: str) -> tuple[float, float, float]:
    """(estimate MiB, peak MiB, seconds) of one short run."""
    from ti_tui.usecases.training import create_run, start_trainer

    steps = math.ceil(IMAGES / batch) + 1
    project = make_project(model, images, work, resolution, batch, steps, precision, device)
    started = time.monotonic()
    run = create_run(project, steps=steps)
    peak = wait_for_peak_rss(start_trainer(run))
    events = run.events()
    if not any(event["type"] == "finished" and event["reason"] == "completed" for event in events):
        raise SystemExit(f"our trainer did not finish: {run.log_file.read_text()[-2000:]}")
    if device.startswith("cuda"):
        peak = max(event["memory_mb"] for event in events if event["type"] == "step")
    estimate = next(event["memory_estimate_mb"] for event in events if event["type"] == "config")
    return estimate, peak, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/memory_estimate.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", nargs="+", default=["bf16", "fp32"], choices=("bf16", "fp32", "fp16"))
    parser.add_argument("--cells", nargs="+", default=list(CELLS), help="resolution x batch, such as 512x4")
    parser.add_argument("--device", default="cpu")
    arguments = parser.parse_args(argv)

    from sd15_model import sd15_model_dir

    model = sd15_model_dir()
    read_into_file_cache(model)
    print(f"Machine: {machine(arguments.device)}")
    print(f"{'precision':>10}{'px':>6}{'batch':>6}{'estimate GiB':>14}{'peak GiB':>10}{'estimate/peak':>15}{'run s':>7}")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="ti-tui-bench-") as scratch:
        work = Path(scratch)
        images = prepare_images(work)
        for precision in arguments.precision:
            for cell in arguments.cells:
                resolution, batch = (int(part) for part in cell.split("x"))
                estimate, peak, seconds = measure(model, images, work, resolution, batch, precision, arguments.device)
                worst = max(worst, abs(estimate / peak - 1))
                print(
                    f"{precision:>10}{resolution:>6}{batch:>6}{estimate / 1024:>14.2f}{peak / 1024:>10.2f}"
                    f"{estimate / peak:>15.2f}{seconds:>7.0f}",
                    flush=True,
                )
    print(f"\nLargest difference between the estimate and the peak: {worst:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
