"""The checkpoint suggested from a run's history, on event logs of known shapes: each says which step to use and why."""

import math
import random

from ti_tui.runs.history import RunHistory
from ti_tui.runs.suggestion import suggest_checkpoint

TYPICAL = 0.4


def history_of(steps: int, validation, times, every: int = 100, start: int = 0, validate_every: int = 50, ended: bool = True) -> RunHistory:
    """A run of `steps` steps after `start` whose validation loss at step s is validation(s), and whose longest vector
    is times(s) typical tokens long; a checkpoint every `every` steps. Validated before its first step, as the trainer does."""
    events = [{"type": "config", "steps": start + steps, "start_step": start, "typical_norm": TYPICAL}]
    if validation is not None:
        events.append({"type": "validation", "step": start, "loss": validation(start)})
    for step in range(start + 1, start + steps + 1):
        loss = 0.1 + 0.05 * math.sin(step)
        events.append({"type": "step", "step": step, "loss": loss, "loss_smoothed": loss, "lr": 0.005, "norms": [TYPICAL * times(step)]})
        if validation is not None and step % validate_every == 0:
            events.append({"type": "validation", "step": step, "loss": validation(step)})
        if step % every == 0:
            events.append({"type": "checkpoint", "step": step, "path": f"/run/checkpoints/zorbot-{step}.safetensors"})
    if ended:
        events.append({"type": "finished", "reason": "completed", "message": f"trained {steps} steps", "step": start + steps})
    return RunHistory().feed(events)


def falling_then_flat(flat_from: int):
    return lambda step: 0.20 - 0.08 * min(step, flat_from) / flat_from


def test_a_run_whose_validation_still_falls_at_the_end_is_said_to_want_more_steps():
    suggestion = suggest_checkpoint(history_of(1000, lambda step: 0.2 - 0.0001 * step, lambda step: 1 + step / 2000))
    assert suggestion.step == 1000
    assert "still falling at the end; more steps would likely help" in suggestion.words
    assert suggestion.over_trained_from is None


def test_a_good_run_suggests_the_checkpoint_where_validation_stopped_improving_and_flags_those_past_3x():
    def times(step):  # 1.8x at 1,200, then steeply up: 3x from about 1,520
        return 1 + 0.8 * step / 1200 if step <= 1200 else 1.8 + 0.0037 * (step - 1200)

    suggestion = suggest_checkpoint(history_of(2000, falling_then_flat(1100), times))
    assert suggestion.step in (1000, 1100), suggestion.words  # the loss is within a tenth of its fall of the lowest from 990
    assert f"Step {suggestion.step:,}: the validation loss stopped improving near step" in suggestion.words
    assert "the vectors are 1.7x a typical token" in suggestion.words or "the vectors are 1.8x a typical token" in suggestion.words
    assert suggestion.over_trained_from == 1600
    assert "From step 1,600 they pass 3x: likely over-trained." in suggestion.words
    assert not suggestion.flags(1100) and not suggestion.flags(1500) and suggestion.flags(1600) and suggestion.flags(2000)


def test_an_over_trained_run_suggests_the_last_checkpoint_before_the_vectors_pass_3x_even_while_validation_falls():
    suggestion = suggest_checkpoint(history_of(1000, lambda step: 0.2 - 0.0001 * step, lambda step: 1 + step / 250))
    assert suggestion.over_trained_from == 500  # 3x at step 500
    assert suggestion.step == 400
    assert "From step 500 they pass 3x: likely over-trained." in suggestion.words


def test_a_run_over_trained_from_its_first_checkpoint_says_to_train_again_with_a_lower_rate():
    suggestion = suggest_checkpoint(history_of(500, falling_then_flat(300), lambda step: 3.5))
    assert suggestion.step == 100
    assert "Every checkpoint's vectors are over 3x a typical token" in suggestion.words
    assert "lower learning rate" in suggestion.words


def test_noise_in_the_validation_loss_does_not_move_the_suggestion_to_a_lucky_dip():
    noise = random.Random(7)
    plain = suggest_checkpoint(history_of(3000, falling_then_flat(1000), lambda step: 1 + step / 6000))
    noisy = suggest_checkpoint(
        history_of(3000, lambda step: falling_then_flat(1000)(step) + noise.uniform(-0.006, 0.006), lambda step: 1 + step / 6000)
    )
    assert abs(noisy.step - plain.step) <= 100, (plain.words, noisy.words)
    assert noisy.step < 1500, "a dip late in the flat stretch chose a later, longer checkpoint"


