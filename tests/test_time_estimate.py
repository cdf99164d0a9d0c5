"""The time a run takes, said before it starts and while it runs: everything counted (start, latents, steps,
validation, checkpoints, previews), from the project's last run on the device when there is one, as a range; and
while validation or previews run, the header says so."""

import json
import os
import time

import pytest
from textual.widgets import Static
from wizard_support import TINY_WORK, fake_services, until_screen, until_seen

from ti_tui.intervals import RunIntervals
from ti_tui.project import Project
from ti_tui.runs import RunDirectory, RunFacts
from ti_tui.runs.directory import TrainerLock
from ti_tui.runs.timing import count_work, due, measure_run, phases_from_step, run_seconds, seconds_range
from ti_tui.sd.device import DeviceProbe
from ti_tui.settings import PreviewSettings
from ti_tui.tui.app import create_app
from ti_tui.tui.screens.train import TrainScreen

PREVIEW = PreviewSettings(every=30, prompts=["a photo of [name]", "[name] on a beach"], seeds=[1, 2], sampling_steps=10)


def probe(gflops: float = 400.0) -> DeviceProbe:
    return DeviceProbe("cpu", "cpu", "float32", 16 * 2**30, 8 * 2**30, gflops)


def test_a_run_counts_every_validation_checkpoint_and_preview_its_intervals_make():
    work = count_work(RunIntervals(save=20, validation=20, preview=30), 0, 60, 5, 1, PREVIEW, with_init=True)
    # validation before the first step and at 20, 40, 60, each of the 5 images; previews at 30 and 60, 2 prompts x 2 seeds x 2
    assert (work.steps, work.validation_images, work.checkpoints, work.preview_images) == (60, 20, 3, 16)
    assert due(50, 0, 60) == 2, "step 50, and the last step, which always saves"
    assert due(50, 119, 139) == 1, "a continued run counts in its own numbering: the last step alone"
    assert due(0, 0, 60) == 0
    continued = count_work(RunIntervals(save=10, validation=0, preview=0), 120, 140, 30, 2, PREVIEW, validate_first=False)
    assert (continued.steps, continued.validation_images, continued.checkpoints, continued.preview_images) == (20, 0, 2, 0)


def test_the_time_grows_by_what_validation_and_previews_cost_and_is_said_as_a_range():
    phases = phases_from_step(0.5, 10.0, "worked out")
    bare = count_work(RunIntervals(save=20, validation=0, preview=0), 0, 60, 5, 1, PREVIEW)
    full = count_work(RunIntervals(save=20, validation=20, preview=30), 0, 60, 5, 1, PREVIEW)
    assert run_seconds(full, phases) - run_seconds(bare, phases) == pytest.approx(
        full.validation_images * phases.validation_image + full.preview_images * phases.preview_image_at(10, True)
    )
    low, likely, high = seconds_range(full, phases)
    assert low < likely < high
    assert phases.preview_image_at(20, True) > phases.preview_image_at(10, True), "more sampling steps, longer previews"


def recorded_timings(run: RunDirectory, launched: float) -> None:
    """The events of a run that measured its pieces: 2 s to start, 0.5 s a step, 0.3 s an image's latents..."""
    lines = [
        {"type": "started", "t": launched + 1, "pid": 1},
        {
            "type": "config",
            "t": launched + 2,
            "steps": 4,
            "start_step": 0,
            "batch_size": 1,
            "gradient_accumulation": 1,
            "device": "cpu",
            "dtype": "float32",
            "resolution": 128,
        },  # fmt: skip
        *({"type": "caching", "t": launched + 2, "done": n, "total": 5, "seconds": 0.3} for n in range(1, 6)),
        {"type": "validation", "t": launched + 3, "step": 0, "loss": 0.1, "seconds": 1.0, "images": 5},
        *({"type": "step", "t": launched + 3 + n / 2, "step": n, "total": 4, "steps_per_s": 2.0} for n in range(1, 5)),
        {"type": "checkpoint", "t": launched + 8, "step": 4, "path": "x", "seconds": 0.1},
        {"type": "preview", "t": launched + 9, "step": 4, "seconds": 4.0, "sampling_steps": 20, "guided": True},
    ]
    run.events_file.write_text("".join(json.dumps({"v": 1, "seq": n, **line}) + "\n" for n, line in enumerate(lines, 1)))


