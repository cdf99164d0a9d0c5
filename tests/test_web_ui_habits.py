"""What a user brings from the web UI works the same: ranges, schedules, PNG text, emphasis and long
prompts, captions from file names, template names."""

import json
import re

import pytest
import torch

from ti_tui.axes import AxisError, parse_axis
from ti_tui.dataset.captions import file_name_words
from ti_tui.emphasis import ROUND_BRACKETS, parse_emphasis
from ti_tui.infer.grid import GridAxis, GridPlan, grid_png_bytes
from ti_tui.infer.render import RenderRequest, parameters_text, render
from ti_tui.samplers import web_ui_name
from ti_tui.schedule import LearningRateSchedule, ScheduleError, parse_piecewise
from ti_tui.sd.loading import load_model
from ti_tui.sd.placeholder import CHUNK_TOKENS, MOST_REPEATED_CHUNKS, PromptEncoder
from ti_tui.settings import ModelSettings

# Ranges -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("seed=1-10 [3]", (1, 5, 10)),
        ("seed=0-10 [4]", (0, 3, 6, 10)),
        ("steps=1-2 [5]", (1, 1, 1, 1, 2)),
        ("steps=2-3 [3]", (2, 2, 3)),
        ("step=100-1000 [4]", (100, 400, 700, 1000)),
        ("steps=1-10 [5]", (1, 3, 5, 7, 10)),
        ("cfg=1-10 [4]", (1.0, 4.0, 7.0, 10.0)),
        ("steps=1-200 (+250)", (1,)),
    ],
)
def test_ranges_give_the_values_the_web_ui_s_grid_gives(spec, values):
    assert parse_axis(spec).values == values


@pytest.mark.parametrize(
    ("spec", "values"),
    [("seed=10-1 (-3)", (10, 7, 4, 1)), ("cfg=1-2 (+0.3)", (1.0, 1.3, 1.6, 1.9)), ("seed=5-1", (5, 4, 3, 2, 1))],
)
def test_ranges_where_the_web_ui_errs_keep_their_end_and_stay_inside_it(spec, values):
    assert parse_axis(spec).values == values


def test_a_range_below_an_axis_s_limit_is_named_as_out_of_range():
    with pytest.raises(AxisError) as caught:
        parse_axis("seed=-5-5")
    assert str(caught.value) == '"-5" in "seed=-5-5" is out of range: seed takes 0 to 4294967295'
    with pytest.raises(AxisError, match=r'the increment "-1" in "cfg=10-1 \(\+-1\)" should be a positive number'):
        parse_axis("cfg=10-1 (+-1)")
    with pytest.raises(AxisError, match='the increment "1.5" in "steps=1-10 \\(\\+1.5\\)" is not a whole number'):
        parse_axis("steps=1-10 (+1.5)")


# Schedules ----------------------------------------------------------------------------------------


def test_a_schedule_written_with_minus_one_runs_its_last_rate_to_the_end():
    pieces = parse_piecewise("0.005:100, 0.001:-1")
    schedule = LearningRateSchedule("piecewise", pieces, total_steps=500)
    assert [schedule.rate_at(step) for step in (1, 100, 101, 500)] == [0.005, 0.005, 0.001, 0.001]
    assert schedule.describe() == ["0.005 for steps 1-100", "0.001 for steps 101-500"]
    with pytest.raises(ScheduleError, match="item 1 '0.005:-1': step -1 means to the end of training, so only the last rate"):
        parse_piecewise("0.005:-1, 0.001:200")


# PNG text -----------------------------------------------------------------------------------------


def read_like_png_info(text: str) -> dict[str, str]:
    """The settings line as the web UI's PNG Info reads it: `key: value` pairs split at commas, where a value
    that starts with a quote runs to its closing quote and is read as a JSON string."""
    line = text.splitlines()[-1]
    pairs = re.findall(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)', line)
    return {key: json.loads(value) if value.startswith('"') and value.endswith('"') else value for key, value in pairs}


