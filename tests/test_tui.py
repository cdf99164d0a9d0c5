"""The wizard's project screen, driven with Textual's Pilot."""

import subprocess
import sys

import pytest
from conftest import SAMPLE_PROJECT
from textual.widgets import Static

from ti_tui.findings import Finding
from ti_tui.project import Project, create_project
from ti_tui.tui.app import create_app
from ti_tui.usecases.summary import summarize_project


def screen_text(app) -> str:
    """Everything the screen shows, as the user reads it (markup already applied)."""
    return "\n".join(widget.render().plain for widget in app.screen.query(Static) if widget.display)


async def settle(app, pilot):
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture
def tiny_project(tmp_path) -> Project:
    return create_project(tmp_path / "p", token="wdnsdy", model="builtin:tiny")


async def test_sample_project_shows_its_settings_findings_and_the_noise_notice():
    app = create_app(Project.open(SAMPLE_PROJECT))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "zorbot, starting from 'robot', 2 vector(s)" in text
        assert "300 steps, batch 1" in text
        assert "10 in images/" in text
        assert "10 of 10 images have one" in text
        assert "makes noise, not pictures" in text


async def test_problems_from_the_core_are_shown(tiny_project):
    def summarize_with_a_problem(project):
        summary = summarize_project(project)
        return type(summary)(**{**summary.__dict__, "problems": [Finding("error", "The disk is on fire.")]})

    app = create_app(tiny_project, summarize=summarize_with_a_problem)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "error: The disk is on fire." in screen_text(app)


async def test_user_text_is_shown_literally_not_as_markup(tiny_project):
    path = tiny_project.store.path
    path.write_text(path.read_text().replace('init_text = "person"', 'init_text = "[bold]robot[/bold]"'))
    app = create_app(Project.open(path))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "starting from '[bold]robot[/bold]'" in screen_text(app)


async def test_reload_shows_an_edit_made_outside_and_reports_a_broken_file(tiny_project):
    path = tiny_project.store.path
    app = create_app(tiny_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "2000 steps" in screen_text(app)

        path.write_text(path.read_text().replace("steps = 2000", "steps = 750"))
        await pilot.press("r")
        await settle(app, pilot)
        assert "750 steps" in screen_text(app)

        path.write_text(path.read_text().replace("steps = 750", "steps = -1"))
        await pilot.press("r")
        await settle(app, pilot)
        text = screen_text(app)
        assert "training.steps = -1: should be at least 1" in text
        assert "750 steps" in text  # the last good settings stay on screen


async def test_footer_shows_the_key_bindings():
    app = create_app(Project.open(SAMPLE_PROJECT))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        descriptions = {binding.description for _, binding, _, _ in app.active_bindings.values() if binding.show}
        assert {"Quit", "Reload project.toml"} <= descriptions


@pytest.mark.parametrize("model", ["builtin:tiny", "org/some-model", "model.safetensors"])
def test_painting_the_first_screen_imports_no_model_library(tmp_path, model):
    (tmp_path / "model.safetensors").write_bytes(b"")
    project = create_project(tmp_path / "p", token="wdnsdy", model=str(tmp_path / model) if "." in model else model)
    script = f"""
import asyncio, sys
from ti_tui.project import Project
from ti_tui.tui.app import create_app

async def main():
    app = create_app(Project.open({str(project.root)!r}))
    async with app.run_test() as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "wdnsdy" in "".join(widget.render().plain for widget in app.screen.query("Label"))
    print(sorted(name for name in ("torch", "diffusers", "transformers", "accelerate") if name in sys.modules))

asyncio.run(main())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


async def test_image_checks_are_shown_in_words(tiny_project):
    from ti_tui.dataset.checks import DatasetReport

    def check_with_a_finding(project):
        return DatasetReport(findings=[Finding("warning", "a.jpg looks blurry.", "Replace it.", check="blur", subjects=("a.jpg",))])

    app = create_app(tiny_project, check_images=check_with_a_finding)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "warning: a.jpg looks blurry. Replace it." in screen_text(app)


async def test_the_sample_projects_images_pass_their_checks():
    app = create_app(Project.open(SAMPLE_PROJECT))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert "No problems found in 10 image(s)." in screen_text(app)
