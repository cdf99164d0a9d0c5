"""The README's pictures of the wizard: each main screen on a copy of the sample project, as SVG.

    python scripts/screenshots.py [docs/screens]

Uses the real wizard at 100x32 with images drawn as half-blocks, in a user data folder of its own,
so nothing of the user's is read or changed.
"""

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SIZE = (100, 32)
SCREENS = ("start", "images", "captions", "token", "settings", "train", "compare", "apply")


async def take(folder: Path, work: Path) -> None:
    from ti_tui.project import Project
    from ti_tui.tui.app import create_app
    from ti_tui.tui.services import Services
    from ti_tui.usecases.images import prepare_project
    from ti_tui.usecases.recent import Memory

    sample = work / "sample_project"
    shutil.copytree(REPOSITORY / "sample_project", sample, ignore=shutil.ignore_patterns("runs", "prepared"))
    prepare_project(Project.open(sample))
    train_a_little(Project.open(sample))
    compare_checkpoints(Project.open(sample))
    for screen in SCREENS:
        memory = Memory(work / f"data-{screen}")
        memory.remember(sample, "images")
        app = create_app(None if screen == "start" else Project.open(sample), Services(memory=memory))
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(3):
                await pilot.pause()
                await app.workers.wait_for_complete()
            if screen != "start":
                app.open_step(screen)
                for _ in range(20):  # the tokenizer's and the device's helper processes answer in seconds
                    await pilot.pause(0.5)
                    await app.workers.wait_for_complete()
            if screen == "train":
                app.screen.query_one("TabbedContent").active = "loss"
                await pilot.pause(0.5)
            app.save_screenshot(str(folder / f"{screen}.svg"))
        print(folder / f"{screen}.svg")


def train_a_little(project) -> None:
    """A real run of the sample, so that the Train step has curves to show (its previews are noise: the
    built-in tiny model has random weights)."""
    from ti_tui.runs import RunWatcher, follow_run
    from ti_tui.usecases.training import create_run, start_trainer

    project.update({"training.steps": 150, "training.save_every": 50, "preview.every": 50, "preview.sampling_steps": 4})
    run = create_run(project)
    process = start_trainer(run)
    for _ in follow_run(run, RunWatcher(run.events_file), between_polls=process.poll):
        pass


def compare_checkpoints(project) -> None:
    """The grid of the Compare step: the three checkpoints at three CFG scales, its middle step chosen."""
    import time

    from ti_tui.usecases.checkpoints import choose_checkpoint
    from ti_tui.usecases.compare import grid_status, plan_grid, start_grid
    from ti_tui.usecases.training import list_runs

    grid, process = start_grid(project, plan_grid(project, x="step=all", y="cfg=3,7,11"))
    while grid_status(grid).active:
        process.poll()
        time.sleep(0.5)
    choose_checkpoint(project, list_runs(project)[-1], 100)


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else REPOSITORY / "docs" / "screens")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TI_TUI_IMAGES"] = "halfcell"
    work = Path(tempfile.gettempdir()) / "ti-tui-screenshots"  # a steady name: it shows on the start screen
    shutil.rmtree(work, ignore_errors=True)
    try:
        asyncio.run(take(folder, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
