"""Fuzzing what users and their tools hand ti-tui: the promise is one clear error or a correct result,
never an unhandled exception, and never a user's file changed.

Each target runs at least FUZZ_EXAMPLES examples (hypothesis), and a failure prints the smallest input
that breaks the promise; where the inputs are few (commands × kinds of odd path), every one is tried.
"""

import hashlib
import io
import json
import random
import shutil
import string
from pathlib import Path

import pytest
from conftest import SAMPLE_PROJECT
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ti_tui.axes import Axis, AxisError, parse_axis
from ti_tui.errors import UserError
from ti_tui.schedule import LearningRateSchedule, ScheduleError, parse_piecewise, parse_single_rate
from ti_tui.settings import CURRENT_SCHEMA

FUZZ_EXAMPLES = 200
fuzz = settings(
    max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
SAMPLE_TOML = (SAMPLE_PROJECT / "project.toml").read_text(encoding="utf-8")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# project.toml --------------------------------------------------------------------------------------

_LINES = SAMPLE_TOML.splitlines(keepends=True)
TOML_PIECES = st.sampled_from(['"', "'", "[", "]", "=", "\n", "#", '"""', "1e999", "nan", "-1", "true", "[[x]]", "\x00", "é", "\\u"])


@st.composite
def edited_project_files(draw) -> str:
    """The sample's project.toml with a few lines changed the way hands and tools change them."""
    lines = list(_LINES)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "replace-value", "insert", "garble"]))
        if action == "delete":
            del lines[index]
        elif action == "replace-value" and "=" in lines[index]:
            key = lines[index].split("=", 1)[0]
            value = draw(
                st.one_of(st.integers(-(2**70), 2**70).map(str), st.floats().map(repr), st.text(max_size=20).map(json.dumps), TOML_PIECES)
            )
            lines[index] = f"{key}= {value}\n"
        elif action == "insert":
            lines.insert(index, draw(st.text(max_size=30)) + "\n")
        else:
            lines[index] = draw(st.lists(TOML_PIECES | st.text(max_size=5), max_size=6).map("".join)) + "\n"
    return "".join(lines)


@fuzz
@given(text=st.one_of(edited_project_files(), st.text(max_size=200)))
def test_any_project_file_gives_settings_or_one_clear_error_and_is_left_as_it_was(scratch, text):
    from ti_tui.project import Project

    root = scratch / "project"
    root.mkdir(exist_ok=True)
    path = root / "project.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = digest(path)
    try:
        settings = Project.open(root).settings
    except UserError as error:
        assert str(error).strip()
    else:
        assert 1 <= settings.training.steps <= 1_000_000 and settings.schema_version == CURRENT_SCHEMA
    assert digest(path) == before


@fuzz
@given(data=st.binary(max_size=300))
def test_a_project_file_of_any_bytes_gives_one_clear_error(scratch, data):
    from ti_tui.project import Project

    root = scratch / "bytes-project"
    root.mkdir(exist_ok=True)
    path = root / "project.toml"
    path.write_bytes(data)
    try:
        settings = Project.open(root).settings
    except UserError as error:
        assert str(error).strip()
    else:
        assert settings.schema_version == CURRENT_SCHEMA
    assert path.read_bytes() == data


# Learning-rate schedules ----------------------------------------------------------------------------

SCHEDULE_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.tuples(
            st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(string.digits + ".e-", max_size=6)),
            st.integers(-5, 10**7),
        ),
        max_size=5,
    ).map(lambda pieces: ", ".join(f"{rate}:{step}" for rate, step in pieces)),
)


@fuzz
@given(text=SCHEDULE_TEXT, steps=st.integers(1, 1_000_000), preset=st.sampled_from(["piecewise", "constant", "cosine", "warmup_cosine"]))
def test_any_schedule_text_gives_a_finite_rate_at_every_step_or_one_clear_error(text, steps, preset):
    from ti_tui.settings import ScheduleSettings

    try:
        (parse_piecewise if preset == "piecewise" else parse_single_rate)(text)
    except ScheduleError as error:
        assert str(error).strip()
        return
    assume(not any(character in text for character in "\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x1b\x7f"))
    schedule = LearningRateSchedule.from_settings(ScheduleSettings(preset=preset, learning_rate=text, warmup_steps=0), steps)
    for step in {1, steps // 2 or 1, steps}:
        rate = schedule.rate_at(step)
        assert rate >= 0 and rate == rate and rate != float("inf")
    assert all(line.strip() for line in schedule.describe())


# Prompt templates and captions --------------------------------------------------------------------


@fuzz
@given(data=st.binary(max_size=200), caption=st.text(max_size=60), trigger=st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True))
def test_any_template_file_gives_prompts_naming_the_trigger_or_one_clear_error(scratch, data, caption, trigger):
    from ti_tui.prompts import TagOptions, build_prompt, load_templates

    path = scratch / "template.txt"
    path.write_bytes(data)
    try:
        templates = load_templates("template.txt", scratch)
    except UserError as error:
        assert "template" in str(error)
        return
    options = TagOptions(shuffle=True, keep=1, dropout=0.3)
    for template in templates:
        prompt = build_prompt(template, trigger, caption, options, random.Random(0))
        assert trigger in prompt.lower() or "[name]" not in template
    assert path.read_bytes() == data


