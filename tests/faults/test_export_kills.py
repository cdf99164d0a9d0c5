"""kill -9 in the middle of writing each file of a three-format export: no half file at any destination, and
the same export run again completes the set. The files are written by the export's helper process (the command
itself never imports torch), so that is the process killed; the command says so."""

import pytest
import torch
from conftest import run_ti_tui
from fault_support import LEDGER, project_copy, visible_files

from ti_tui.embedding.files import Embedding, read_embedding, write_embedding
from ti_tui.usecases.training import create_run

FILES = ("zorbot.safetensors", "zorbot.pt", "zorbot.bin")


@pytest.mark.parametrize("killed_in", FILES)
def test_an_export_killed_mid_write_leaves_no_half_file_and_runs_again_to_the_full_set(tmp_path, killed_in):
    project = project_copy(tmp_path, {})
    run = create_run(project, steps=1)
    run.checkpoints_dir.mkdir(parents=True)
    vectors = torch.randn((2, 768), generator=torch.Generator().manual_seed(1))
    write_embedding(Embedding(vectors, trigger="zorbot", step=1), run.checkpoints_dir / "zorbot-1.safetensors", "safetensors")
    export = ("export", str(project.root), "--format", "safetensors,pt,diffusers")

    killed = run_ti_tui(*export, env={"TI_TUI_WRITE_FAULTS": f"kill:{killed_in}"})
    LEDGER.injected += 1
    assert killed.returncode == 2, killed.stdout + killed.stderr
    assert "was ended by SIGKILL before it answered; try again" in killed.stderr
    there = visible_files(project.exports_dir)
    assert sorted(path.name for path in there) == sorted(FILES[: FILES.index(killed_in)])
    for path in there:
        assert torch.equal(read_embedding(path).embedding.vectors, vectors), path
        LEDGER.files_intact += 1

    again = run_ti_tui(*export)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Wrote {project.exports_dir / killed_in}" in again.stdout
    for name in FILES:
        assert torch.equal(read_embedding(project.exports_dir / name).embedding.vectors, vectors), name
        LEDGER.files_intact += 1
    LEDGER.survived += 1