def test_values_with_commas_colons_or_quotes_are_quoted_so_png_info_reads_them_back():
    request = RenderRequest("a photo of zorbot, v2", 7, 20, 7.0, 512, 512)
    text = parameters_text(request, "PLMS", 'tiny, v2: "test"', None, {"Embedding": "zorbot, v2", "TI hashes": "zorbot: abc123"})
    assert 'Model: "tiny, v2: \\"test\\"", Embedding: "zorbot, v2", TI hashes: "zorbot: abc123"' in text
    read = read_like_png_info(text)
    assert (read["Model"], read["Embedding"], read["TI hashes"], read["Sampler"]) == (
        'tiny, v2: "test"',
        "zorbot, v2",
        "zorbot: abc123",
        "PLMS",
    )


def test_schedulers_are_named_as_the_web_ui_names_its_samplers():
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler, PNDMScheduler

    assert web_ui_name(PNDMScheduler(skip_prk_steps=True)) == "PLMS"
    assert web_ui_name(DPMSolverMultistepScheduler(use_karras_sigmas=True)) == "DPM++ 2M Karras"
    assert web_ui_name(DPMSolverMultistepScheduler()) == "DPM++ 2M"
    assert web_ui_name(EulerDiscreteScheduler()) == "Euler"
    assert web_ui_name(DDIMScheduler()) == "DDIM"


def test_a_grid_png_carries_the_fields_of_the_web_ui_s_xyz_plot(tmp_path):
    from io import BytesIO

    from PIL import Image

    axes = {
        "x": GridAxis("x", "step", "Step", ("Step: 100", "Step: 200"), "step=all"),
        "y": GridAxis("y", "cfg", "CFG scale", ("CFG scale: 3", "CFG scale: 5"), "cfg=3-5 (+2)"),
        "z": GridAxis("z", "sampler", "Sampler", ("Sampler: Euler a", "Sampler: DDIM"), "sampler=Euler a, DDIM"),
    }
    plan = GridPlan(tmp_path, "run", axes, [], "", "fp32", "cpu")
    cell = parameters_text(RenderRequest("a photo of zorbot", 1, 20, 3.0, 64, 64), "Euler a", "tiny", None, {})
    data = grid_png_bytes(Image.new("RGB", (8, 8)), cell, plan, 0)
    read = read_like_png_info(Image.open(BytesIO(data)).text["parameters"])
    assert read["Script"] == "X/Y/Z plot"
    assert (read["X Type"], read["X Values"]) == ("Embedding step", "all")
    assert (read["Y Type"], read["Y Values"]) == ("CFG Scale", "3-5 (+2)")
    assert (read["Z Type"], read["Z Values"]) == ("Sampler", "Euler a, DDIM")
    assert read["Seed"] == "1"  # the first cell's settings come first, as in the web UI's grids


# Captions from file names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("01-red car.jpg", "red car"),
        ("2023-05-01 portrait.png", "portrait"),
        ("007_blue hat.webp", "blue hat"),
        ("0001.png", ""),
        ("IMG_1234.jpg", ""),
        ("PXL_20230501_123456.jpg", ""),
        ("WhatsApp Image 2023-05-01 at 12.00.00.jpeg", ""),
        ("IMG-20230501-WA0001.jpg", ""),
        ("_MG_1234.jpg", ""),
        ("PXL_20230501_123456789.MP.jpg", ""),
        ("IMG_1234 (1).jpg", ""),
        ("Screenshot from 2023-05-01 12-00-00.png", ""),
        ("Screenshot_20230501_Chrome.png", ""),
        ("DJI_0001.jpg", ""),
        ("GOPR0001.jpg", ""),
        ("photo of a dog.jpg", "photo of a dog"),
        ("image of the castle.png", "image of the castle"),
    ],
)
def test_a_file_name_gives_its_words_without_the_numbers_dates_and_camera_codes_it_starts_with(name, words):
    assert file_name_words(name) == words


# Emphasis -----------------------------------------------------------------------------------------


