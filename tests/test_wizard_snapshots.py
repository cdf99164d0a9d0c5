"""What each screen looks like on the sample project, at 100x32 and at 80x24, images as half-blocks.

A changed screen fails here; pytest writes snapshot_report.html to look at, and
`pytest tests/test_wizard_snapshots.py --snapshot-update` takes the new look once it is right.
"""

import os
import shutil

import pytest
from conftest import SAMPLE_PROJECT
from run_recording import recorded_run
from wizard_support import fake_services, open_compare, render_a_2x2_grid, settle, settle_layout, until

from ti_tui.project import Project
from ti_tui.runs.directory import TrainerLock
from ti_tui.tui.app import create_app
from ti_tui.usecases.images import prepare_project
from ti_tui.usecases.summary import summarize_project

pytestmark = pytest.mark.xdist_group("wizard-snapshots")  # one worker takes the module's snapshots: its projects are made once
SCREENS = ["start", "images", "captions", "token", "settings", "train"]
SIZES = [pytest.param((100, 32), marks=pytest.mark.slow), (80, 24)]  # the quick tier looks at 80x24, the smallest


def steady_summary(project):
    """The summary with this run's cache folder named as every run names it."""
    summary = summarize_project(project)
    cache = os.environ["TI_TUI_CACHE_DIR"]
    model = type(summary.model)(summary.model.found, summary.model.detail.replace(cache, "~/.cache/ti-tui"), summary.model.fix)
    return type(summary)(**{**summary.__dict__, "model": model})


@pytest.fixture(scope="module")
def sample(snapshot_home):
    shutil.copytree(SAMPLE_PROJECT, snapshot_home / "sample_project", ignore=shutil.ignore_patterns("runs", "prepared"))
    project = Project.open(snapshot_home / "sample_project")
    prepare_project(project)
    return project


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("screen", SCREENS)
def test_each_screen_looks_as_it_did(snap_compare, sample, half_blocks, screen, size):
    services = fake_services(sample.root.parent / f"data-{screen}", summarize=steady_summary)
    services.memory.remember(sample.root, "images")
    app = create_app(None if screen == "start" else Project.open(sample.root), services)

    async def arrive(pilot) -> None:
        await settle(app, pilot)
        if screen != "start":
            app.open_step(screen)
            await settle(app, pilot)

    assert snap_compare(app, terminal_size=size, run_before=arrive)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("moment", ["during", "after"])
def test_the_train_step_during_and_after_a_run_looks_as_it_did(snap_compare, sample, half_blocks, monkeypatch, moment, size):
    """From a recorded run: 120 of 300 steps with its trainer alive (the lock held here), or all 300 and finished."""
    # The recording's clock is fixed, months behind ours: its live trainer would seem silent for months, that is, stalled.
    monkeypatch.setattr("ti_tui.runs.status.STALLED_AFTER_SECONDS", float("inf"))
    monkeypatch.setattr("ti_tui.runs.status.QUIET_AFTER_SECONDS", float("inf"))
    project = Project.open(sample.root)
    run = recorded_run(project, f"20260101-000000-{moment}", 300, 120 if moment == "during" else 300, finished=moment == "after")
    lock = TrainerLock(run) if moment == "during" else None
    services = fake_services(sample.root.parent / f"data-train-{moment}", summarize=steady_summary)
    app = create_app(project, services)

    async def arrive(pilot) -> None:
        app.open_step("train")

        def shown() -> bool:
            screen = app.screen
            return (
                getattr(screen, "view", None) is not None
                and screen.view.events_read
                and screen.plan_panel.plan_text.startswith("300 steps")
            )

        await until(pilot, shown, "the recorded run read and its plan shown")
        await settle_layout(app, pilot)

    try:
        assert snap_compare(app, terminal_size=size, run_before=arrive)
    finally:
        if lock is not None:
            lock.release()
        shutil.rmtree(run.path)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_the_compare_step_with_a_rendered_grid_looks_as_it_did(snap_compare, sample, half_blocks, size):
    """A 2x2 grid (steps 2 and 4, CFG 3 and 7) rendered here, shown with its cells and the first one described."""
    project = Project.open(sample.root)
    run = render_a_2x2_grid(project)
    app = create_app(project, fake_services(sample.root.parent / f"data-compare-{size[0]}", summarize=steady_summary))

    async def arrive(pilot) -> None:
        await open_compare(app, pilot, finished=True)

    try:
        assert snap_compare(app, terminal_size=size, run_before=arrive)
    finally:
        shutil.rmtree(run.path)
        shutil.rmtree(project.root / "grids")
