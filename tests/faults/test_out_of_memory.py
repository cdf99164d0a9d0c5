"""The device runs out of memory in the middle of a step (simulated): a clear message naming the next
setting to try, the last checkpoint kept, and the run resumable."""

import pytest
from conftest import run_ti_tui
from fault_support import LEDGER, check_run_files, project_copy

from ti_tui.runs import RunDirectory, run_status

pytestmark = pytest.mark.slow


def train_out_of_memory_at(tmp_path, step: int):
    """A 10-step run, a checkpoint every 4 steps, that runs out of memory at `step`: the project and what it said."""
    project = project_copy(
        tmp_path, {"training.save_every": 4, "training.validation_every": 0, "preview.every": 0, "training.batch_size": 2}
    )
    result = run_ti_tui("train", str(project.root), "--steps", "10", env={"TI_TUI_FAULTS": f"oom_at={step}"})
    LEDGER.injected += 1
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in said
    return project, said


def test_running_out_of_memory_in_a_step_names_the_next_setting_and_the_run_resumes(tmp_path):
    project, said = train_out_of_memory_at(tmp_path, 7)
    assert "step 7 ran out of memory on cpu" in said and "the checkpoint at step 4 is kept" in said
    assert "training.batch_size = 1 (now 2)" in said and 'training.gradient_checkpointing = "on"' in said
    (run,) = [RunDirectory(path) for path in project.runs_dir.iterdir()]
    final = run.events()[-1]
    assert final["reason"] == "failed" and final["fix"] == {"action": "edit-setting", "subject": "training.batch_size"}
    LEDGER.files_intact += check_run_files(run)

    resumed = run_ti_tui("train", str(project.root), "--resume", "last")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run_status(run).state == "finished" and run.checkpoints()[-1].step == 10
    LEDGER.survived += 1


def test_running_out_of_memory_before_any_checkpoint_says_to_start_a_new_run_not_to_continue_from_one(tmp_path):
    _, said = train_out_of_memory_at(tmp_path, 2)
    assert "step 2 ran out of memory on cpu" in said and "no checkpoint had been saved yet" in said
    assert "and start a new run; or resume this run as it is once more memory is free" in said
    assert "continue from the checkpoint" not in said
    LEDGER.survived += 1