def test_without_validation_losses_the_last_checkpoint_is_suggested_and_the_setting_named():
    suggestion = suggest_checkpoint(history_of(500, None, lambda step: 1.2))
    assert suggestion.step == 500
    assert "training.validation_every is 0" in suggestion.words


def test_a_continued_run_is_judged_in_its_own_step_numbers():
    suggestion = suggest_checkpoint(history_of(1000, falling_then_flat(1400), lambda step: 1.5, start=1000))
    assert suggestion.step == 1400
    assert "near step 1,350" in suggestion.words or "near step 1,400" in suggestion.words


def test_no_suggestion_before_the_first_checkpoint():
    assert suggest_checkpoint(history_of(50, falling_then_flat(30), lambda step: 1.1)) is None


def test_ti_tui_runs_prints_the_suggestion_of_each_run(sample):
    from conftest import ti_tui_in_process
    from run_recording import recorded_run

    recorded_run(sample, "20260101-000000-zorbot", 300, 300, growth=4.0)  # 3x a typical token from step 150
    result = ti_tui_in_process("runs", str(sample.root))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("20260101-000000-zorbot  finished")
    assert lines[1] == (
        "  Suggested: Step 100, the last checkpoint before the vectors grow too long: the validation loss was still falling, "
        "so a lower learning rate would take it further, but the vectors are 2.3x a typical token, long already. "
        "From step 150 they pass 3x: likely over-trained."
    )


def test_exporting_a_checkpoint_flagged_as_over_trained_warns_and_names_the_one_suggested(sample):
    from conftest import ti_tui_in_process
    from run_recording import recorded_run
    from wizard_support import write_checkpoints

    from ti_tui.usecases.export import plan_export

    write_checkpoints(recorded_run(sample, "20260101-000000-zorbot", 300, 300, growth=4.0), steps=(100, 300))
    warnings = plan_export(sample).warnings  # the last checkpoint, step 300
    assert any(
        "Step 300 of run 20260101-000000-zorbot is likely over-trained" in warning and "Step 100 is suggested" in warning
        for warning in warnings
    )
    assert not any("over-trained" in warning for warning in plan_export(sample, step=100).warnings)
    result = ti_tui_in_process("export", str(sample.root))
    assert "Warning: Step 300 of run 20260101-000000-zorbot is likely over-trained" in result.stdout


def test_a_run_still_going_is_not_told_to_go_on():
    suggestion = suggest_checkpoint(history_of(1000, lambda step: 0.2 - 0.0001 * step, lambda step: 1.2, ended=False))
    assert suggestion.words.startswith("Step 1,000, the newest: the validation loss is still falling while the run goes on")


def test_two_validation_losses_are_too_few_to_judge_by():
    suggestion = suggest_checkpoint(history_of(100, lambda step: 0.2 - 0.0005 * step, lambda step: 1.1, every=50, validate_every=100))
    assert suggestion.step == 100
    assert "there are too few validation losses yet to judge by" in suggestion.words


def test_a_validation_loss_that_only_rises_suggests_the_checkpoint_nearest_its_lowest_and_a_higher_rate():
    suggestion = suggest_checkpoint(history_of(1000, lambda step: 0.1 + 0.0001 * step, lambda step: 1.2))
    assert suggestion.step == 100
    assert "the loss did not fall" in suggestion.words and "higher learning rate" in suggestion.words


def test_validation_losses_that_are_not_numbers_are_said_so_not_taken_for_none():
    suggestion = suggest_checkpoint(history_of(500, lambda step: float("nan"), lambda step: 1.2))
    assert suggestion.step == 500
    assert "the validation losses are not numbers" in suggestion.words and "validation_every" not in suggestion.words


def test_a_vector_length_that_is_not_a_number_is_left_out_of_the_words():
    suggestion = suggest_checkpoint(history_of(500, falling_then_flat(300), lambda step: float("nan") if step == 300 else 1.2))
    assert "nan" not in suggestion.words
