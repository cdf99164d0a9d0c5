"""Many starts and resumes on one project at the same moment, from separate processes: exactly one trainer."""

import os
import subprocess
import sys

import pytest
from conftest import run_ti_tui, wait_for
from fault_support import LEDGER, project_copy

from ti_tui.runs import RunDirectory, run_status

pytestmark = pytest.mark.slow


def test_four_starts_and_two_resumes_at_once_give_exactly_one_trainer(tmp_path):
    project = project_copy(tmp_path, {"training.save_every": 2, "training.validation_every": 0, "preview.every": 0})
    interrupted = run_ti_tui("train", str(project.root), "--steps", "40", env={"TI_TUI_FAULTS": "kill_at=3"})
    assert interrupted.returncode != 0
    (lost,) = [RunDirectory(path) for path in project.runs_dir.iterdir()]
    wait_for(lambda: run_status(lost).state == "lost", what="the first run to be lost")

    starts = [["train", str(project.root), "--steps", "40", "--detach"]] * 4 + [["train", str(project.root), "--resume", lost.id]] * 2
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "ti_tui", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
        )
        for arguments in starts
    ]
    LEDGER.injected += 1
    refused = []
    for process in processes[:4]:
        output, errors = process.communicate(timeout=240)
        if process.returncode:
            refused.append(errors)
    runs = [RunDirectory(path) for path in project.runs_dir.iterdir()]
    at_work = [run for run in runs if run_status(run).active]
    try:
        assert len(at_work) == 1, [run_status(run).describe() for run in runs]
        assert all("two runs at once" in errors or "is starting" in errors or "is running" in errors for errors in refused), refused
    finally:
        for run in at_work:
            run.ask_to_stop()
        for process in processes:
            process.wait(timeout=240)
        wait_for(lambda: not any(run_status(run).active for run in runs), what="every trainer to stop")
    LEDGER.survived += 1
