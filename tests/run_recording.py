"""A run folder as a trainer would leave it, written without a trainer: for the dashboard's snapshots and bench.

The events follow the protocol (ti_tui/runs/events.py) with made-up but steady numbers, so that a
drawing of them is the same every time.
"""

import json
import math
from pathlib import Path

from PIL import Image

from ti_tui.project import Project
from ti_tui.runs import RunDirectory, RunFacts

STARTED_AT = 1_790_000_000.0
TYPICAL_NORM = 0.385


def recorded_run(
    project: Project, name: str, steps: int, reached: int, every: int = 50, finished: bool = True, growth: float = 1.0
) -> RunDirectory:
    """A run of `steps` steps that got to step `reached`: a checkpoint, a validation and previews every `every` steps.
    Its longest vector grows from a typical token's length by `growth` times that over the run (2x at the end by default)."""
    run = RunDirectory(project.runs_dir / name)
    run.checkpoints_dir.mkdir(parents=True)
    run.previews_dir.mkdir()
    run.write_facts(RunFacts(project=project.root, settings=project.settings, steps=steps, vectors=2, images=[], created=STARTED_AT))
    with open(run.events_file, "w", encoding="utf-8") as events:
        for event in recorded_events(run, project.settings.token.trigger, steps, reached, every, finished, growth):
            events.write(json.dumps(event) + "\n")
    return run


def recorded_events(run: RunDirectory, trigger: str, steps: int, reached: int, every: int, finished: bool, growth: float = 1.0):
    sequence = 0

    def event(kind: str, at_step: int, **fields) -> dict:
        nonlocal sequence
        sequence += 1
        return {"v": 1, "seq": sequence, "t": STARTED_AT + at_step * 0.5, "type": kind, **fields}

    yield event("started", 0, pid=4242, version="0.1.0")
    yield event("loading", 0, what="model", model="builtin:tiny")
    yield event("config", 0, steps=steps, start_step=0, schedule=["0.005 throughout"], images=5, training_images=5, vectors=2,
                resolution=64, batch_size=1, gradient_accumulation=1, processes=1, device="cpu", dtype="float32",
                model="builtin:tiny", model_hash="", family="SD 1.x", gradient_checkpointing=False, memory_estimate_mb=512,
                memory_estimate="about 0.5 GiB", typical_norm=TYPICAL_NORM)  # fmt: skip
    yield event("validation", 0, step=0, loss=0.2)
    for step in range(1, reached + 1):
        loss = 0.12 + 0.08 * math.exp(-step / 400) + 0.03 * math.sin(step * 0.7)
        norms = [TYPICAL_NORM * (1 + growth * step / steps), TYPICAL_NORM * (1 + step / (2 * steps))]
        yield event("step", step, step=step, total=steps, loss=loss, loss_smoothed=0.12 + 0.08 * math.exp(-step / 400), lr=0.005,
                    steps_per_s=2.0, eta_s=(steps - step) / 2.0, norms=[round(norm, 5) for norm in norms], memory_mb=480.0)  # fmt: skip
        if step % every == 0 or step == steps:
            yield event("validation", step, step=step, loss=0.2 - 0.05 * step / steps)
            checkpoint = run.checkpoint_paths(trigger, step)
            checkpoint.embedding.write_bytes(b"")
            yield event("checkpoint", step, step=step, path=str(checkpoint.embedding))
            for init in (False, True):
                path = run.previews_dir / f"step-{step}-p1-s1{'-init' if init else ''}.png"
                _draw_preview(path, step, init)
                yield event("preview", step, step=step, path=str(path), seed=1, prompt=f"a photo of {trigger}", init=init)
    if finished:
        yield event("finished", reached, reason="completed", message=f"trained {reached} steps", step=reached)


def _draw_preview(path: Path, step: int, init: bool) -> None:
    """A picture that changes with the step: a square whose colour and size say which one it is."""
    image = Image.new("RGB", (64, 64), (240, 240, 240))
    side = 8 + step % 48
    colour = (60, 60, 200) if init else (200, 60 + step % 150, 60)
    image.paste(colour, (32 - side // 2, 32 - side // 2, 32 + side // 2, 32 + side // 2))
    image.save(path)
