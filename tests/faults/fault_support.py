"""For the fault-injection tests: the ledger of faults, a project to break, and checking what a run left on disk."""

from dataclasses import dataclass
from pathlib import Path


@dataclass
class FaultLedger:
    injected: int = 0
    survived: int = 0
    files_intact: int = 0


LEDGER = FaultLedger()
SAMPLE_PROJECT = Path(__file__).resolve().parent.parent.parent / "sample_project"


def project_copy(folder: Path, settings: dict):
    """A copy of the sample project in `folder`, with `settings` changed."""
    import shutil

    from ti_tui.project import Project

    root = folder / "project"
    shutil.copytree(SAMPLE_PROJECT, root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    project = Project.open(root)
    project.update(settings)
    return project


def check_run_files(run, cut_lines: int = 0) -> int:
    """Every file of the run is whole (or absent): embeddings, resume states, previews, run.json and the
    event log, which may hold `cut_lines` lines cut short by a kill (readers skip them); returns how many
    files were checked."""
    import json

    import torch
    from PIL import Image

    from ti_tui.embedding.files import read_embedding

    checked = 0
    json.loads(run.run_file.read_text(encoding="utf-8"))
    checked += 1
    if run.events_file.exists():
        unreadable = 0
        for line in run.events_file.read_text(encoding="utf-8").splitlines():
            try:
                json.loads(line)
            except ValueError:
                unreadable += 1
        assert unreadable <= cut_lines, f"{unreadable} cut lines in {run.events_file}"
        checked += 1
    for checkpoint in run.checkpoints():
        assert read_embedding(checkpoint.embedding).embedding.is_finite, checkpoint.embedding
        checked += 1
        if checkpoint.state.exists():
            torch.load(checkpoint.state, weights_only=False)
            checked += 1
    for preview in sorted(run.previews_dir.glob("*.png")) if run.previews_dir.is_dir() else []:
        with Image.open(preview) as image:
            image.load()
        checked += 1
    return checked


def visible_files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file() and not path.name.startswith(".")]
