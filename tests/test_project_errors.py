"""A hand-broken project.toml gets one clear message naming the line and key, never a traceback."""

import pytest

from conftest import run_ti_tui
from ti_tui.project import Project, ProjectFileError, create_project


@pytest.fixture
def project_file(tmp_path):
    return create_project(tmp_path / "myface", token="wdnsdy").store.path


def break_file(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1  # the line the change is on


def open_error(path) -> ProjectFileError:
    with pytest.raises(ProjectFileError) as caught:
        Project.open(path)
    return caught.value


def test_bad_toml_syntax_names_the_line_and_column(project_file):
    line = break_file(project_file, 'init_text = "person"', 'init_text = "person')
    error = open_error(project_file)
    assert f"line {line}, column" in str(error)
    assert "not valid TOML" in str(error)
    assert 'init_text = "person' in str(error)


def test_unknown_key_is_named_with_the_closest_valid_key(project_file):
    line = break_file(project_file, "steps = 2000", "stpes = 2000")
    error = open_error(project_file)
    assert f"line {line}, unknown key training.stpes; did you mean training.steps?" in str(error)


def test_unknown_table_is_named_with_the_closest_table(project_file):
    break_file(project_file, "[training]", "[trainig]")
    assert "unknown key trainig; did you mean training?" in str(open_error(project_file))


def test_text_where_a_number_belongs(project_file):
    line = break_file(project_file, "steps = 2000", 'steps = "2000"')
    message = str(open_error(project_file))
    assert f'line {line}, training.steps = "2000": should be a whole number; remove the quotes' in message


def test_negative_step_count(project_file):
    line = break_file(project_file, "steps = 2000", "steps = -5")
    message = str(open_error(project_file))
    assert f"line {line}, training.steps = -5: should be at least 1 (optimisation steps in this run)" in message


def test_bad_schedule_item_is_named(project_file):
    break_file(project_file, '"0.005:200, 0.002:1000, 0.0005"', '"0.005:200, 0.002:10o0, 0.0005"')
    message = str(open_error(project_file))
    assert "schedule.learning_rate" in message
    assert "item 2 '0.002:10o0': the step '10o0' is not a whole number" in message


def test_a_file_from_a_newer_version_says_to_upgrade(project_file):
    break_file(project_file, "schema = 1", "schema = 7")
    assert "written by a newer ti-tui (schema 7)" in str(open_error(project_file))


def test_a_table_written_as_a_value(project_file):
    text = project_file.read_text()
    start, end = text.index("[export]"), len(text)
    project_file.write_text(text[:start].replace("schema = 1", "schema = 1\nexport = 5") + text[end:])
    assert "export should be a table: a line [export] followed by its keys" in str(open_error(project_file))


def test_every_problem_is_listed_at_once(project_file):
    break_file(project_file, "steps = 2000", "steps = 0")
    break_file(project_file, 'precision = "auto"', 'precision = "fp8"')
    message = str(open_error(project_file))
    assert "has 2 problems" in message
    assert "training.steps = 0" in message
    assert "model.precision = \"fp8\": should be 'auto', 'bf16', 'fp16' or 'fp32'" in message


def test_a_file_that_is_not_utf8(project_file):
    project_file.write_bytes(project_file.read_bytes().replace(b"person", b"p\xe9rson"))
    assert "not UTF-8 text" in str(open_error(project_file))


@pytest.mark.parametrize("command", [[], ["doctor"]])
def test_commands_print_the_message_without_a_traceback(project_file, command):
    break_file(project_file, "steps = 2000", "steps = -5")
    result = run_ti_tui(*command, str(project_file.parent))
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "training.steps = -5: should be at least 1" in output
    assert result.returncode != 0
    assert "steps = -5" in project_file.read_text()  # the user's file is left as it was
