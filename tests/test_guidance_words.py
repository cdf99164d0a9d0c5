"""Sentences that told a new user something untrue or confusing, each as it reads now."""

import re

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
    _, named = notes_before_a_run(project)
    assert named.startswith('1 of 10 images have no caption file and are captioned by their file names, such as "night".')
    project.update({"training.captions_from_file_names": False})
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


def test_ti_tui_new_asks_what_the_images_show_and_proposes_the_init_words_from_it(tmp_path):
    from conftest import ti_tui_in_process

    from ti_tui.project import Project

    style = ti_tui_in_process("new", "inks", "--kind", "style", "--model", "builtin:tiny", cwd=tmp_path)
    assert style.returncode == 0, style.stderr
    assert "  kind     a style: pictures that share a look (--kind face | person | object | style)" in style.stdout
    settings = Project.open(tmp_path / "inks").settings
    assert (settings.dataset.kind, settings.token.init_text, settings.training.template) == ("style", "art", "art_style_caption")
    robot = ti_tui_in_process("new", "robot", "--model", "builtin:tiny", "--init-text", "robot toy", cwd=tmp_path)
    settings = Project.open(tmp_path / "robot").settings
    assert (settings.dataset.kind, settings.token.init_text) == ("subject", "robot toy"), "not a face unless said"
    assert "starting from 'robot toy'" in robot.stdout
    refused = ti_tui_in_process("new", "x", "--kind", "cat", cwd=tmp_path)
    assert refused.returncode == 2 and "face, person, object, style" in refused.stderr.replace("'", "")


async def test_the_new_project_dialog_asks_what_the_images_show_before_it_creates_and_proposes_the_init_words(tmp_path, monkeypatch):
    from textual.widgets import Input, Select, Static
    from wizard_support import fake_services, settle, until

    from ti_tui.project import Project
    from ti_tui.tui.app import create_app
    from ti_tui.tui.screens.new_project import NewProjectScreen

    monkeypatch.chdir(tmp_path)
    app = create_app(None, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewProjectScreen), "the new-project dialog")
        dialog = app.screen
        dialog.query_one("#folder", Input).value = str(tmp_path / "bot")
        dialog.query_one("#model", Input).value = "builtin:tiny"
        dialog.create()
        await settle(app, pilot)
        assert "Choose what the images show" in dialog.query_one("#kind-note", Static).render().plain
        assert not (tmp_path / "bot" / "project.toml").exists(), "created before saying what the images show"
        dialog.query_one("#kind", Select).value = "face"
        await settle(app, pilot)
        assert dialog.query_one("#init", Input).value == "person"
        dialog.query_one("#kind", Select).value = "object"
        await settle(app, pilot)
        assert dialog.query_one("#init", Input).value == "object", "the proposal follows the kind"
        dialog.query_one("#init", Input).value = "tin robot"
        dialog.query_one("#kind", Select).value = "person"
        await settle(app, pilot)
        assert dialog.query_one("#init", Input).value == "tin robot", "words the user typed are kept"
        dialog.create()
        await until(
            pilot, lambda: app.project is not None and app.screen.is_mounted and app.screen.STEP == "images", "the new project on Images"
        )
        await settle(app, pilot)
    settings = Project.open(tmp_path / "bot").settings
    assert (settings.dataset.kind, settings.token.init_text) == ("subject", "tin robot")


def test_the_model_field_of_a_new_project_speaks_of_the_field_not_of_project_toml(tmp_path, monkeypatch):
    from ti_tui.tui.screens.new_project import _model

    monkeypatch.chdir(tmp_path)
    problem, _ = _model("missing.safetensors")
    assert "project.toml" not in problem and problem.endswith(
        "Give a .safetensors or .ckpt file, a diffusers folder, a Hugging Face id, or builtin:tiny."
    )
    problem, note = _model("someone/not-cached-model")
    assert problem == "" and "fetch it once while online" in note, "an id not fetched yet can still make a project"


