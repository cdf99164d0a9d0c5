"""Rendering: prompt, negative prompt, seed, sampling steps, CFG scale and size, to an image and a PNG.

The text encoder is told the embeddings' vectors through a `PromptEncoder`, so any number of
triggers (a run's checkpoints, embedding files) can be tried on one loaded model without changing
it. The PNG carries its parameters in the "parameters" text chunk, in the form the popular web
UI writes, so its PNG Info (and every tool that reads that) shows how the image was made.
"""

import io
import json
from dataclasses import dataclass
from pathlib import Path

from ti_tui.fsutil import atomic_create_bytes, atomic_write_bytes

# Raised whenever the same request would give other pixels or other PNG text, so that the grid's cache of cells
# renders them anew. 2: prompts read with emphasis and in chunks; the web UI's sampler names and quoting.
RENDERING_VERSION = 2


@dataclass(frozen=True)
class RenderRequest:
    prompt: str
    seed: int
    sampling_steps: int
    cfg_scale: float
    width: int
    height: int
    negative_prompt: str = ""
    sampler: str = ""  # a name from infer.samplers; "" = the model's own scheduler


def render(pipeline, prompt_encoder, request: RenderRequest):
    """One image (PIL) for `request`, on the device the pipeline is on."""
    import torch

    with torch.no_grad():
        prompt, negative = prompt_encoder.encode_for_guidance(request.prompt, request.negative_prompt)
        return pipeline(
            prompt_embeds=prompt,
            negative_prompt_embeds=negative,
            num_inference_steps=request.sampling_steps,
            guidance_scale=request.cfg_scale,
            height=request.height,
            width=request.width,
            generator=torch.Generator().manual_seed(request.seed),
        ).images[0]


def parameters_text(request: RenderRequest, sampler: str, model: str, model_hash: str | None, extra: dict[str, object]) -> str:
    """How the image was made, as the web UI writes it: the prompt, then the settings on one line."""
    settings = {
        "Steps": request.sampling_steps,
        "Sampler": request.sampler or sampler,
        "CFG scale": f"{request.cfg_scale:g}",
        "Seed": request.seed,
        "Size": f"{request.width}x{request.height}",
        **({"Model hash": model_hash} if model_hash else {}),
        "Model": model,
        **extra,
    }
    negative = f"\nNegative prompt: {request.negative_prompt}" if request.negative_prompt else ""
    return f"{request.prompt}{negative}\n{settings_line(settings)}"


def settings_line(settings: dict[str, object]) -> str:
    """`key: value, key: value`, each value quoted where it holds what would split it, as the web UI quotes it."""
    return ", ".join(f"{key}: {quoted(value)}" for key, value in settings.items())


def quoted(value: object) -> str:
    """A value as the web UI writes it in its parameters: as is, or as a JSON string when it holds a comma,
    a colon or a line break, which its PNG Info would otherwise read as the end of the value. A quote, an
    empty value and spaces at either end are quoted too (the web UI leaves them), or they would not read back."""
    text = str(value)
    plain = text and text == text.strip() and not any(mark in text for mark in ',:"\n')
    return text if plain else json.dumps(text, ensure_ascii=False)


def save_png(image, path: Path, parameters: str) -> None:
    """Write the image with its parameters in the PNG's text, atomically."""
    atomic_write_bytes(path, png_bytes(image, parameters))


def save_new_png(image, folder: Path, stem: str, parameters: str) -> Path:
    """Write the image as a new PNG in `folder`, named `stem` (then `stem-2`, `stem-3`... while a name is taken); its path.

    Nothing already there is replaced, even by another process writing the same name at the same moment.
    """
    data = png_bytes(image, parameters)
    path, number = folder / f"{stem}.png", 1
    while True:
        try:
            atomic_create_bytes(path, data)
            return path
        except FileExistsError:
            number += 1
            path = folder / f"{stem}-{number}.png"


def png_bytes(image, parameters: str) -> bytes:
    """The image as PNG bytes, with its parameters in the PNG's text."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
