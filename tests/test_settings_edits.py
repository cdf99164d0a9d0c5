"""Every way a screen changes settings reaches project.toml, with the user's comments and layout kept."""

import shutil

import pytest
from conftest import SAMPLE_PROJECT

from ti_tui.findings import Fix
from ti_tui.project import Project, ProjectChangedOnDiskError


@pytest.fixture
def project(tmp_path) -> Project:
    shutil.copy(SAMPLE_PROJECT / "project.toml", tmp_path / "project.toml")
    return Project.open(tmp_path)


def file_text(project: Project) -> str:
    return project.store.path.read_text()


def with_values(text: str, *replacements: tuple[str, str]) -> str:
    """The file as it should read: only the values replaced, every comment and space where it was."""
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_settings_changed_in_place_reach_the_file_only_when_saved(project):
    before = file_text(project)
    project.settings.training.steps = 5  # a copy: the project is not changed behind its back
    assert project.settings.training.steps == 300 and file_text(project) == before

    settings = project.settings
    settings.training.steps = 500
    settings.preview.seeds = [7]
    assert project.save(settings) == ["training.steps", "preview.seeds"]
    assert file_text(project) == with_values(
        before,
        ("steps = 300                        # optimisation", "steps = 500                        # optimisation"),
        ("seeds = [1, 2]    ", "seeds = [7]    "),
    )
    assert project.save(settings) == []  # saving again writes nothing


def test_settings_changed_by_key_one_or_several_at_once(project):
    before = file_text(project)
    assert project.update({"training.steps": 500}).changed == ["training.steps"]
    update = project.update({"token.trigger": "wdnsdy", "schedule.learning_rate": "0.004", "dataset.flip": True})
    assert update.problems == [] and sorted(update.changed) == ["dataset.flip", "schedule.learning_rate", "token.trigger"]
    assert file_text(project) == with_values(
        before,
        ("steps = 300 ", "steps = 500 "),
        ('trigger = "zorbot"', 'trigger = "wdnsdy"'),
        ('learning_rate = "0.005:100, 0.002"', 'learning_rate = "0.004"'),
        ("flip = false", "flip = true"),
    )
    assert Project.open(project.root).settings.token.trigger == "wdnsdy"


def test_invalid_values_are_explained_in_doctors_words_and_nothing_is_written(project):
    before = file_text(project)
    update = project.update({"training.steps": -1, "token.trigger": "two words", "training.batch_size": 2})
    assert update.changed == []
    assert [str(problem) for problem in update.problems] == [
        'line 25, token.trigger = "two words": should be one word of letters and digits (also - . _ inside), such as zorbot: '
        "it is typed in prompts and names the exported file (the made-up word you will type in prompts; also the export's file name)",
        "line 30, training.steps = -1: should be at least 1 (optimisation steps in this run)",
    ]
    assert [problem.fix for problem in update.problems] == [Fix("edit-setting", "token.trigger"), Fix("edit-setting", "training.steps")]
    assert file_text(project) == before and project.settings.training.batch_size == 1  # all or nothing

    clash = project.update({"schedule.preset": "cosine"})  # the piecewise rate is no single rate
    assert [problem.fix.subject for problem in clash.problems] == ["schedule.learning_rate"]
    unknown = project.update({"training.stepz": 5})
    assert str(unknown.problems[0]) == "unknown key training.stepz; did you mean training.steps?"
    assert file_text(project) == before


def test_an_edit_made_in_another_program_is_never_overwritten(project):
    edited = file_text(project).replace("seed = 1234", "seed = 99")
    project.store.path.write_text(edited)
    assert project.store.changed_on_disk()
    with pytest.raises(ProjectChangedOnDiskError, match="was edited by another program after it was loaded") as caught:
        project.update({"training.steps": 500})
    assert caught.value.fix == Fix("reload")
    settings = project.settings
    settings.training.steps = 500
    with pytest.raises(ProjectChangedOnDiskError):
        project.save(settings)
    assert file_text(project) == edited

    project.store.reload()
    assert project.update({"training.steps": 500}).changed == ["training.steps"]
    assert "seed = 99" in file_text(project) and "steps = 500" in file_text(project)