@fuzz
@given(
    data=st.one_of(
        st.binary(max_size=200), st.text(max_size=120).map(lambda text: text.encode("utf-16")), st.text(max_size=120).map(str.encode)
    )
)
def test_any_caption_file_reads_as_one_line_or_one_clear_error_and_is_left_as_it_was(scratch, data):
    from ti_tui.dataset.captions import caption_problems, read_caption_file

    image = scratch / "captioned.png"
    caption = image.with_suffix(".txt")
    caption.write_bytes(data)
    try:
        text = read_caption_file(image)
    except UserError as error:
        assert caption.name in str(error)
    else:
        assert "\n" not in text
        caption_problems(text, "zorbot", "robot", "photo_caption")
    assert caption.read_bytes() == data


# Images --------------------------------------------------------------------------------------------


def _png_bytes(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (64, 48), (seed % 256, 40, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if seed % 2 else "JPEG")
    return buffer.getvalue()


@fuzz
@given(
    data=st.one_of(
        st.binary(max_size=400), st.tuples(st.integers(0, 1000), st.integers(0, 2000)).map(lambda cut: _png_bytes(cut[0])[: cut[1]])
    )
)
def test_an_image_of_random_or_cut_bytes_is_read_or_named_with_its_problem(scratch, data):
    from ti_tui.dataset.reading import ImageProblem, check_readable, open_image

    path = scratch / "photo.jpg"
    path.write_bytes(data)
    try:
        check_readable(path)
        open_image(path).close()
    except ImageProblem as problem:
        assert "photo.jpg" in str(problem)
    assert path.read_bytes() == data


# Embedding files ----------------------------------------------------------------------------------


@st.composite
def embedding_contents(draw):
    """A dict as embedding files hold, with shapes, dtypes and values that may be wrong."""
    import torch

    dtype = draw(st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool, torch.float64]))
    shape = draw(st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple))
    tensor = torch.zeros(shape, dtype=dtype)
    if tensor.is_floating_point() and tensor.numel():
        tensor.view(-1)[0] = draw(st.sampled_from([float("nan"), float("inf"), 1.0, -0.0]))
    layout = draw(st.sampled_from(["emb_params", "string_to_param", "diffusers", "sdxl", "other"]))
    if layout == "string_to_param":
        return {"string_to_param": {"*": tensor}, "name": draw(st.text(max_size=10)), "step": draw(st.integers(-1, 10))}
    if layout == "diffusers":
        return {draw(st.text(min_size=1, max_size=10)): tensor}
    if layout == "sdxl":
        return {"clip_l": tensor, "clip_g": tensor}
    return {draw(st.sampled_from(["emb_params", "weights", "lora_up"])): tensor}


@fuzz
@given(contents=embedding_contents(), suffix=st.sampled_from([".safetensors", ".pt", ".bin"]))
def test_an_embedding_file_of_any_shape_dtype_or_value_is_read_or_refused_in_one_sentence(scratch, contents, suffix):
    import torch

    from ti_tui.embedding.files import read_embedding
    from ti_tui.embedding.inspect import describe_embedding

    path = scratch / f"word{suffix}"
    try:
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file({key: value.contiguous() for key, value in contents.items() if isinstance(value, torch.Tensor)}, path)
        else:
            torch.save(contents, path)
    except (ValueError, RuntimeError, TypeError):
        assume(False)  # a content the writing library itself refuses
    before = digest(path)
    try:
        found = read_embedding(path)
    except UserError as error:
        assert path.name in str(error) and "\n" not in str(error)
    else:
        assert found.embedding.vectors.ndim == 2 and found.embedding.vectors.dtype == torch.float32
        describe_embedding(found, None)
    assert digest(path) == before


@fuzz
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".safetensors", ".pt", ".bin"]))
def test_an_embedding_file_of_random_bytes_is_refused_naming_it(scratch, data, suffix):
    from ti_tui.embedding.files import read_embedding

    path = scratch / f"random{suffix}"
    path.write_bytes(data)
    with pytest.raises(UserError, match=path.name.replace(".", r"\.")):
        read_embedding(path)
    assert path.read_bytes() == data


