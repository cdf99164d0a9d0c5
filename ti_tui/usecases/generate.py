"""Trying the word: images from a prompt with an embedding, on the project's model or any other of its family.

Used by `ti-tui generate`, and by the wizard's helper process (`usecases.generate_helper`), so that torch
never loads into the wizard.
"""

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ti_tui.embedding.files import read_embedding
from ti_tui.errors import UserError
from ti_tui.infer.render import RenderRequest
from ti_tui.paths import user_path
from ti_tui.project import Project
from ti_tui.samplers import sampler_named
from ti_tui.sd.source import classify_model_source
from ti_tui.usecases.checkpoints import chosen_checkpoint
from ti_tui.usecases.generate_helper import GenerationProgress

LARGEST_SEED = 2**32 - 1  # as in the settings and the grid's seed axis
FILE_WORD_BYTES = 64  # of a word in an image's file name, in UTF-8; the prompt gets the whole word


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str  # [name] becomes the embedding's word
    model: str = ""  # "" = the project's model
    step: int | None = None  # a checkpoint of the chosen run; None = the chosen one, else the last
    embedding: Path | None = None  # any embedding file instead of a checkpoint
    run: str | None = None
    negative_prompt: str = ""
    seed: int | None = None  # None = [xy] seed; image n gets seed + n
    cfg_scale: float | None = None
    sampling_steps: int | None = None
    sampler: str | None = None
    count: int = 1
    size: int = 0  # 0 = the model's own
    strength: float = 1.0


def tokenizer_of_the_base(project: Project) -> str:
    """A community model file carries no tokenizer, but shares its base's: the project's model has it."""
    from ti_tui.sd.loading import model_family
    from ti_tui.sd.tokenizer import find_tokenizer

    settings = project.settings.model
    if settings.tokenizer:
        return os.fspath(project.resolve(settings.tokenizer))
    source = classify_model_source(settings.base, project.root)
    location = find_tokenizer(source, None, model_family(source))
    return os.fspath(location.folder) if location else ""


def generated_dir(project: Project) -> Path:
    return project.root / "generated"


def generate_images(
    project: Project,
    request: GenerationRequest,
    on_image: Callable[[Path], None] = lambda path: None,
    on_progress: Callable[[GenerationProgress], None] = lambda progress: None,
) -> list[Path]:
    """Render `request.count` images at consecutive seeds; each PNG records how it was made. `on_progress` is
    told when the model starts loading and when each image starts, `on_image` when each is written."""
    from ti_tui.infer.generator import Generator

    settings = project.settings
    xy = settings.xy
    if request.embedding is not None:
        embedding_path = user_path(os.fspath(request.embedding), Path.cwd())
        word = read_embedding(embedding_path).embedding.trigger
    else:
        _, checkpoint = chosen_checkpoint(project, request.step, request.run)
        embedding_path, word = checkpoint.embedding, settings.token.trigger
    sampler = sampler_named(request.sampler or xy.sampler).name
    _check_numbers(request)
    seed = xy.seed if request.seed is None else request.seed
    _check_seeds(seed, request.count)
    model_settings = settings.model
    if request.model:
        source = classify_model_source(request.model, Path.cwd())
        if source.kind == "missing":
            raise UserError(f"the model {request.model} does not exist (looked for {source.path})")
        update = {"base": str(source.path or request.model), "prediction": "auto", "tokenizer": tokenizer_of_the_base(project)}
        model_settings = model_settings.model_copy(update=update)
    on_progress(GenerationProgress("loading", 0, request.count))
    generator = Generator.load(model_settings, project.root)
    generator.use_embedding(embedding_path, word, request.strength)
    side = request.size or generator.size
    folder = generated_dir(project)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name_word = file_word(word, embedding_path.stem)
    written = []
    for number in range(request.count):
        on_progress(GenerationProgress("rendering", number + 1, request.count))
        render_request = RenderRequest(
            request.prompt.replace("[name]", word),
            seed + number,
            request.sampling_steps or xy.sampling_steps,
            xy.cfg_scale if request.cfg_scale is None else request.cfg_scale,
            side,
            side,
            request.negative_prompt.replace("[name]", word),
            sampler,
        )
        path = generator.save_new(generator.render(render_request), folder, f"{stamp}-{name_word}-s{seed + number}", render_request)
        written.append(path)
        on_image(path)
    return written


def _check_numbers(request: GenerationRequest) -> None:
    checks = [
        ("count", request.count, 1 <= request.count <= 100, "1 to 100 images at a time"),
        ("seed", request.seed, request.seed is None or 0 <= request.seed <= LARGEST_SEED, f"0 to {LARGEST_SEED}"),
        ("CFG scale", request.cfg_scale, request.cfg_scale is None or 0 <= request.cfg_scale <= 30, "0 to 30"),
        ("sampling steps", request.sampling_steps, request.sampling_steps is None or 1 <= request.sampling_steps <= 200, "1 to 200"),
        (
            "size",
            request.size,
            request.size == 0 or (64 <= request.size <= 2048 and request.size % 8 == 0),
            "a multiple of 8 from 64 to 2048",
        ),
        ("strength", request.strength, 0 <= request.strength <= 3, "0 to 3"),
    ]
    for name, value, fine, expected in checks:
        if not fine:
            raise UserError(f"{name} {value} is out of range: it takes {expected}")


def _check_seeds(first: int, count: int) -> None:
    """Image n gets seed first + n - 1, and the last of them must be a seed too."""
    last = first + count - 1
    if last > LARGEST_SEED:
        raise UserError(
            f"{count} images from seed {first} would end at seed {last}, past the largest seed {LARGEST_SEED} "
            f"(each image takes the next seed): start at seed {LARGEST_SEED - count + 1} or lower, or make fewer images"
        )


def file_word(word: str, fallback: str) -> str:
    """`word` made fit for an image's file name: letters, digits, - and _ only, so that a name read from a file
    (such as a trigger of "../../x") never forms a path; `fallback` (the file's stem) when nothing of it is left."""
    for text in (word, fallback):
        # Cut by bytes, as a file system counts them, without splitting a letter.
        fitting = re.sub(r"[^\w-]+", "-", text).strip("-").encode()[:FILE_WORD_BYTES].decode(errors="ignore").rstrip("-")
        if fitting:
            return fitting
    return "embedding"
