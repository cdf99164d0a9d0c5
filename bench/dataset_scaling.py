"""What a bigger dataset costs: latent caching time, memory held, and the per-step time.

    python bench/dataset_scaling.py [--sizes 10 100 1000] [--measured-steps 40]

Runs the real trainer on builtin:tiny (so that a CPU gets through 1,000 images in minutes) with
generated pictures. Ours encodes an image's latents the first time it is drawn, so the first pass
over the images pays for the caching; its cost is that pass's time less the same number of steady
steps. Steps/s is measured after the pass and must not fall as the dataset grows. Memory is the
trainer's peak resident size; the last column is what the cache would hold for SD 1.5 at 512 px.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

SD15_LATENT_BYTES_512 = 4 * 64 * 64 * 4  # one float32 latent of a 512 px image


def make_pictures(folder: Path, count: int, size: int = 96) -> None:
    """`count` distinct pictures: a coloured disc and bar on a shaded background, each placed at random."""
    import numpy
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True)
    rng = numpy.random.default_rng(count)
    for index in range(count):
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        shade = numpy.linspace(0.0, 1.0, size)[:, None, None]
        pixels = (top * (1 - shade) + bottom * shade).repeat(size, axis=1).astype(numpy.uint8)
        image = Image.fromarray(pixels)
        draw = ImageDraw.Draw(image)
        x, y, radius = (int(value) for value in rng.integers([10, 10, 8], [size - 10, size - 10, 30]))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw.rectangle((0, y // 2, size, y // 2 + 6), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        image.save(folder / f"picture-{index:04d}.png")


def measure(count: int, measured_steps: int, work: Path) -> dict:
    from train_step import wait_for_peak_rss

    from ti_tui.project import create_project
    from ti_tui.usecases.training import create_run, start_trainer

    images = work / f"images-{count}"
    make_pictures(images, count)
    project = create_project(work / f"project-{count}", model="builtin:tiny", images=images, token="zorbot")
    settings = project.settings.model_copy(deep=True)
    settings.dataset.kind, settings.token.init_text, settings.token.vectors = "subject", "robot", 1
    settings.training.template, settings.training.validation_every = "photo", 0
    settings.preview.every = 0
    settings.schedule.preset, settings.schedule.learning_rate = "constant", "0.005"
    steps = count + measured_steps
    settings.training.save_every = steps
    project.store.save(settings)
    prepared = time.monotonic()
    run = create_run(project, steps=steps)
    run_created_s = time.monotonic() - prepared
    process = start_trainer(run)
    peak_mb = wait_for_peak_rss(process)
    events = run.events()
    final = [event for event in events if event["type"] == "finished"]
    if not final or final[0]["reason"] != "completed":
        raise SystemExit(f"the trainer did not finish: {final or run.log_file.read_text()[-2000:]}")
    config = next(event for event in events if event["type"] == "config")
    times = [event["t"] for event in events if event["type"] == "step"]
    first_step_started = config["t"]
    steady_step = statistics.median(later - earlier for earlier, later in zip(times[count:], times[count + 1 :]))
    first_pass = times[count - 1] - first_step_started
    return {
        "images": count,
        "run_created_s": run_created_s,
        "caching_s": first_pass - count * steady_step,
        "steps_per_s": 1 / steady_step,
        "peak_mb": peak_mb,
        "resolution": config["resolution"],
    }


def print_dataset_scaling(sizes: list[int], measured_steps: int) -> None:
    from ti_tui.sd.tiny import ensure_builtin_tiny

    ensure_builtin_tiny()
    print(f"Dataset scaling (builtin:tiny, batch 1, {measured_steps} steady steps after one pass over the images)")
    print(f"{'images':>7}{'run set-up':>12}{'caching':>10}{'per image':>11}{'steps/s':>9}{'peak RSS':>11}{'SD 1.5 512 px cache':>21}")
    with tempfile.TemporaryDirectory(prefix="ti-tui-dataset-") as scratch:
        for count in sizes:
            row = measure(count, measured_steps, Path(scratch))
            print(
                f"{count:>7}{row['run_created_s']:>10.1f} s{row['caching_s']:>8.1f} s{1000 * row['caching_s'] / count:>8.1f} ms"
                f"{row['steps_per_s']:>9.1f}{row['peak_mb'] / 1024:>7.2f} GiB{count * SD15_LATENT_BYTES_512 / 2**20:>17.0f} MiB",
                flush=True,
            )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/dataset_scaling.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--measured-steps", type=int, default=40)
    arguments = parser.parse_args(argv)
    print_dataset_scaling(arguments.sizes, arguments.measured_steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