# A run's files -------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
RUN_KEYS = ["project", "settings", "steps", "vectors", "images", "created", "launches", "parent", "first_step", "initial_embedding", "v"]
EVENT_TYPES = [
    "started",
    "config",
    "loading",
    "caching",
    "step",
    "validation",
    "checkpoint",
    "preview",
    "warning",
    "error",
    "finished",
    "paused",
]


@fuzz
@given(
    facts=st.one_of(
        st.dictionaries(st.sampled_from(RUN_KEYS), JSON_VALUES, max_size=8).map(json.dumps),
        JSON_VALUES.map(json.dumps),
        st.text(max_size=80),
    ),
    events=st.lists(
        st.one_of(
            st.dictionaries(
                st.sampled_from(["type", "seq", "step", "total", "loss", "path", "reason", "message", "t", "v"]), JSON_VALUES, max_size=6
            )
            .map(lambda event: {"type": random.Random(len(event)).choice(EVENT_TYPES), **event})
            .map(json.dumps),
            st.text(max_size=40),
        ),
        max_size=12,
    ),
)
def test_a_run_with_any_run_json_and_event_log_is_described_or_named_as_damaged(scratch, facts, events):
    from ti_tui.runs import RunDirectory, run_status

    folder = scratch / "runs" / "20260101-000000-zorbot"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    run = RunDirectory(folder)
    run.run_file.write_text(facts, encoding="utf-8", errors="surrogatepass")
    run.events_file.write_text("\n".join(events) + "\n", encoding="utf-8", errors="surrogatepass")
    before = (digest(run.run_file), digest(run.events_file))
    try:
        status = run_status(run)
    except UserError as error:
        assert "run.json" in str(error) or "events" in str(error)
    else:
        assert status.describe().strip()
    assert (digest(run.run_file), digest(run.events_file)) == before


# XY axis specs -------------------------------------------------------------------------------------

AXIS_PIECES = st.sampled_from(
    [
        "step",
        "cfg",
        "seed",
        "model",
        "sampler",
        "steps",
        "prompt",
        "strength",
        "=",
        ",",
        "-",
        "(",
        ")",
        "+",
        "[",
        "]",
        '"',
        " ",
        "all",
        "1",
        "7.5",
        "1e9",
        "nan",
        "Euler a",
    ]
)


@fuzz
@given(spec=st.one_of(st.text(max_size=40), st.lists(AXIS_PIECES, max_size=10).map("".join)))
def test_any_axis_spec_gives_values_in_range_or_an_error_quoting_the_spec(spec):
    try:
        axis = parse_axis(spec)
    except AxisError as error:
        message = str(error)
        assert message.strip() and ('"' in message)
        return
    if axis is None:
        assert not spec.strip()
        return
    assert isinstance(axis, Axis) and 1 <= len(axis.values) <= 100
    kind = axis.kind
    for value in axis.values:
        if kind.number is not None and value not in ("all", "last"):
            assert kind.low <= value <= kind.high


# Names read from files ------------------------------------------------------------------------------

NAME_PIECES = st.sampled_from(["..", "/", "\\", ".", "~", "\x00", " ", "-", "_", "*", "\n", "é", "𝐀", "ロ", "CON", "$HOME"])
NAMES = st.one_of(
    st.text(max_size=80), st.lists(NAME_PIECES, max_size=12).map("".join), st.text("𝐀ロ", min_size=60, max_size=100)
)  # the last: long names of letters that take up to four bytes each, as file systems count


@fuzz
@given(trigger=NAMES, stem=NAMES, seed=st.integers(0, 2**32 - 1))
def test_a_name_read_from_an_embedding_names_a_file_inside_generated(scratch, trigger, stem, seed):
    """A trigger in a file's metadata (or a .pt's name) such as "../../OUTSIDE" once named a file two folders up."""
    from ti_tui.usecases.generate import file_word

    folder = scratch / "generated"
    name = f"20261206-112638-{file_word(trigger, stem)}-s{seed}.png"
    path = folder / name
    assert path.parent == folder and Path(name).name == name and "\x00" not in name
    assert len(name.encode()) <= 255, "longer than a file system takes"


@fuzz
@given(key=st.one_of(NAMES, st.text("0123456789abcdef./", min_size=20, max_size=28)))
def test_a_cell_key_read_from_a_grid_plan_names_a_file_inside_the_cells_folder_or_is_refused(scratch, key):
    from ti_tui.infer.grid import GridDirectory

    grid = GridDirectory(scratch / "grids" / "hand-edited")
    grid.path.mkdir(parents=True, exist_ok=True)
    cell = {"x": 0, "y": 0, "z": 0, "key": key, "settings": {}}
    plan = {
        "v": 1,
        "project": str(scratch),
        "run": "r",
        "axes": {},
        "tokenizer": "",
        "precision": "auto",
        "device": "auto",
        "cells": [cell],
    }
    grid.plan_file.write_text(json.dumps(plan), encoding="utf-8", errors="surrogatepass")
    try:
        cells = grid.plan().cells
    except UserError as error:
        assert "grid.json" in str(error)
        return
    for cell in cells:
        assert grid.cell_file(cell).parent == grid.cells_dir


