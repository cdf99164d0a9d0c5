"""Sentences that told a new user something untrue or confusing, each as it reads now."""

import pytest
from installations import comfyui

from ti_tui.runs.status import RunStatus
from ti_tui.usecases.export import recognise_target


def test_a_stopped_run_says_stopped_once():
    status = RunStatus("stopped", step=36, total_steps=100000, reason="stopped on request at step 36")
    assert status.describe() == "stopped on request at step 36 of 100000"
    signalled = RunStatus("stopped", step=4, total_steps=10, reason="stopped by signal SIGTERM at step 4")
    assert signalled.describe() == "stopped by signal SIGTERM at step 4 of 10"


def test_the_images_step_with_no_images_says_so_and_what_to_press():
    from ti_tui.tui.screens.images import _verdict

    assert _verdict([], None) == "No images yet: a adds a folder of photos or one photo (10-50 varied ones work best)."


def test_an_empty_set_of_images_has_no_usable_images_not_only_zero():
    from ti_tui.dataset.checks import set_findings

    assert [finding.what for finding in set_findings([], {}) if finding.check == "count"] == ["No usable images."]


def test_the_plan_of_a_project_with_no_images_speaks_of_no_passes(sample):
    from ti_tui.tui.format import describe_forecast
    from ti_tui.usecases.forecast import RunForecast

    plan = describe_forecast(RunForecast(0, 0.0, None, None), sample, None)
    assert "300 steps of 1 image(s), with no images to train on yet (Images, step 1)." in plan
    assert "passes" not in plan


def test_comfyuis_embeddings_folder_typed_itself_is_called_that(tmp_path):
    installation = comfyui(tmp_path / "ComfyUI")
    typed_folder = recognise_target(installation / "models" / "embeddings", "SD 1.x")
    assert typed_folder.kind == "comfyui"
    assert typed_folder.description.startswith("the embeddings folder of a ComfyUI installation: the file goes into it, which")
    assert recognise_target(installation, "SD 1.x").description.startswith("a ComfyUI installation: the file goes into models/embeddings")


def test_doctor_lists_each_image_warning_once_and_counts_them_in_the_verdict(sample):
    from conftest import ti_tui_in_process

    sample.update({"dataset.kind": "face"})  # the sample's robots have no face to find
    result = ti_tui_in_process("doctor", str(sample.root))
    assert result.stdout.count("No face was found in 01-hill.jpg") == 1
    verdict = result.stdout.split("\nVerdict\n", 1)[1]
    assert "10 warning(s) about the images, listed under Images above." in verdict


def test_doctor_warns_of_hours_on_the_cpu_only_for_a_full_size_model(sample, tiny_checkpoint):
    from ti_tui.sd.device import ComputeDevice
    from ti_tui.usecases.doctor import _device_problems

    cpu = [ComputeDevice("cpu", "CPU")]
    sample.update({"model.base": str(tiny_checkpoint)})
    assert _device_problems(sample.settings, cpu, sample.root) == []
    sample.update({"model.base": "no/such-model"})  # cannot be read: taken for a full-size one
    (warning,) = _device_problems(sample.settings, cpu, sample.root)
    assert warning.what == "Training runs on the CPU: a full-size model takes hours here; a GPU makes it minutes."


@pytest.mark.slow  # starts a trainer
def test_before_a_run_unprepared_images_and_missing_captions_are_said_in_the_plan_and_by_ti_tui_train(trainable_project):
    from conftest import ti_tui_in_process

    from ti_tui.usecases.training import notes_before_a_run

    project = trainable_project()
    (project.images_dir / "03-night.txt").unlink()
    unprepared, uncaptioned = notes_before_a_run(project)
    assert unprepared.startswith("The images are not prepared: the run trains on the 10 originals, each cropped square at its centre.")
    assert uncaptioned.startswith('1 of 10 images have no caption: their prompts are the template alone, such as "')
    assert "zorbot" in uncaptioned and uncaptioned.endswith("Captions (step 2) writes them.")
    result = ti_tui_in_process("train", str(project.root), "--steps", "1", "--detach")
    assert f"Note: {unprepared}" in result.stdout and f"Note: {uncaptioned}" in result.stdout


def test_a_trigger_the_tokenizer_knows_already_marks_the_token_step_for_attention(sample, tiny_model_dir):
    from ti_tui.usecases.journey import step_states

    assert step_states(sample)["token"].progress == "done"
    sample.update({"token.trigger": "the"})
    token = step_states(sample)["token"]
    assert token.progress == "attention", token
    assert "the" in token.line


def test_ti_tui_new_says_what_the_token_step_would_of_a_word_the_tokenizer_knows(tmp_path, tiny_model_dir):
    from conftest import ti_tui_in_process

    result = ti_tui_in_process("new", "pets", "--token", "dog", "--model", "builtin:tiny", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("Warning: ")]
    assert warnings and "dog" in warnings[0], result.stdout
    made_up = ti_tui_in_process("new", "robot", "--token", "wdnsdy", "--model", "builtin:tiny", cwd=tmp_path)
    assert "Warning" not in made_up.stdout


async def test_token_and_settings_are_ticked_once_looked_at_not_on_a_fresh_project(tmp_path, tiny_model_dir):
    from wizard_support import fake_services, settle

    from ti_tui.project import create_project
    from ti_tui.tui.app import create_app
    from ti_tui.tui.widgets.step_bar import StepTab

    project = create_project(tmp_path / "zorbot", model="builtin:tiny")
    app = create_app(project, fake_services(tmp_path / "data"))

    def marks() -> dict[str, str]:
        return {tab.step: tab.render().plain.split()[-1] for tab in app.screen.query(StepTab)}

    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert (marks()["token"], marks()["settings"]) == ("·", "·"), "ticked on a project nobody has looked at"
        app.open_step("token")
        await settle(app, pilot)
        assert (marks()["token"], marks()["settings"]) == ("✓", "·")
        app.open_step("settings")
        await settle(app, pilot)
        assert (marks()["token"], marks()["settings"]) == ("✓", "✓")
