"""What a project holds: the settings the user decided, one pydantic model per TOML table.

Every field's description is the one-line comment written beside it in a new `project.toml`, and
the hint shown when its value is wrong, so there is one place to explain each key.
"""

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from ti_tui.names import FILE_STEM
from ti_tui.prompts import PROMPT_TEMPLATES, SCHEMA_1_TEMPLATES, WEB_UI_TEMPLATES
from ti_tui.schedule import ScheduleError, SchedulePreset, parse_piecewise, parse_single_rate

Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]


def _steps_or_auto(least: int) -> PlainValidator:
    """A whole number of steps from `least` up, or "auto", said in one sentence when it is neither (a union of
    the two would say why it is not each, in Pydantic's own names)."""

    def check(value):
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError('should be a whole number of steps, or "auto"')
        if value < least:
            raise ValueError(f'should be at least {least}, or "auto"')
        return value

    return PlainValidator(check)


# Steps between checkpoints, validations or previews; "auto" spreads them over the run (ti_tui/intervals.py).
Interval = Annotated[int | str, _steps_or_auto(1)]
IntervalOrNone = Annotated[int | str, _steps_or_auto(0)]
CfgScale = Annotated[float, Field(ge=0.0, le=30.0)]

CURRENT_SCHEMA = 2  # 2: the prompt templates have names of their own (schema 1 used the web UI's)
BUILTIN_TINY = "builtin:tiny"
DEFAULT_BASE_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
# The trigger names files with up to 31 bytes around it (".zorbot-1000000.state.pt.abcd1234.tmp" while
# being written); both bounds keep such names well under the 255 bytes file systems allow.
MAX_TRIGGER_CHARACTERS = 64
MAX_TRIGGER_BYTES = 128


class Section(BaseModel):
    # TOML has real numbers and booleans: "2000" in quotes is a mistake worth reporting, not coercing.
    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value):
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and re.search(r"[\x00-\x1f\x7f]", text) for text in texts):
            raise ValueError("contains a control character (such as a tab or a NUL byte); remove it")
        return value


class ModelSettings(Section):
    """The Stable Diffusion model to train on."""

    base: str = Field(
        DEFAULT_BASE_MODEL,
        description="a .safetensors/.ckpt file, a diffusers folder, a Hugging Face id, or builtin:tiny",
    )
    tokenizer: str = Field(
        "",
        description='folder with vocab.json and merges.txt; "" = the model\'s own, then the local HF cache',
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="weights of the frozen model: auto | bf16 | fp16 | fp32 (auto: bf16 where supported)"
    )
    device: str = Field("auto", description="auto | cuda | cuda:N | mps | cpu")
    prediction: Literal["auto", "epsilon", "v_prediction"] = Field(
        "auto", description="what the UNet predicts; auto reads the model (set it for SD 2.x if previews look burnt or grey)"
    )

    @field_validator("base")
    @classmethod
    def _base_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name a model file, folder, Hugging Face id or builtin:tiny")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("should be auto, cpu, mps, cuda or cuda:N (N = GPU number)")
        return value


class DatasetSettings(Section):
    """The photos to learn from."""

    images: str = Field("images", description="folder with the original images (relative to this file, or absolute)")
    recursive: bool = Field(False, description="also take images from folders inside that folder")
    exclude: list[str] = Field([], description="images left out of training, by their path inside that folder (the files stay)")
    kind: Literal["face", "subject", "style"] = Field(
        "face", description="face (a person: face checks and face-centred crops) | subject (object, pet, character) | style"
    )
    resolution: int = Field(0, description="training size in pixels, a multiple of 8; 0 = the model's own (512 for SD 1.x)")
    flip: bool = Field(False, description="also train on mirrored copies (leave off for asymmetric faces and text)")
    background: str = Field("#ffffff", description="colour that transparent parts of images are laid on")

    @field_validator("resolution")
    @classmethod
    def _resolution_multiple_of_8(cls, value: int) -> int:
        if value != 0 and not (64 <= value <= 2048 and value % 8 == 0):
            raise ValueError("should be 0 (the model's size) or a multiple of 8 from 64 to 2048, such as 512")
        return value

    @field_validator("background")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise ValueError('should be a colour written as "#rrggbb", such as "#ffffff" for white')
        return value