def pieces(prompt: str) -> list[tuple[str, float]]:
    return [(piece.text, round(piece.weight, 6)) for piece in parse_emphasis(prompt)]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("plain words", [("plain words", 1.0)]),
        ("a (red) car", [("a ", 1.0), ("red", 1.1), (" car", 1.0)]),
        ("a ((red)) car", [("a ", 1.0), ("red", 1.21), (" car", 1.0)]),
        ("a [red] car", [("a ", 1.0), ("red", round(1 / 1.1, 6)), (" car", 1.0)]),
        ("a (red car:1.3), blue", [("a ", 1.0), ("red car", 1.3), (", blue", 1.0)]),
        ("((red:1.5) car)", [("red", 1.65), (" car", 1.1)]),
        ("(open to the end", [("open to the end", 1.1)]),
        ("a closing) bracket alone", [("a closing) bracket alone", 1.0)]),
        ("\\(kept\\) \\[as\\] text\\\\", [("(kept) [as] text\\", 1.0)]),
        ("(red)(car)", [("redcar", 1.1)]),
        ("a (red:x) car", [("a ", 1.0), ("red:x", 1.1), (" car", 1.0)]),
        ("", [("", 1.0)]),
    ],
)
def test_emphasis_weighs_the_words_as_the_web_ui_reads_them(prompt, expected):
    assert pieces(prompt) == expected


def test_break_starts_a_chunk_except_inside_brackets():
    assert [piece.breaks_chunk for piece in parse_emphasis("red BREAK blue")] == [False, True, False]
    assert not any(piece.breaks_chunk for piece in parse_emphasis("(red BREAK blue)"))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    model = load_model(ModelSettings(base="builtin:tiny", precision="fp32"), tmp_path_factory.mktemp("tiny"))
    encoder = PromptEncoder(model.tokenizer, model.text_encoder)
    encoder.add("zorbot", torch.randn(2, model.text_width, generator=torch.Generator().manual_seed(0)))
    return model, encoder


def words(encoder, text: str) -> list[int]:
    return encoder.tokenizer(text, add_special_tokens=False).input_ids


