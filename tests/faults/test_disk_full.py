"""A full disk (ENOSPC injected) while a checkpoint, a resume state, a preview, an event or a caption is
written: a clear message, the last good checkpoint intact, the run resumable, a caption left as it was."""

import pytest
from conftest import run_ti_tui
from fault_support import LEDGER, check_run_files, project_copy

from ti_tui.embedding.files import read_embedding
from ti_tui.runs import RunDirectory, run_status

RUN_SETTINGS = {
    "training.save_every": 4,
    "training.validation_every": 0,
    "preview.every": 4,
    "preview.prompts": ["a photo of [name]"],
    "preview.seeds": [1],
    "preview.compare_init": False,
    "preview.sampling_steps": 2,
}
FULL_WHILE_WRITING = {
    "a checkpoint": "full:.safetensors@2",
    "a resume state": "full:.state.pt@2",
    "a preview": "full:.png@2",
    "an event": "full:events.jsonl@25",
}


@pytest.mark.slow
@pytest.mark.parametrize("what", list(FULL_WHILE_WRITING))
def test_a_full_disk_during_a_run_is_said_and_the_run_resumes_from_its_last_good_checkpoint(what, tmp_path):
    project = project_copy(tmp_path, RUN_SETTINGS)
    result = run_ti_tui("train", str(project.root), "--steps", "12", env={"TI_TUI_WRITE_FAULTS": FULL_WHILE_WRITING[what]})
    LEDGER.injected += 1
    (run,) = [RunDirectory(path) for path in project.runs_dir.iterdir()]
    said = result.stdout + result.stderr
    assert result.returncode != 0 and "the disk is full" in said and "is intact" in said, said
    assert "Traceback" not in said
    assert run_status(run).state in ("failed", "lost")
    LEDGER.files_intact += check_run_files(run, cut_lines=1)
    good = run.checkpoints()
    assert good and good[0].step == 4 and read_embedding(good[0].embedding).embedding.is_finite

    resumed = run_ti_tui("train", str(project.root), "--resume", "last")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run_status(run).state == "finished" and run.checkpoints()[-1].step == 12
    LEDGER.files_intact += check_run_files(run, cut_lines=1)
    LEDGER.survived += 1


def test_a_full_disk_while_captions_are_edited_leaves_every_caption_as_it_was(tmp_path):
    project = project_copy(tmp_path, {})
    assert run_ti_tui("prepare", str(project.root)).returncode == 0
    captions = sorted(project.prepared_dir.glob("*.txt"))
    before = {path.name: path.read_bytes() for path in captions}
    result = run_ti_tui("captions", str(project.root), "--append", "in the rain", env={"TI_TUI_WRITE_FAULTS": "full:.txt@3"})
    LEDGER.injected += 1
    said = result.stdout + result.stderr
    assert result.returncode == 2 and "No space left on device" in said and "Traceback" not in said
    after = {path.name: path.read_bytes() for path in sorted(project.prepared_dir.glob("*.txt"))}
    changed = [name for name in before if after[name] != before[name]]
    assert all(after[name].decode().rstrip().endswith("in the rain") for name in changed)
    assert all(after[name] == before[name] for name in before if name not in changed)
    assert not list(project.prepared_dir.glob(".*.tmp"))
    LEDGER.files_intact += len(after)
    LEDGER.survived += 1