@pytest.fixture(scope="module")
def project_with_runs(tmp_path_factory):
    """A copy of the sample project with one finished run (made up, with real checkpoints): what path commands work on."""
    from run_recording import recorded_run
    from wizard_support import copy_of_sample, write_checkpoints

    from ti_tui.project import Project

    project = Project.open(copy_of_sample(tmp_path_factory.mktemp("paths") / "project"))
    write_checkpoints(recorded_run(project, "20261206-000000", steps=4, reached=4, every=2))
    return project


@fuzz
@given(name=st.one_of(NAMES, st.sampled_from(["20261206-000000", "last", "../runs/20261206-000000", "/", "~"])))
def test_a_run_id_finds_a_run_of_the_project_or_is_refused(project_with_runs, name):
    from ti_tui.usecases.training import find_run

    try:
        run = find_run(project_with_runs, name)
    except UserError as error:
        assert str(error).strip()
        return
    assert run.path.parent == project_with_runs.runs_dir


@fuzz
@given(name=st.text(st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]), min_size=1, max_size=40))
def test_a_run_folder_of_any_name_is_listed_or_named_as_damaged(scratch, name):
    from ti_tui.runs import RunDirectory, run_status

    assume(name not in (".", "..") and len(name.encode()) <= 255)
    runs = scratch / "named-runs"
    shutil.rmtree(runs, ignore_errors=True)
    (runs / name).mkdir(parents=True)
    (runs / name / "run.json").write_text("{}")
    try:
        assert run_status(RunDirectory(runs / name)).describe().strip()
    except UserError as error:
        assert "run.json" in str(error)


# Paths given on the command line --------------------------------------------------------------------

PATH_KINDS = ["loop", "loop-on-the-way", "dangling-link", "fifo", "folder", "empty-file", "missing", "nul"]
PATH_COMMANDS = {
    "doctor": ["doctor", "{path}"],
    "new": ["new", "{path}"],
    "runs": ["runs", "{path}"],
    "check": ["check", "{path}"],
    "prepare": ["prepare", "{path}"],
    "captions": ["captions", "{path}"],
    "prompts": ["prompts", "{path}"],
    "train": ["train", "{path}"],
    "stop": ["stop", "{path}"],
    "import-into": ["import", "{path}", "{sample_images}"],
    "import-from": ["import", "{project}", "{path}"],
    "train-from": ["train", "{project}", "--from", "{path}"],
    "export-to": ["export", "{project}", "--to", "{path}"],
    "generate-model": ["generate", "{project}", "a [name]", "--model", "{path}"],
    "generate-embedding": ["generate", "{project}", "a [name]", "--embedding", "{path}"],
    "xy-model": ["xy", "{project}", "--x", "model={path}"],
    "inspect": ["inspect", "{path}"],
}


def odd_path(folder: Path, kind: str) -> Path:
    """A path of `kind` in `folder`, as a user might hand one by mistake."""
    import os

    path = folder / kind
    if kind == "loop":
        path.symlink_to(path.name)
    elif kind == "loop-on-the-way":
        return odd_path(folder, "loop") / "inside"
    elif kind == "dangling-link":
        path.symlink_to(folder / "gone")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "empty-file":
        path.write_bytes(b"")
    elif kind == "nul":
        return folder / "with\x00nul"
    return path


@pytest.mark.parametrize("kind", PATH_KINDS)
@pytest.mark.parametrize("command", list(PATH_COMMANDS))
def test_every_command_given_an_odd_path_ends_with_a_message_not_a_traceback(project_with_runs, scratch, command, kind):
    """Symbolic-link loops (at the path or on the way), dangling links, FIFOs, folders and empty files where a path
    is taken: every command with every kind, which are fewer than the examples a random draw needs to meet each pair."""
    import contextlib
    import io
    import tempfile

    from ti_tui.cli import main

    folder = Path(tempfile.mkdtemp(dir=scratch))
    path = odd_path(folder, kind)
    arguments = [
        argument.format(path=path, project=project_with_runs.root, sample_images=SAMPLE_PROJECT / "images" / "01-hill.jpg")
        for argument in PATH_COMMANDS[command]
    ]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(arguments)  # an exception here is a traceback the user would see
    said = out.getvalue() + err.getvalue()
    assert status in (0, 1, 2), said
    assert status == 0 or said.strip(), "failed without a word"
    assert "Traceback" not in said
    if kind.startswith("loop") and status != 0:
        assert f"{folder / 'loop'}" in said and "symbolic-link loop" in said, said