class TokenSettings(Section):
    """The new word the embedding teaches the model."""

    trigger: str = Field("", description="the made-up word you will type in prompts; also the export's file name")
    init_text: str = Field("person", description='words the vectors start from, close to what you train ("woman", "dog"); "" = random')
    vectors: int = Field(0, ge=0, le=75, description="vectors for the word, 1-75 (more learns more, needs more images); 0 = suggest")

    @field_validator("trigger")
    @classmethod
    def _one_word(cls, value: str) -> str:
        if value and not FILE_STEM.fullmatch(value):
            raise ValueError(
                "should be one word of letters and digits (also - . _ inside), such as zorbot: "
                "it is typed in prompts and names the exported file"
            )
        length = len(value.encode("utf-8"))
        if len(value) > MAX_TRIGGER_CHARACTERS or length > MAX_TRIGGER_BYTES:
            raise ValueError(
                f"should be at most {MAX_TRIGGER_CHARACTERS} characters and {MAX_TRIGGER_BYTES} bytes in UTF-8 (this one is "
                f"{len(value)} characters, {length} bytes): it names the run's folder and every checkpoint file "
                "(such as zorbot-1000000.state.pt), and file systems allow 255 bytes in a name"
            )
        return value


class TrainingSettings(Section):
    """How long and how to train."""

    steps: int = Field(2000, ge=1, le=1_000_000, description="optimisation steps in this run")
    batch_size: int = Field(1, ge=1, le=64, description="images per step")
    gradient_accumulation: int = Field(1, ge=1, le=64, description="steps whose gradients are added before one update")
    seed: Seed = Field(1234, description="same seed, same data and device: same result")
    template: str = Field(
        "photo_caption",
        description="prompt template: photo | photo_caption | art_style | art_style_caption | caption | path to a .txt",
    )
    captions_from_file_names: bool = Field(
        True, description='an image with no .txt caption is captioned by its file name ("01-red car.jpg": "red car")'
    )

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        if value in WEB_UI_TEMPLATES:
            raise ValueError(
                f"\"{value}\" is the web UI's name for a template whose lines differ from ti-tui's; "
                f'ti-tui\'s own is "{WEB_UI_TEMPLATES[value]}", or give the path of a .txt holding the lines you want'
            )
        if value not in PROMPT_TEMPLATES and not value.endswith(".txt"):
            raise ValueError(f"should be one of {', '.join(PROMPT_TEMPLATES)}, or the path of a .txt template file")
        return value

    shuffle_tags: bool = Field(False, description="shuffle the comma-separated tags of each caption every time it is used")
    keep_tags: int = Field(0, ge=0, description="tags at the start of a caption that shuffling leaves in place")
    tag_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="chance of leaving out each tag, 0 to below 1")
    latent_sampling: Literal["once", "deterministic", "random"] = Field(
        "deterministic", description="once | deterministic (posterior mean) | random (new sample every use)"
    )
    min_snr_gamma: float = Field(0.0, ge=0.0, description="min-SNR loss weighting gamma (5 is common); 0 = off")
    clip_grad_norm: float = Field(0.0, ge=0.0, description="clip the gradient to this norm; 0 = off")
    gradient_checkpointing: Literal["auto", "on", "off"] = Field(
        "auto", description="auto (on when the GPU is small) | on | off: trades speed for memory"
    )
    save_every: Interval = Field(
        "auto", description='steps between checkpoints (each one can be compared and exported); "auto" = about 10 a run'
    )
    validation_every: IntervalOrNone = Field(
        "auto", description='steps between fixed-noise validation losses; "auto" = about 10 a run; 0 = none'
    )
    processes: int = Field(1, ge=1, le=64, description="GPUs to train on at once (data parallel)")


