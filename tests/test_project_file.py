"""project.toml: the commented template, value-by-value saves, and refusing to clobber edits."""

import os
import tomllib

import pytest

from ti_tui.errors import UserError
from ti_tui.project import Project, ProjectChangedOnDiskError, ProjectFileError, ProjectSettings, create_project
from ti_tui.project.store import render_project_toml
from ti_tui.settings import SECTION_NAMES


def test_new_project_file_explains_every_key_with_a_comment(tmp_path):
    project = create_project(tmp_path / "myface", token="wdnsdy")
    text = project.store.path.read_text()
    settings = ProjectSettings()
    for section in SECTION_NAMES:
        assert f"\n[{section}]  # " in text
        for key in type(getattr(settings, section)).model_fields:
            lines = [line for line in text.splitlines() if line.startswith(f"{key} =")]
            assert lines, f"{section}.{key} missing from the template"
            assert all("  # " in line and len(line.split("  # ", 1)[1]) > 10 for line in lines)
    assert tomllib.loads(text)["token"]["trigger"] == "wdnsdy"
    assert (tmp_path / "myface" / "images").is_dir()


def test_template_reads_back_as_the_defaults():
    text = render_project_toml(ProjectSettings())
    assert ProjectSettings.model_validate(tomllib.loads(text)) == ProjectSettings()


def test_changing_one_value_leaves_every_other_byte_as_it_was(tmp_path):
    project = create_project(tmp_path / "myface", token="wdnsdy")
    path = project.store.path
    # The user's own touches: a comment, odd spacing, a reordered key.
    original = path.read_text().replace("[training]\n", "[training]\n# my note: keep this\n")
    original = original.replace("batch_size = 1   ", "batch_size   =   1")
    path.write_text(original)
    project = Project.open(tmp_path / "myface")

    settings = project.settings.model_copy(deep=True)
    settings.training.steps = 3500
    changed = project.store.save(settings)

    assert changed == ["training.steps"]
    saved = path.read_text()
    expected = original.replace("steps = 2000 ", "steps = 3500 ", 1)
    assert saved == expected
    assert Project.open(path).settings.training.steps == 3500


def test_saving_adds_a_key_the_user_deleted_and_keeps_the_rest(tmp_path):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    path = project.store.path
    lines = [line for line in path.read_text().splitlines(keepends=True) if not line.startswith("seed =")]
    path.write_text("".join(lines))
    project = Project.open(path)
    settings = project.settings.model_copy(deep=True)
    settings.training.seed = 7
    project.store.save(settings)
    reread = Project.open(path)
    assert reread.settings.training.seed == 7
    text = path.read_text()
    training_table = text[text.index("[training]") : text.index("[schedule]")]
    assert "seed = 7  # same seed" in training_table
    assert lines == [line for line in text.splitlines(keepends=True) if not line.startswith("seed =")]


def test_saving_restores_a_table_the_user_deleted(tmp_path):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    path = project.store.path
    text = path.read_text()
    without_xy = text[: text.index("[xy]")] + text[text.index("[export]") :]
    path.write_text(without_xy)
    project = Project.open(path)
    settings = project.settings.model_copy(deep=True)
    settings.xy.y = "cfg=4,8"
    project.store.save(settings)
    assert Project.open(path).settings.xy.y == "cfg=4,8"
    saved = path.read_text()
    assert saved.startswith(without_xy)
    assert "[xy]  # The comparison grid" in saved
    assert 'y = "cfg=4,8"  # down: axes are' in saved


def test_saving_refuses_when_the_file_was_edited_since_loading(tmp_path):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    path = project.store.path
    edited_elsewhere = path.read_text().replace('init_text = "person"', 'init_text = "woman"')
    path.write_text(edited_elsewhere)

    settings = project.settings.model_copy(deep=True)
    settings.training.steps = 10
    with pytest.raises(ProjectChangedOnDiskError, match="Reload it"):
        project.store.save(settings)
    assert path.read_text() == edited_elsewhere

    project.store.reload()
    settings = project.settings.model_copy(deep=True)
    settings.training.steps = 10
    project.store.save(settings)
    reread = Project.open(path).settings
    assert (reread.token.init_text, reread.training.steps) == ("woman", 10)


def test_a_failed_save_says_so_and_leaves_the_file_whole(tmp_path, monkeypatch):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    before = project.store.path.read_bytes()
    settings = project.settings.model_copy(deep=True)
    settings.training.steps = 10

    def disk_full(*arguments):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(UserError, match=r"could not be saved \(No space left on device\); the file is unchanged"):
        project.store.save(settings)
    assert project.store.path.read_bytes() == before
    assert sorted(path.name for path in (tmp_path / "p").iterdir()) == ["images", "project.toml"]

    monkeypatch.undo()
    project.store.save(settings)  # the store is still usable once the disk has room
    assert Project.open(project.store.path).settings.training.steps == 10


def test_settings_that_clash_are_not_saved(tmp_path):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    before = project.store.path.read_bytes()
    settings = project.settings.model_copy(deep=True)
    settings.schedule.preset = "cosine"  # the default learning rate is a piecewise schedule
    with pytest.raises(ProjectFileError) as caught:
        project.store.save(settings)
    assert caught.value.problems[0].fix.subject == "schedule.learning_rate"
    assert 'rate:step items need preset = "piecewise"' in str(caught.value)
    assert "Nothing was saved" in str(caught.value)
    assert project.store.path.read_bytes() == before


def test_saving_through_a_symbolic_link_updates_the_linked_file(tmp_path):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    real = tmp_path / "settings-elsewhere.toml"
    project.store.path.rename(real)
    project.store.path.symlink_to(real)
    project = Project.open(tmp_path / "p")
    settings = project.settings.model_copy(deep=True)
    settings.training.steps = 9
    project.store.save(settings)
    assert project.store.path.is_symlink()
    assert tomllib.loads(real.read_text())["training"]["steps"] == 9


def test_saving_into_an_inline_table_keeps_the_file_readable(tmp_path):
    project = create_project(tmp_path / "p", token="wdnsdy", kind="face")
    path = project.store.path
    text = path.read_text()
    training = text[text.index("[training]") : text.index("[schedule]")]
    path.write_text(text.replace(training, "").replace("schema = 2", "schema = 2\ntraining = {batch_size = 2}"))
    project = Project.open(path)
    settings = project.settings.model_copy(deep=True)
    settings.training.steps = 7
    project.store.save(settings)
    reread = Project.open(path).settings.training
    assert (reread.steps, reread.batch_size) == (7, 2)


def test_project_opens_from_its_folder_or_its_file(tmp_path):
    create_project(tmp_path / "p", token="wdnsdy")
    assert Project.open(tmp_path / "p").root == Project.open(tmp_path / "p" / "project.toml").root