def test_a_measured_run_gives_each_piece_its_seconds_and_the_estimate_says_where_they_came_from(tmp_path, trainable_project):
    from ti_tui.runs.directory import Launch
    from ti_tui.usecases.forecast import forecast_run

    project = trainable_project(**{"training.steps": 100, "dataset.resolution": 128})
    worked_out = forecast_run(project, probe(), count_work_of_model=lambda unet, vae, resolution: TINY_WORK)
    assert worked_out.time is not None and worked_out.time_source == "worked out from the model and this device's speed"

    run = RunDirectory(project.runs_dir / "20261207-000000-zorbot")
    run.path.mkdir(parents=True)
    launched = time.time() - 60
    run.write_facts(
        RunFacts(
            project=project.root,
            settings=project.settings,
            steps=4,
            vectors=2,
            images=[],
            created=launched,
            launches=[Launch(1, launched, None, [])],
        )
    )
    recorded_timings(run, launched)
    measured = measure_run(run.events(), launched, run.id).phases
    assert (measured.start, measured.image, measured.step, measured.validation_image, measured.checkpoint) == (2, 0.3, 0.5, 0.2, 0.1)
    assert measured.preview_image_at(20, True) == 4.0

    forecast = forecast_run(project, probe())
    assert forecast.time_source == f"as run {run.id} measured"
    low, likely, high = forecast.time
    assert likely > 100 * 0.5 and low < likely < high
    gpu = DeviceProbe("cuda:0", "GPU", "float16", 8 * 2**30, 8 * 2**30, 1000.0)
    elsewhere = forecast_run(project, gpu, count_work_of_model=lambda unet, vae, resolution: TINY_WORK)
    assert "worked out" in elsewhere.time_source, "a run on another device does not say how fast this one is"


@pytest.mark.slow
def test_a_real_run_counts_the_previews_still_ahead_at_its_last_step_and_its_seconds_estimate_the_next(tmp_path, trainable_project):
    from ti_tui.train.engine import Trainer
    from ti_tui.usecases.forecast import forecast_run
    from ti_tui.usecases.training import create_run

    project = trainable_project(
        **{"training.steps": 4, "training.save_every": 2, "training.validation_every": 2, "preview.every": 4, "preview.sampling_steps": 2}
    )
    run = create_run(project, steps=4)
    assert Trainer(run).run() == "completed"
    events = run.events()
    last_step = next(event for event in events if event["type"] == "step" and event["step"] == 4)
    previews = [event for event in events if event["type"] == "preview"]
    assert previews and last_step["eta_s"] > 0, "at the last step the validation, checkpoint and previews are still ahead"
    assert [event["done"] for event in events if event["type"] == "previewing"] == list(range(len(previews)))
    dtype = next(event for event in events if event["type"] == "config")["dtype"]
    forecast = forecast_run(project, DeviceProbe("cpu", "cpu", dtype, None, None, 400.0), steps=4)
    assert forecast.time_source == f"as run {run.id} measured"


async def test_the_header_says_validation_or_previews_while_they_run(tmp_path, trainable_project):
    project: Project = trainable_project(**{"training.steps": 40})
    run = RunDirectory(project.runs_dir / "20261207-000000-zorbot")
    run.path.mkdir(parents=True)
    now = time.time()
    run.write_facts(RunFacts(project=project.root, settings=project.settings, steps=40, vectors=2, images=[], created=now))
    lines = [
        {"type": "started", "pid": os.getpid()},
        {
            "type": "config",
            "steps": 40,
            "start_step": 0,
            "schedule": ["0.005 throughout"],
            "images": 10,
            "training_images": 10,
            "vectors": 2,
            "resolution": 128,
            "batch_size": 1,
            "gradient_accumulation": 1,
            "processes": 1,
            "device": "cpu",
            "dtype": "float32",
            "model": "builtin:tiny",
            "model_hash": "",
            "family": "SD 1.x",
            "gradient_checkpointing": False,
            "memory_estimate_mb": 512,
            "memory_estimate": "about 0.5 GiB",
            "typical_norm": 0.385,
        },  # fmt: skip
        {"type": "step", "step": 40, "total": 40, "loss": 0.1, "loss_smoothed": 0.1, "lr": 0.005, "steps_per_s": 2.0, "eta_s": 30.0},
        {"type": "previewing", "step": 40, "done": 2, "total": 8},
    ]
    run.events_file.write_text("".join(json.dumps({"v": 1, "seq": n, "t": now, **line}) + "\n" for n, line in enumerate(lines, 1)))
    lock = TrainerLock(run)
    try:
        app = create_app(project, fake_services(tmp_path / "data"))
        async with app.run_test(size=(100, 32)) as pilot:
            await pilot.press("5")
            screen = await until_screen(app, pilot, TrainScreen, "the Train step")
            await until_seen(screen, lambda view: view.busy is not None, "the previews being drawn")
            await pilot.pause()
            assert "running, step 40 of 40; previews 3/8" in screen.query_one("#run-state", Static).render().plain
    finally:
        lock.release()
