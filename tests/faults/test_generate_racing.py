"""Several `ti-tui generate` at once on one project: every image each one says it wrote is kept, none replaced."""

import subprocess
import sys

import pytest
import torch
from fault_support import LEDGER, project_copy
from PIL import Image

from ti_tui.embedding.files import Embedding, write_embedding

PROMPTS = ("a [name] on the moon", "a [name] under the sea", "a [name] in the snow", "a [name] on a bicycle")


@pytest.mark.slow
def test_generate_runs_racing_on_one_project_keep_every_image(tmp_path):
    project = project_copy(tmp_path, {})
    embedding = tmp_path / "zorbot.safetensors"
    write_embedding(Embedding(torch.randn(1, 768, generator=torch.Generator().manual_seed(1)), trigger="zorbot"), embedding, "safetensors")
    # The same seed and file name stamp for all: only the prompt tells the images apart.
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ti_tui",
                "generate",
                str(project.root),
                prompt,
                "--embedding",
                str(embedding),
                "--seed",
                "1",
                "--steps",
                "1",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prompt in PROMPTS
    ]
    said = [racer.communicate(timeout=600) for racer in racers]
    LEDGER.injected += 1
    assert [racer.returncode for racer in racers] == [0] * len(PROMPTS), said
    written = [[line.removeprefix("Wrote ") for line in out.splitlines() if line.startswith("Wrote ")] for out, _ in said]
    assert all(len(paths) == 1 for paths in written), said
    assert len({paths[0] for paths in written}) == len(PROMPTS)
    for prompt, (path,) in zip(PROMPTS, written):
        with Image.open(path) as image:
            image.load()
            assert image.text["parameters"].startswith(prompt.replace("[name]", "zorbot") + "\n")
        LEDGER.files_intact += 1
    generated = project.root / "generated"
    assert sorted(str(path) for path in generated.iterdir()) == sorted(paths[0] for paths in written)
    LEDGER.survived += 1