class ScheduleSettings(Section):
    """The learning rate over the steps."""

    preset: SchedulePreset = Field("piecewise", description="piecewise | constant | cosine | warmup_cosine")
    learning_rate: str = Field(
        "0.005:200, 0.002:1000, 0.0005",
        description='piecewise "rate:until_step, ..., rate" (the last runs to the end); one rate for the other presets',
    )
    warmup_steps: int = Field(100, ge=0, description="warmup_cosine: steps rising linearly to the rate")
    min_learning_rate: float = Field(0.0, ge=0.0, description="cosine and warmup_cosine: the rate at the last step")


class PreviewSettings(Section):
    """Images rendered while training, at fixed seeds, so steps can be compared."""

    every: IntervalOrNone = Field("auto", description='steps between previews; "auto" = about 5 rounds a run; 0 = no previews')
    prompts: list[str] = Field(
        ["a photo of [name]", "a portrait of [name], oil painting"],
        description="prompts; [name] becomes the trigger",
    )
    compare_init: bool = Field(True, description="also render each prompt with the init text in place of the trigger")
    negative_prompt: str = Field("", description="what previews should avoid")
    seeds: list[Seed] = Field([1, 2], min_length=1, description="one image per seed and prompt")
    sampling_steps: int = Field(20, ge=1, le=200, description="denoising steps per image")
    cfg_scale: CfgScale = Field(7.0, description="how strongly images follow the prompt")


class XYSettings(Section):
    """The comparison grid: one image per cell, the same seed in every cell unless seed is an axis."""

    prompt: str = Field("a photo of [name]", description="the prompt of every cell; [name] becomes the trigger")
    negative_prompt: str = Field("", description="what the grid's images should avoid")
    x: str = Field(
        "step=suggested", description='across: AXIS=VALUES, such as "step=suggested", "step=all", "step=250,500,1000", "cfg=3-12 (+1.5)"'
    )
    y: str = Field("cfg=3,5,7,9", description='down: axes are step, cfg, model, seed, sampler, steps, prompt, strength; "" = none')
    z: str = Field("", description='one grid per value, such as "model=other.safetensors" ("" = one grid)')
    seed: Seed = Field(1, description="the seed of every cell (unless seed is an axis)")
    cfg_scale: CfgScale = Field(7.0, description="the CFG scale of every cell (unless cfg is an axis)")
    sampler: str = Field("DPM++ 2M Karras", description="Euler a | Euler | DPM++ 2M | DPM++ 2M Karras | DDIM | UniPC | ...")
    sampling_steps: int = Field(20, ge=1, le=200, description="denoising steps per cell")
    strength: float = Field(1.0, ge=0.0, le=3.0, description="embedding strength: the vectors scaled (1 = as trained)")
    size: int = Field(0, ge=0, le=2048, description="cell size in pixels, a multiple of 8; 0 = the model's own")

    @field_validator("x", "y", "z")
    @classmethod
    def _axis_spec(cls, value: str) -> str:
        from ti_tui.axes import AxisError, parse_axis

        try:
            parse_axis(value)
        except AxisError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, value: str) -> str:
        from ti_tui.samplers import SamplerError, sampler_named

        try:
            sampler_named(value)
        except SamplerError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("size")
    @classmethod
    def _size_multiple_of_8(cls, value: int) -> int:
        if value and (value < 64 or value % 8):
            raise ValueError("should be 0 (the model's size) or a multiple of 8 from 64, such as 512")
        return value


