"""The terminal goes away while a run trains: the foreground `ti-tui train` killed, the wizard killed, the
tmux session that held them closed. The trainer finishes, and the next `ti-tui` finds the run."""

import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import run_ti_tui, wait_for
from fault_support import LEDGER, project_copy
from wizard_support import fake_services

from ti_tui.runs import RunDirectory, run_status

pytestmark = pytest.mark.slow
RUN_SETTINGS = {"training.save_every": 10, "training.validation_every": 0, "preview.every": 0}


def the_run(project) -> RunDirectory:
    return wait_for(
        lambda: next((RunDirectory(path) for path in project.runs_dir.glob("*") if (path / "run.json").exists()), None), what="a run"
    )


def test_the_foreground_command_killed_leaves_the_trainer_training(tmp_path):
    project = project_copy(tmp_path, RUN_SETTINGS)
    command = subprocess.Popen([sys.executable, "-m", "ti_tui", "train", str(project.root), "--steps", "30"], stdout=subprocess.DEVNULL)
    run = the_run(project)
    wait_for(lambda: any(event["type"] == "step" for event in run.events()), what="the first step")
    command.send_signal(signal.SIGKILL)
    command.wait()
    LEDGER.injected += 1
    wait_for(lambda: run_status(run).state == "finished", what="the trainer to finish")
    listed = run_ti_tui("runs", str(project.root))
    assert "finished" in listed.stdout and run.id in listed.stdout
    LEDGER.survived += 1


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.parametrize("inside", ["ti-tui train", "the wizard"])
async def test_a_closed_tmux_session_leaves_the_trainer_training_and_the_next_wizard_finds_it(inside, tmp_path):
    from ti_tui.project import Project
    from ti_tui.tui.app import create_app
    from ti_tui.tui.screens.train import TrainScreen

    project = project_copy(tmp_path, RUN_SETTINGS)
    session = f"ti-tui-fault-{os.getpid()}-{inside.replace(' ', '-')}"
    ti_tui_command = f"{sys.executable} -m ti_tui"
    if inside == "ti-tui train":
        shell = f"{ti_tui_command} train {project.root} --steps 30"
    else:
        started = run_ti_tui("train", str(project.root), "--steps", "30", "--detach")
        assert started.returncode == 0, started.stderr
        shell = f"{ti_tui_command} {project.root}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", shell], check=True)
    run = the_run(project)
    wait_for(lambda: any(event["type"] == "step" for event in run.events()), what="the first step")
    subprocess.run(["tmux", "kill-session", "-t", session], check=True)
    LEDGER.injected += 1
    wait_for(lambda: run_status(run).state == "finished", what="the trainer to finish")

    services = fake_services(tmp_path / "data")
    services.memory.remember(project.root, "train")
    app = create_app(Project.open(project.root), services)
    async with app.run_test(size=(100, 32)) as pilot:
        for _ in range(400):
            screen = app.screen
            if isinstance(screen, TrainScreen) and screen.view is not None and screen.view.status.state == "finished":
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError("the next wizard did not show the finished run")
    LEDGER.survived += 1
