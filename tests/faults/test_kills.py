"""kill -9 of the trainer at ten moments, four of them in the middle of writing a file: what is on disk
is whole or absent, and a resume trains on to the very vectors of a run that was never stopped."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import run_ti_tui, wait_for
from fault_support import LEDGER, check_run_files, project_copy

from ti_tui.embedding.files import read_embedding
from ti_tui.runs import RunDirectory, run_status

pytestmark = pytest.mark.slow
STEPS = 24
RUN_SETTINGS = {
    "training.save_every": 4,
    "training.validation_every": 8,
    "preview.every": 8,
    "preview.prompts": ["a photo of [name]"],
    "preview.seeds": [1],
    "preview.compare_init": False,
    "preview.sampling_steps": 2,
}
# What kills the trainer: after a step (the trainer's own fault hook), in the middle of the N-th write
# of a file (the write fault hook), or from outside at a moment drawn from a seeded generator.
KILLS = {
    "after step 5": {"TI_TUI_FAULTS": "kill_at=5"},
    "after step 13": {"TI_TUI_FAULTS": "kill_at=13"},
    "after step 23": {"TI_TUI_FAULTS": "kill_at=23"},
    "inside the first resume-state write": {"TI_TUI_WRITE_FAULTS": "kill:.state.pt@1"},
    "inside the third resume-state write": {"TI_TUI_WRITE_FAULTS": "kill:.state.pt@3"},
    "inside the second checkpoint write": {"TI_TUI_WRITE_FAULTS": "kill:.safetensors@2"},
    "inside the fifth checkpoint write": {"TI_TUI_WRITE_FAULTS": "kill:.safetensors@5"},
    "inside a preview write": {"TI_TUI_WRITE_FAULTS": "kill:.png@2"},
    "inside the 30th event": {"TI_TUI_WRITE_FAULTS": "kill:events.jsonl@30"},
    "at a random moment": None,
}


@pytest.fixture(scope="module")
def straight_vectors(tmp_path_factory):
    """The vectors a run of STEPS steps ends with when nothing stops it."""
    project = project_copy(tmp_path_factory.mktemp("straight"), RUN_SETTINGS)
    result = run_ti_tui("train", str(project.root), "--steps", str(STEPS))
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = [RunDirectory(path) for path in project.runs_dir.iterdir()]
    return read_embedding(run.checkpoints()[-1].embedding).embedding.vectors


@pytest.mark.parametrize("moment", list(KILLS))
def test_a_trainer_killed_leaves_whole_files_and_resumes_to_the_same_vectors(moment, tmp_path, straight_vectors):
    project = project_copy(tmp_path, RUN_SETTINGS)
    faults = KILLS[moment]
    started = subprocess.Popen(
        [sys.executable, "-m", "ti_tui", "train", str(project.root), "--steps", str(STEPS), "--detach"],
        env={**os.environ, **(faults or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert started.wait(timeout=120) == 0, started.stderr.read()
    (run,) = [RunDirectory(path) for path in project.runs_dir.iterdir()]
    LEDGER.injected += 1
    if faults is None:
        wait_for(lambda: any(event["type"] == "step" for event in run.events()), what="the first step")
        time.sleep(random.Random(7).uniform(0.5, 3.0))
        os.kill(run.facts().launches[-1].pid, signal.SIGKILL)
    wait_for(lambda: not run_status(run).active, what="the trainer to die")
    status = run_status(run)
    assert status.state == "lost", status.describe()
    LEDGER.files_intact += check_run_files(run, cut_lines=1)

    resumed = run_ti_tui("train", str(project.root), "--resume", "last")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run_status(run).state == "finished"
    LEDGER.files_intact += check_run_files(run, cut_lines=1)
    assert torch.equal(read_embedding(run.checkpoints()[-1].embedding).embedding.vectors, straight_vectors)
    LEDGER.survived += 1
