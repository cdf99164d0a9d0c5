"""A loaded model that renders prompts with any embedding: the vectors are swapped, the model is not reloaded.

Used by `ti-tui generate` and by the grid renderer; imports torch and diffusers, so front ends
reach it only through those processes.
"""

from dataclasses import dataclass
from pathlib import Path

from ti_tui.embedding.files import EmbeddingFile, check_fits, read_embedding
from ti_tui.fsutil import file_sha256
from ti_tui.infer.render import RenderRequest, parameters_text, render, save_new_png, save_png
from ti_tui.samplers import sampler_named, web_ui_name
from ti_tui.sd.loading import LoadedModel, load_model
from ti_tui.sd.placeholder import PromptEncoder
from ti_tui.settings import ModelSettings

TI_HASH_DIGITS = 12  # the web UI names an embedding's file by this much of its SHA-256 in "TI hashes"


@dataclass(frozen=True)
class EmbeddingInUse:
    path: Path
    word: str  # what prompts call it
    label: str  # what the PNG's parameters call it, such as "zorbot-500"
    short_hash: str
    strength: float


class Generator:
    def __init__(self, model: LoadedModel):
        self.model = model
        self.prompt_encoder = PromptEncoder(model.tokenizer, model.text_encoder)
        self.own_scheduler = model.pipeline.scheduler
        self.embedding: EmbeddingInUse | None = None

    @classmethod
    def load(cls, settings: ModelSettings, base_dir: Path) -> "Generator":
        return cls(load_model(settings, base_dir))

    @property
    def size(self) -> int:
        """The model's own image size: 512 for SD 1.x, 768 for SD 2.x's velocity models."""
        pipeline = self.model.pipeline
        return pipeline.unet.config.sample_size * pipeline.vae_scale_factor

    def use_embedding(self, path: Path, word: str, strength: float = 1.0) -> EmbeddingFile:
        """Prompts that name `word` get the vectors in `path`, scaled by `strength`; the previous ones are dropped."""
        embedding_file = read_embedding(path)
        check_fits(embedding_file, self.model.family.label, self.model.text_width)
        if self.embedding is not None:
            self.prompt_encoder.triggers.pop(self.embedding.word, None)
        self.prompt_encoder.add(word, embedding_file.embedding.vectors.to(self.model.text_encoder.device), strength)
        self.embedding = EmbeddingInUse(Path(path), word, Path(path).stem, file_sha256(path)[:TI_HASH_DIGITS], strength)
        return embedding_file

    def render(self, request: RenderRequest):
        pipeline = self.model.pipeline
        pipeline.scheduler = sampler_named(request.sampler).build(self.own_scheduler.config) if request.sampler else self.own_scheduler
        return render(pipeline, self.prompt_encoder, request)

    def save(self, image, path: Path, request: RenderRequest, extra: dict | None = None) -> None:
        """The image as a PNG whose parameters the web UI's PNG Info reads."""
        save_png(image, path, self.parameters(request, extra))

    def save_new(self, image, folder: Path, stem: str, request: RenderRequest) -> Path:
        """The image as a new PNG in `folder` named after `stem`, replacing nothing; its path."""
        return save_new_png(image, folder, stem, self.parameters(request))

    def parameters(self, request: RenderRequest, extra: dict | None = None) -> str:
        """How the image was made, as the web UI's PNG Info reads it."""
        model = self.model
        details = dict(extra or {})
        if self.embedding is not None:
            details["Embedding"] = self.embedding.label
            if self.embedding.strength != 1:
                details["Embedding strength"] = f"{self.embedding.strength:g}"
            details["TI hashes"] = f"{self.embedding.word}: {self.embedding.short_hash}"
        return parameters_text(request, web_ui_name(self.own_scheduler), model.name, model.short_hash, details)
