"""What the dashboard reads of a run: curves that follow the path the vectors took, thinned for drawing,
checkpoints with their validation loss, and the vectors' lengths in words."""

import math

import numpy
import pytest

from ti_tui.runs.history import RunHistory


def step(number: int, loss: float = 0.1, norms=(0.4, 0.3), total: int = 100) -> dict:
    return {"type": "step", "step": number, "total": total, "loss": loss, "loss_smoothed": loss, "lr": 0.005, "norms": list(norms)}


def test_steps_seen_again_after_a_resume_replace_the_ones_the_killed_trainer_wrote():
    history = RunHistory().feed([step(number, loss=1.0) for number in range(1, 14)])
    history.feed([{"type": "started", "pid": 2}, {"type": "resumed_from", "step": 10, "path": "x"}])
    history.feed([step(number, loss=2.0) for number in range(11, 21)])
    assert list(history.loss.steps) == list(range(1, 21))
    assert list(history.loss.values) == [1.0] * 10 + [2.0] * 10
    assert history.step == 20


def test_fifty_thousand_steps_are_drawn_as_four_hundred_points_that_keep_the_curve():
    history = RunHistory().feed([step(number, loss=1.0 + number / 50_000) for number in range(1, 50_001)])
    steps, values = history.loss.points(400)
    assert len(steps) == len(values) == 400
    assert steps[0] < 200 and steps[-1] > 49_800
    assert numpy.all(numpy.diff(values) > 0)  # a rising loss still rises
    assert values.mean() == pytest.approx(1.5, abs=0.01)


def test_a_loss_that_was_not_a_number_is_left_out_of_the_drawing():
    history = RunHistory().feed([step(1, 0.2), step(2, math.nan), step(3, 0.1)])
    steps, values = history.loss.points(400)
    assert steps.tolist() == [1.0, 3.0] and values.tolist() == [0.2, 0.1]


def test_checkpoints_come_newest_first_with_the_validation_loss_and_longest_vector_at_their_step():
    history = RunHistory().feed(
        [step(1), {"type": "validation", "step": 1, "loss": 0.3}, {"type": "checkpoint", "step": 1, "path": "/r/w-1.safetensors"}]
        + [step(2, norms=(0.5, 0.9)), {"type": "checkpoint", "step": 2, "path": "/r/w-2.safetensors"}]
    )
    rows = history.checkpoint_rows()
    assert [(row.step, row.validation_loss, row.longest_vector, row.path.name) for row in rows] == [
        (2, None, 0.9, "w-2.safetensors"),
        (1, 0.3, 0.4, "w-1.safetensors"),
    ]


def test_the_vectors_lengths_are_judged_against_a_typical_token():
    config = {"type": "config", "steps": 100, "start_step": 0, "typical_norm": 0.4}
    steady = RunHistory().feed([config] + [step(number, norms=(0.5,)) for number in range(1, 20)])
    assert "1.2x a typical token (0.400), steady" in steady.vector_verdict()
    rising = RunHistory().feed([config] + [step(number, norms=(0.4 + number * 0.04,)) for number in range(1, 20)])
    assert "and rising" in rising.vector_verdict()
    over = RunHistory().feed([config, step(1, norms=(1.3, 0.2))])
    assert "sign of over-training" in over.vector_verdict()


def test_a_trainer_started_again_clears_the_last_ones_end_and_pause():
    history = RunHistory().feed([{"type": "paused", "step": 3}, {"type": "finished", "reason": "stopped", "message": "m", "step": 3}])
    assert history.paused and history.final["reason"] == "stopped"
    history.feed([{"type": "started", "pid": 9}])
    assert not history.paused and history.final is None


def test_events_without_the_fields_this_version_reads_are_passed_over():
    history = RunHistory().feed([{"type": "step", "step": "three"}, {"type": "checkpoint"}, step(1)])
    assert history.step == 1 and history.events_read == 3 and not history.checkpoints


def test_caching_progress_is_one_line_that_counts_up():
    history = RunHistory().feed([{"type": "caching", "done": done, "total": 3} for done in (1, 2, 3)] + [step(1)])
    history.feed([{"type": "validation", "step": 1, "loss": 0.5}])
    assert list(history.lines) == ["Caching latents 3/3", "step 1: validation loss 0.5000"]
