"""Core says what is wrong and what to do in words for any front end; the command line adds the command."""

import re
import shutil

import pytest
from conftest import SAMPLE_PROJECT, ti_tui_in_process

from ti_tui.errors import FindingsError, UserError
from ti_tui.findings import Fix
from ti_tui.project import Project, create_project
from ti_tui.settings import ModelSettings

# A sub-command or an option of the command line, which only the command line may name.
COMMAND_WORDS = re.compile(
    r"ti-tui (new|open|doctor|fetch|import|check|prepare|caption|captions|prompts|train|runs|stop|inspect)\b"
    r"|--(resume|from|steps|token|model|images|detach|overwrite)\b"
)


def raised(call) -> UserError:
    with pytest.raises(UserError) as caught:
        call()
    return caught.value


def failure_cases(tmp_path) -> list[UserError]:
    from ti_tui.sd.loading import load_model
    from ti_tui.usecases import training
    from ti_tui.usecases.images import prepared_images

    project_folder = tmp_path / "project"
    shutil.copytree(SAMPLE_PROJECT, project_folder, ignore=shutil.ignore_patterns("runs", "prepared"))
    project = Project.open(project_folder)
    (tmp_path / "plain-folder").mkdir()
    return [
        raised(lambda: Project.open(tmp_path / "nowhere")),
        raised(lambda: Project.open(tmp_path / "plain-folder")),
        raised(lambda: create_project(project_folder)),
        raised(lambda: create_project(tmp_path / "new", model="")),
        raised(lambda: create_project(tmp_path / "new", token="two words")),
        raised(lambda: create_project(tmp_path / "new", images=tmp_path / "no-photos")),
        raised(lambda: load_model(ModelSettings(base="org/not-downloaded"), tmp_path)),
        raised(lambda: training.find_run(project, "last")),
        raised(lambda: training.find_run(project, "no-such-run")),
        raised(lambda: training.create_run(project, steps=0)),
        raised(lambda: training.create_run(project, steps=10**23)),
        raised(lambda: training.create_run(project, start_from=tmp_path / "missing.safetensors")),
        raised(lambda: prepared_images(project)),
    ]


def test_no_message_from_core_names_a_command_and_each_fix_is_data(tmp_path, hub_cache):
    errors = failure_cases(tmp_path)
    for error in errors:
        assert not COMMAND_WORDS.search(str(error)), str(error)
    fixes = {error.fix.action for error in errors if error.fix}
    assert {"create-project", "open-project", "fetch", "train", "list-runs", "prepare"} <= fixes


def test_a_project_that_cannot_train_lists_each_problem_with_its_fix(tmp_path):
    from ti_tui.usecases.training import create_run

    project = create_project(tmp_path / "p", model="builtin:tiny", token="")
    error = raised(lambda: create_run(project))
    assert isinstance(error, FindingsError)
    assert {finding.fix for finding in error.findings} == {Fix("import-images"), Fix("edit-setting", "token.trigger")}
    assert not COMMAND_WORDS.search(str(error))


def test_the_command_line_turns_each_fix_into_the_command_to_type(tmp_path):
    shutil.copytree(SAMPLE_PROJECT, tmp_path / "p", ignore=shutil.ignore_patterns("runs"))
    no_runs = ti_tui_in_process("train", "p", "--resume", "last", cwd=tmp_path)
    assert no_runs.returncode == 2 and "p has no runs yet (run: ti-tui train p)" in no_runs.stderr
    missing = ti_tui_in_process("doctor", "elsewhere", cwd=tmp_path)
    assert "(run: ti-tui new " in missing.stdout
    empty = ti_tui_in_process("new", "empty", "--model", "builtin:tiny", "--token", "", cwd=tmp_path)
    assert empty.returncode == 0
    refused = ti_tui_in_process("train", "empty", cwd=tmp_path)
    assert "training needs at least 5, 10-50 is best (run: ti-tui import empty PHOTOS)." in refused.stderr