class ExportSettings(Section):
    """Where and how the chosen embedding is written for other tools."""

    folder: str = Field("exports", min_length=1, description="where exports go, e.g. your web UI's embeddings/ folder")
    formats: list[Literal["safetensors", "pt", "diffusers"]] = Field(
        ["safetensors"], min_length=1, description="safetensors (every UI) | pt (classic web UI) | diffusers"
    )
    name: str = Field("", description='file name without extension; "" = the trigger (UIs use the file name as the word)')
    run: str = Field("", description='the run of the chosen checkpoint, by its folder name; "" = the newest run')
    step: int = Field(0, ge=0, description="the chosen checkpoint's step (Compare marks it); 0 = the run's last")

    @field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        if value and not FILE_STEM.fullmatch(value):
            raise ValueError("should be a plain file name without a folder or extension, such as zorbot")
        return value


class ProjectSettings(BaseModel):
    """Everything in `project.toml`."""

    model_config = ConfigDict(strict=True, extra="forbid", validate_assignment=True, populate_by_name=True)

    # "schema" would shadow a pydantic method, hence the alias.
    schema_version: int = Field(CURRENT_SCHEMA, alias="schema", description="file format version; leave as it is")
    model: ModelSettings = ModelSettings()
    dataset: DatasetSettings = DatasetSettings()
    token: TokenSettings = TokenSettings()
    training: TrainingSettings = TrainingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    preview: PreviewSettings = PreviewSettings()
    xy: XYSettings = XYSettings()
    export: ExportSettings = ExportSettings()

    @model_validator(mode="before")
    @classmethod
    def _read_schema_1(cls, data):
        """A file of schema 1, or a run made from one, named ti-tui's templates as the web UI names its own: those
        names meant ours, and are read as the names ours have now."""
        if not isinstance(data, dict) or data.get("schema", data.get("schema_version")) != 1:
            return data
        data = {key: value for key, value in data.items() if key not in ("schema", "schema_version")} | {"schema": CURRENT_SCHEMA}
        training = data.get("training")
        if isinstance(training, dict) and training.get("template") in SCHEMA_1_TEMPLATES:
            data["training"] = {**training, "template": SCHEMA_1_TEMPLATES[training["template"]]}
        return data

    @field_validator("schema_version")
    @classmethod
    def _readable_schema(cls, value: int) -> int:
        if value > CURRENT_SCHEMA:
            raise ValueError(
                f"this file was written by a newer ti-tui (schema {value}); this one reads schema {CURRENT_SCHEMA}: upgrade ti-tui"
            )
        if value < 1:
            raise ValueError(f"should be {CURRENT_SCHEMA}")
        return value

    def to_toml_data(self) -> dict:
        """Plain values keyed as in the TOML file."""
        return self.model_dump(by_alias=True)


SECTION_MODELS: dict[str, type[Section]] = {
    name: type(field.default) for name, field in ProjectSettings.model_fields.items() if isinstance(field.default, Section)
}
SECTION_NAMES: tuple[str, ...] = tuple(SECTION_MODELS)


def consistency_problems(settings: ProjectSettings) -> list[tuple[str, str]]:
    """(key, explanation) for values that are fine alone but not together with another setting."""
    problems = []
    schedule = settings.schedule
    try:
        if schedule.preset == "piecewise":
            parse_piecewise(schedule.learning_rate)
        else:
            parse_single_rate(schedule.learning_rate)
    except ScheduleError as error:
        hint = ""
        if schedule.preset != "piecewise" and ":" in schedule.learning_rate:
            hint = f'; preset = "{schedule.preset}" takes one rate such as 0.005, rate:step items need preset = "piecewise"'
        problems.append(("schedule.learning_rate", f"{error}{hint}"))
    if schedule.preset in ("cosine", "warmup_cosine") and not problems:
        peak = parse_single_rate(schedule.learning_rate)
        if schedule.min_learning_rate > peak:
            problems.append(("schedule.min_learning_rate", f"should be below the learning rate ({peak:g}), or the rate would rise"))
    if schedule.preset == "warmup_cosine" and schedule.warmup_steps >= settings.training.steps:
        problems.append(
            ("schedule.warmup_steps", f"should be less than training.steps ({settings.training.steps}), or the rate never peaks")
        )
    return problems
