"""A hand-broken project.toml gets one clear message naming the line and key, never a traceback."""

import pytest
from conftest import ti_tui_in_process

from ti_tui.project import Project, ProjectFileError, create_project


@pytest.fixture
def project_file(tmp_path):
    return create_project(tmp_path / "myface", token="wdnsdy", kind="face").store.path


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
    break_file(project_file, "schema = 2", "schema = 7")
    assert "written by a newer ti-tui (schema 7)" in str(open_error(project_file))


def test_a_table_written_as_a_value(project_file):
    text = project_file.read_text()
    start, end = text.index("[export]"), len(text)
    project_file.write_text(text[:start].replace("schema = 2", "schema = 2\nexport = 5") + text[end:])
    assert "export should be a table: a line [export] followed by its keys" in str(open_error(project_file))


def test_a_key_set_twice(project_file):
    text = project_file.read_text()
    project_file.write_text(text.replace("steps = 2000", "steps = 2000\nsteps = 3000"))
    line = text[: text.index("steps = 2000")].count("\n") + 2
    assert f"line {line}, column" in str(open_error(project_file))
    assert "this key is already set above; keep one of the two lines: steps = 3000" in str(open_error(project_file))


def test_dotted_and_inline_keys_are_found_by_line(project_file):
    text = project_file.read_text()
    training = text[text.index("[training]") : text.index("[schedule]")]
    project_file.write_text(text.replace(training, "").replace("schema = 2", "schema = 2\ntraining.steps = -5"))
    assert "line 5, training.steps = -5: should be at least 1" in str(open_error(project_file))
    project_file.write_text(text.replace(training, "").replace("schema = 2", "schema = 2\ntraining = {steps = -5}"))
    assert "line 5, training.steps = -5: should be at least 1" in str(open_error(project_file))


def test_a_table_where_a_value_belongs(project_file):
    project_file.write_text(project_file.read_text().replace("steps = 2000", "steps = {value = 1}"))
    message = str(open_error(project_file))
    assert "training.steps = (a table): is a table, but should be a single value" in message


def test_numbers_that_are_not_finite(project_file):
    break_file(project_file, "cfg_scale = 7.0", "cfg_scale = nan")
    assert "preview.cfg_scale = nan: should be a finite number" in str(open_error(project_file))


def test_a_schedule_that_does_not_fit_its_preset(project_file):
    line = break_file(project_file, 'preset = "piecewise"', 'preset = "cosine"')
    error = open_error(project_file)
    assert error.problems[0].fix.subject == "schedule.learning_rate"
    assert error.problems[0].line == line + 1
    assert 'preset = "cosine" takes one rate such as 0.005' in str(error)


def test_a_floor_above_the_peak(project_file):
    break_file(project_file, 'preset = "piecewise"', 'preset = "cosine"')
    break_file(project_file, '"0.005:200, 0.002:1000, 0.0005"', '"0.005"')
    break_file(project_file, "min_learning_rate = 0.0", "min_learning_rate = 0.01")
    assert "schedule.min_learning_rate = 0.01: should be below the learning rate (0.005)" in str(open_error(project_file))


def test_warmup_longer_than_the_run(project_file):
    break_file(project_file, 'preset = "piecewise"', 'preset = "warmup_cosine"')
    break_file(project_file, '"0.005:200, 0.002:1000, 0.0005"', '"0.005"')
    break_file(project_file, "warmup_steps = 100", "warmup_steps = 5000")
    assert "schedule.warmup_steps = 5000: should be less than training.steps (2000)" in str(open_error(project_file))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('trigger = "wdnsdy"', 'trigger = "../x"', 'token.trigger = "../x": should be one word'),
        ('name = ""', 'name = "a/b"', 'export.name = "a/b": should be a plain file name'),
        ('folder = "exports"', 'folder = ""', "export.folder"),
        ('template = "photo_caption"', 'template = ""', "should be one of photo, photo_caption"),
        ('template = "photo_caption"', 'template = "subject_filewords"', 'ti-tui\'s own is "photo_caption"'),
        ("seeds = [1, 2]", "seeds = [1, -2]", "preview.seeds item 2 = -2: should be at least 0"),
        ('negative_prompt = ""', 'negative_prompt = "a\\u0000b"', "contains a control character"),
    ],
)
def test_values_that_would_break_a_later_step(project_file, old, new, message):
    break_file(project_file, old, new)
    assert message in str(open_error(project_file))


def test_paths_naming_an_unknown_users_home_are_explained(project_file):
    break_file(project_file, 'images = "images"', 'images = "~nosuchuser/photos"')
    result = ti_tui_in_process("doctor", str(project_file.parent))
    assert "there is no user 'nosuchuser'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


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
    result = ti_tui_in_process(*command, str(project_file.parent))
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "training.steps = -5: should be at least 1" in output
    assert result.returncode != 0
    assert "steps = -5" in project_file.read_text()  # the user's file is left as it was