def chunk(encoder, ids: list[int]) -> list[int]:
    """A chunk as the documented rule makes it: start, the ids, end, padding to 77."""
    tokenizer = encoder.tokenizer
    return [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (CHUNK_TOKENS - len(ids))


def reference_states(encoder, chunks: list[tuple[list[int], list[float]]]):
    """The documented rule: each chunk encoded, its states multiplied by the weights, its mean brought back."""
    states = []
    for ids, weights in chunks:
        with torch.no_grad():
            plain = encoder.text_encoder(torch.tensor([ids]))[0]
        weighted = plain * torch.tensor(weights).reshape(1, -1, 1)
        states.append(weighted * (plain.mean() / weighted.mean()))
    return torch.cat(states, dim=1)


def test_weighted_prompts_and_triggers_encode_as_the_documented_rule_says(tiny_encoder):
    _, encoder = tiny_encoder
    placeholders = encoder.triggers["zorbot"].placeholders
    head, middle, beach = words(encoder, "a photo of"), words(encoder, "on a"), words(encoder, "beach")
    ids = chunk(encoder, [*head, *placeholders, *middle, *beach])
    weights = [1.0] * (1 + len(head)) + [1.3] * len(placeholders) + [1.0] * len(middle) + [1 / ROUND_BRACKETS] * len(beach)
    weights += [1.0] * (77 - len(weights))
    with torch.no_grad():
        encoded = encoder.encode_weighted("a photo of (zorbot:1.3) on a [beach]")
    assert encoded.shape == (1, 77, encoder.text_encoder.config.hidden_size)
    torch.testing.assert_close(encoded, reference_states(encoder, [(ids, weights)]))
    with torch.no_grad():
        plain = encoder.encode_weighted("a photo of zorbot on a beach")
        torch.testing.assert_close(plain, encoder.encode(["a photo of zorbot on a beach"]))  # no emphasis: as training reads it


def test_long_prompts_are_encoded_in_chunks_of_75_tokens(tiny_encoder):
    _, encoder = tiny_encoder
    red, blue, comma = (words(encoder, word) for word in ("red", "blue", ","))
    assert len(red) == len(blue) == len(comma) == 1
    ones = [1.0] * 77

    long = encoder.chunks(" ".join(["red"] * 100))
    assert [item.ids for item in long] == [chunk(encoder, red * 75), chunk(encoder, red * 25)]
    with torch.no_grad():
        torch.testing.assert_close(
            encoder.encode_weighted(" ".join(["red"] * 100)), reference_states(encoder, [(item.ids, ones) for item in long])
        )

    assert [item.ids for item in encoder.chunks("red BREAK blue")] == [chunk(encoder, red), chunk(encoder, blue)]
    assert [item.ids for item in encoder.chunks("")] == [chunk(encoder, [])]

    # A full chunk whose last comma is near its end hands the words after the comma to the next chunk.
    comma_near_end = encoder.chunks(" ".join(["red"] * 70) + ", " + " ".join(["blue"] * 10))
    assert [item.ids for item in comma_near_end] == [chunk(encoder, red * 70 + comma), chunk(encoder, blue * 10)]
    comma_far_back = encoder.chunks(" ".join(["red"] * 30) + ", " + " ".join(["blue"] * 50))
    assert [item.ids for item in comma_far_back] == [chunk(encoder, red * 30 + comma + blue * 44), chunk(encoder, blue * 6)]

    # A trigger's vectors stay together in the next chunk rather than be split.
    placeholders = encoder.triggers["zorbot"].placeholders
    trigger_at_the_edge = encoder.chunks(" ".join(["red"] * 74) + " zorbot")
    assert [item.ids for item in trigger_at_the_edge] == [chunk(encoder, red * 74), chunk(encoder, placeholders)]


def test_a_prompt_and_negative_prompt_of_different_lengths_render_as_each_alone(tiny_encoder):
    model, encoder = tiny_encoder
    unet = model.pipeline.unet
    with torch.no_grad():
        prompt = encoder.encode_weighted(" ".join(["red"] * 100))
        negative = encoder.encode_weighted("blurry")
        long_prompt, long_negative = encoder.encode_for_guidance(" ".join(["red"] * 100), "blurry")
        assert long_prompt.shape == long_negative.shape == (1, 154, prompt.shape[-1])
        torch.testing.assert_close(long_prompt, prompt)
        latents = torch.randn(1, unet.config.in_channels, 16, 16, generator=torch.Generator().manual_seed(1))
        alone = unet(latents, 10, encoder_hidden_states=negative).sample
        repeated = unet(latents, 10, encoder_hidden_states=long_negative).sample
    torch.testing.assert_close(repeated, alone, atol=1e-5, rtol=1e-4)  # attention over keys repeated whole is unchanged

    image = render(model.pipeline, encoder, RenderRequest(" ".join(["red"] * 100) + ", (zorbot:1.2)", 1, 2, 5.0, 64, 64, "blurry"))
    assert image.size == (64, 64)


def test_lengths_whose_common_multiple_is_long_are_padded_with_the_empty_prompt(tiny_encoder):
    _, encoder = tiny_encoder
    five, seven = " ".join(["red"] * (75 * 4 + 1)), " ".join(["blue"] * (75 * 6 + 1))
    assert MOST_REPEATED_CHUNKS < 5 * 7
    with torch.no_grad():
        prompt, negative = encoder.encode_for_guidance(five, seven)
        empty = encoder.encode_weighted("")
    assert prompt.shape == negative.shape == (1, 7 * 77, empty.shape[-1])
    torch.testing.assert_close(prompt[:, 5 * 77 :], empty.repeat(1, 2, 1))
    torch.testing.assert_close(negative, encoder.encode_weighted(seven))


def test_a_tokenizer_with_a_padding_token_of_its_own_pads_after_one_end_token(tiny_encoder):
    import copy

    model, encoder = tiny_encoder
    tokenizer = copy.deepcopy(model.tokenizer)
    tokenizer.pad_token = "!"  # as SD 2.x's tokenizer pads
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    own = PromptEncoder(tokenizer, model.text_encoder)
    try:
        [chunk_ids] = [item.ids for item in own.chunks("red")]
    finally:
        own.remove()
    assert chunk_ids == [tokenizer.bos_token_id, *words(encoder, "red"), tokenizer.eos_token_id] + [tokenizer.pad_token_id] * 74


def test_a_trigger_of_more_vectors_than_a_chunk_holds_goes_on_in_the_next_chunk(tiny_encoder):
    model, _ = tiny_encoder
    own = PromptEncoder(model.tokenizer, model.text_encoder)
    try:
        placeholders = own.add("zorbotlong", torch.zeros(80, model.text_width)).placeholders
        chunks = own.chunks("zorbotlong")
        with torch.no_grad():
            states = own.encode_weighted("zorbotlong")
    finally:
        own.remove()
    tokenizer = model.tokenizer
    assert [item.ids for item in chunks] == [
        [tokenizer.bos_token_id, *placeholders[:75], tokenizer.eos_token_id],
        [tokenizer.bos_token_id, *placeholders[75:], tokenizer.eos_token_id] + [tokenizer.pad_token_id] * 70,
    ]
    assert states.shape[1] == 2 * 77


# Templates ----------------------------------------------------------------------------------------


def test_projects_and_runs_of_schema_1_read_the_template_names_ti_tui_had_then(tmp_path):
    from conftest import SAMPLE_PROJECT

    from ti_tui.project import Project
    from ti_tui.settings import ProjectSettings

    assert ProjectSettings.model_validate({"schema": 1, "training": {"template": "filewords"}}).training.template == "caption"
    assert ProjectSettings.model_validate({"schema": 1, "training": {"template": "style"}}).schema_version == 2
    with pytest.raises(ValueError, match='"style" is the web UI\'s name for a template whose lines differ'):
        ProjectSettings.model_validate({"schema": 2, "training": {"template": "style"}})

    folder = tmp_path / "old"
    folder.mkdir()
    text = (SAMPLE_PROJECT / "project.toml").read_text()
    old = text.replace("schema = 2", "schema = 1").replace('template = "photo_caption"', 'template = "subject_filewords"')
    (folder / "project.toml").write_text(old)
    project = Project.open(folder)
    assert project.settings.training.template == "photo_caption"
    project.update({"training.steps": 10})
    assert 'template = "subject_filewords"' in (folder / "project.toml").read_text(), "what was not changed is left as written"
    assert Project.open(folder).settings.training.steps == 10


# Found by a hostile test ---------------------------------------------------------------------------


def test_a_range_of_exactly_the_most_values_is_taken_and_odd_counts_are_named():
    assert len(parse_axis("steps=1-200 (+2)").values) == 100
    assert len(parse_axis("cfg=0-2.97 (+0.03)").values) == 100
    for spec in ("seed=1-5 [²]", "seed=1-5 [0]", f"seed=1-5 [{'9' * 5000}]"):
        with pytest.raises(AxisError, match=r'"\[.*\]" in "seed=1-5'):
            parse_axis(spec)


def test_a_schedule_step_too_long_for_any_run_is_refused_in_words():
    with pytest.raises(ScheduleError, match="is beyond any run"):
        parse_piecewise("0.005:" + "9" * 5000)


def test_values_empty_or_with_spaces_at_their_ends_read_back_from_png_text():
    request = RenderRequest("a photo of zorbot", 7, 20, 7.0, 512, 512)
    text = parameters_text(request, "PLMS", " v1", None, {"Embedding": "cat ", "Note": ""})
    read = read_like_png_info(text)
    assert (read["Model"], read["Embedding"], read["Note"]) == (" v1", "cat ", "")


@pytest.mark.parametrize(("name", "words"), [("picture of me.jpg", "picture of me"), ("Photo by Jo.jpg", "Photo by Jo")])
def test_a_name_that_starts_like_a_camera_s_but_says_something_keeps_its_words(name, words):
    assert file_name_words(name) == words