async def test_the_path_question_says_what_is_wrong_with_what_was_typed(tmp_path):
    from textual.widgets import Input, Static
    from wizard_support import fake_services, settle

    from ti_tui.tui.app import create_app
    from ti_tui.tui.screens.dialogs import AskPath

    (tmp_path / "photo.jpg").write_bytes(b"")
    app = create_app(None, fake_services(tmp_path / "data"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        question = AskPath("Add images from which folder?", title="Add images")
        await app.push_screen(question)
        await settle(app, pilot)
        said = {}
        for typed in ("", str(tmp_path / "nowhere"), str(tmp_path / "photo.jpg")):
            question.query_one("#path", Input).value = typed
            question.choose()
            await settle(app, pilot)
            said[typed] = question.query_one("#path-problem", Static).render().plain
    assert said[""] == "Type the path of a folder, or press f2 to browse."
    assert said[str(tmp_path / "nowhere")].endswith("nowhere does not exist; check the path (f2 browses).")
    assert said[str(tmp_path / "photo.jpg")].endswith("photo.jpg is not a folder; choose a folder.")


@pytest.mark.parametrize(("quiet_for", "said"), [(5, False), (150, True)])
def test_a_trainer_quiet_for_many_step_times_is_said_to_make_no_progress_with_what_to_look_at(trainable_project, quiet_for, said):
    import json
    import os
    import time

    from ti_tui.runs import RunDirectory, RunFacts
    from ti_tui.runs.directory import TrainerLock
    from ti_tui.runs.status import run_status

    project = trainable_project()
    run = RunDirectory(project.runs_dir / "20261207-000000-zorbot")
    run.path.mkdir(parents=True)
    run.write_facts(RunFacts(project.root, project.settings, steps=40, vectors=2, images=[]))
    at = time.time() - quiet_for
    lines = [
        {"type": "started", "pid": os.getpid()},
        {"type": "config", "steps": 40, "start_step": 0},
        {"type": "step", "step": 3, "total": 40, "loss": 0.1, "loss_smoothed": 0.1, "lr": 0.005, "steps_per_s": 2.0, "eta_s": 20.0},
    ]
    run.events_file.write_text("".join(json.dumps({"v": 1, "seq": n, "t": at, **line}) + "\n" for n, line in enumerate(lines, 1)))
    lock = TrainerLock(run)
    try:
        described = run_status(run).describe()
    finally:
        lock.release()
    assert described.startswith("running, step 3 of 40")
    assert bool(re.search(r"no progress for 2m\d\ds, while a step takes 0.5 s: see what it last wrote in", described)) is said, described


async def test_the_captioning_question_takes_a_hugging_face_id_from_the_local_cache_as_the_cli_does(tmp_path, hub_cache, monkeypatch):
    from textual.widgets import Input, Static
    from wizard_support import fake_services, settle

    from ti_tui.dataset.captioner import in_local_cache
    from ti_tui.tui.app import create_app
    from ti_tui.tui.screens.dialogs import AskPath

    monkeypatch.chdir(tmp_path)
    hub_cache("Salesforce/blip-image-captioning-base", {"config.json": b"{}"})
    assert in_local_cache("Salesforce/blip-image-captioning-base") and not in_local_cache("Salesforce/not-fetched")
    app = create_app(None, fake_services(tmp_path / "data"))
    answers = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for typed in ("Salesforce/not-fetched", "Salesforce/blip-image-captioning-base"):
            question = AskPath("Which model?", title="Captioning model", other=("a Hugging Face id in the local cache", in_local_cache))
            await app.push_screen(question, answers.append)
            await settle(app, pilot)
            question.query_one("#path", Input).value = typed
            question.choose()
            await settle(app, pilot)
            if typed.endswith("not-fetched"):
                said = question.query_one("#path-problem", Static).render().plain
                assert (
                    said
                    == "Salesforce/not-fetched is neither a folder here nor a Hugging Face id in the local cache; check it (f2 browses)."
                )
                question.dismiss(None)
                await settle(app, pilot)
    assert answers == [None, "Salesforce/blip-image-captioning-base"]
