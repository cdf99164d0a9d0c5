"""The speed-ups do not change what is learned, in fp32 or in bf16.

Our engine (cached latents, only the new vectors in the optimiser, no restore pass, the frozen
model in the precision "auto" chooses) and a plain float32 loop in the diffusers example's manner
(bench/reference_loop.py: VAE encode every step, the whole table in AdamW, other rows restored)
train builtin:tiny for the same steps from the same start; both vectors are then scored by the same
fixed-noise validation loss, in our engine's precision.
"""

import io
from pathlib import Path

import pytest
from conftest import run_ti_tui

pytestmark = pytest.mark.slow  # every test here trains

STEPS = 60
# The two runs draw different prompts, noise and timesteps, so they cannot agree to the bit; they
# must agree on how much the loss fell, to within this share of the plain loop's fall.
TOLERANCE = 0.25


def last_run_events(project, kind: str) -> list[dict]:
    from ti_tui.usecases.training import list_runs

    return [event for event in list_runs(project)[-1].events() if event["type"] == kind]


def test_the_optimised_engine_learns_what_a_plain_fp32_loop_learns(trainable_project, tmp_path, monkeypatch, cpu_bf16):
    settings = {
        "token.vectors": 1,
        "training.template": "photo",
        "training.latent_sampling": "random",
        "training.validation_every": STEPS,
        "training.save_every": STEPS,
        "schedule.preset": "constant",
        "schedule.learning_rate": "0.005",
    }
    ours = trainable_project("ours", **settings)
    result = run_ti_tui("train", str(ours.root), "--steps", str(STEPS))
    assert result.returncode == 0, result.stdout + result.stderr
    start, ours_end = (event["loss"] for event in last_run_events(ours, "validation"))
    config = last_run_events(ours, "config")[0]
    assert config["dtype"] == cpu_bf16
    resolution = config["resolution"]

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "bench"))
    from reference_loop import train

    from ti_tui.embedding.files import Embedding, write_embedding
    from ti_tui.sd.tiny import builtin_tiny_dir

    vector = train(builtin_tiny_dir(), ours.images_dir, resolution, 1, STEPS, "fp32", "cpu", out=io.StringIO())
    write_embedding(Embedding(vector.unsqueeze(0), trigger="zorbot"), tmp_path / "plain.safetensors", "safetensors")
    scored = trainable_project("scored", **{**settings, "training.validation_every": 1})
    result = run_ti_tui("train", str(scored.root), "--steps", "1", "--from", str(tmp_path / "plain.safetensors"))
    assert result.returncode == 0, result.stdout + result.stderr
    plain_end = last_run_events(scored, "validation")[0]["loss"]  # at step 0: the plain loop's vector as it came

    print(f"{cpu_bf16}: validation loss at the start {start:.5f}, ours {ours_end:.5f}, plain loop {plain_end:.5f}")
    assert plain_end < start and ours_end < start
    assert abs((start - ours_end) - (start - plain_end)) <= TOLERANCE * (start - plain_end)
