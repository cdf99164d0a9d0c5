"""Many grids started on one project at the same moment, from separate processes: exactly one renderer, and
`xy --stop` stops it."""

import json
import os
import subprocess
import sys

import pytest
from conftest import run_ti_tui, wait_for
from fault_support import LEDGER, project_copy

from ti_tui.train.engine import Trainer
from ti_tui.usecases.compare import grid_status, list_grids
from ti_tui.usecases.training import create_run

pytestmark = pytest.mark.slow

STARTS = 6


def test_six_grids_started_at_once_give_one_renderer_that_stop_stops(tmp_path):
    from PIL import Image

    project = project_copy(tmp_path, {"training.save_every": 2, "training.validation_every": 0, "preview.every": 0})
    assert Trainer(create_run(project, steps=2)).run() == "completed"
    # Enough cells that the grid still renders when `--stop` comes.
    start = [sys.executable, "-m", "ti_tui", "xy", str(project.root), "--x", "seed=1-100", "--y", "cfg=3,5", "--detach"]
    processes = [
        subprocess.Popen(start, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)) for _ in range(STARTS)
    ]
    LEDGER.injected += 1
    results = [(*process.communicate(timeout=300), process.returncode) for process in processes]
    grids = list_grids(project)
    at_work = [grid for grid in grids if grid_status(grid).active or grid.is_locked()]
    try:
        assert len(at_work) == 1, [(grid.id, grid_status(grid).state) for grid in grids]
        assert [code for _, _, code in results].count(0) == 1, results
        refused = [errors for _, errors, code in results if code]
        assert all(errors.count("\n") == 1 and f"grid {at_work[0].id} is still rendering" in errors for errors in refused), refused

        stopped = run_ti_tui("xy", str(project.root), "--stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"Asked grid {at_work[0].id} to stop" in stopped.stdout
    finally:
        for grid in at_work:
            grid.ask_to_stop()
        wait_for(lambda: not any(grid.is_locked() for grid in grids), what="every renderer to end")
    assert grid_status(at_work[0]).state == "stopped"
    again = run_ti_tui("xy", str(project.root), "--stop")
    assert again.returncode == 2 and "no grid is rendering" in again.stderr
    LEDGER.survived += 1

    for grid in grids:
        json.loads(grid.plan_file.read_text(encoding="utf-8"))
        LEDGER.files_intact += 1
    for cell in sorted((project.root / "grids" / "cells").glob("*.png")):
        with Image.open(cell) as image:
            image.load()
        LEDGER.files_intact += 1
