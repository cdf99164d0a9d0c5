"""Embedding files: writing the layouts every popular UI reads, and reading all of them back.

Written layouts (each checked against how the web UI, ComfyUI, diffusers and InvokeAI load them):
- `.safetensors`: one float32 tensor `emb_params` `[vectors, width]`, facts in the header metadata.
- `.pt`: the classic web UI dict (`string_to_token`, `string_to_param`, `name`, `step`,
  `sd_checkpoint`, `sd_checkpoint_name`), pickled in PyTorch's older single-stream format, whose
  entries the web UI's safe loader accepts (its zip check rejects the ones newer PyTorch adds).
- `.bin`: diffusers' `{token: tensor}`; a single vector is stored 1-D, the one shape InvokeAI reads.
Reading also accepts SDXL files (`clip_l` + `clip_g`), which are reported as such.
"""

import errno
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ti_tui import __version__
from ti_tui.errors import UserError
from ti_tui.fsutil import atomic_write_bytes
from ti_tui.paths import broken_link_problem
from ti_tui.sd.family import label_for_width, read_safetensors_header
from ti_tui.torch_files import load_plain_torch_file

EmbeddingFormat = Literal["safetensors", "pt", "diffusers"]
FILE_SUFFIXES: dict[str, str] = {"safetensors": ".safetensors", "pt": ".pt", "diffusers": ".bin"}
PICKLE_SUFFIXES = (".pt", ".bin", ".ckpt", ".pth")
# The token the classic web UI format names its single vector by (the id of "*" in CLIP's vocabulary).
CLASSIC_PLACEHOLDER, CLASSIC_PLACEHOLDER_ID = "*", 265


@dataclass
class Embedding:
    """Trained vectors and the facts that travel with them."""

    vectors: object  # torch.Tensor, float32 [vectors, width]; for SDXL the clip_l part
    trigger: str
    step: int | None = None
    init_text: str = ""
    base_model: str = ""
    base_model_hash: str = ""
    sdxl_clip_g: object = None  # torch.Tensor [vectors, 1280] for SDXL files, else None
    extra: dict[str, str] = field(default_factory=dict)  # metadata written by other tools

    @property
    def vector_count(self) -> int:
        return self.vectors.shape[0]

    @property
    def width(self) -> int:
        return self.vectors.shape[1]

    @property
    def family_label(self) -> str:
        return "SDXL" if self.sdxl_clip_g is not None else label_for_width(self.width)

    @property
    def is_finite(self) -> bool:
        parts = [self.vectors] if self.sdxl_clip_g is None else [self.vectors, self.sdxl_clip_g]
        return all(bool(part.isfinite().all()) for part in parts)


@dataclass
class EmbeddingFile:
    path: Path
    layout: Literal["safetensors", "pt", "diffusers", "sdxl"]
    embedding: Embedding
    keys: list[str]  # the top-level keys, for reports
    raw_ndim: int  # 1 or 2: how the file stores the vectors (readers differ on 1-D)


def write_embedding(embedding: Embedding, path: Path, layout: EmbeddingFormat) -> None:
    """Write one file atomically, in `layout`; the tensor leaves as CPU float32 without grad."""
    import torch

    vectors = embedding.vectors.detach().to("cpu", torch.float32).contiguous().clone()
    if layout == "safetensors":
        from safetensors.torch import save

        data = save({"emb_params": vectors}, metadata=_metadata(embedding))
    elif layout == "pt":
        data = _legacy_torch_bytes(
            {
                "string_to_token": {CLASSIC_PLACEHOLDER: CLASSIC_PLACEHOLDER_ID},
                "string_to_param": {CLASSIC_PLACEHOLDER: vectors},
                "name": embedding.trigger,
                "step": embedding.step or 0,
                "sd_checkpoint": embedding.base_model_hash or None,
                "sd_checkpoint_name": embedding.base_model or None,
            }
        )
    elif layout == "diffusers":
        data = _legacy_torch_bytes({embedding.trigger: vectors[0] if len(vectors) == 1 else vectors})
    else:
        raise ValueError(f"unknown embedding layout {layout!r}")
    atomic_write_bytes(Path(path), data)


def export_embedding(
    embedding: Embedding, folder: Path, layouts: list[EmbeddingFormat], name: str = "", overwrite: bool = False
) -> list[Path]:
    """Write the embedding in each layout into `folder`, named after the trigger (UIs take the name as the word); the files written.

    A file there already that holds this very embedding in its layout is kept as it is, so an export cut
    short (a full disk) completes when run again; anything else there is replaced only with `overwrite`.
    """
    stem = name or embedding.trigger
    files = [(Path(folder) / f"{stem}{FILE_SUFFIXES[layout]}", layout) for layout in layouts]
    kept = [path for path, layout in files if holds_embedding(path, embedding, layout)]
    wanted = [(path, layout) for path, layout in files if path not in kept]
    existing = [path for path, _ in wanted if os.path.lexists(path)]
    if existing and not overwrite:
        raise UserError(f"{', '.join(map(str, existing))} already exist(s); nothing was written. Choose another name, or ask to overwrite.")
    written: list[Path] = []
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for path, layout in wanted:
            write_embedding(embedding, path, layout)
            written.append(path)
    except OSError as error:
        unwritten = [path for path, _ in wanted if path not in written]
        raise UserError(_not_written_message(error, Path(folder), unwritten, kept + written)) from None
    return written


def holds_embedding(path: Path, embedding: Embedding, layout: EmbeddingFormat) -> bool:
    """Whether the file at `path` is `embedding` in `layout`: the same word and the same vectors."""
    import torch

    if not Path(path).is_file():
        return False
    try:
        found = read_embedding(path)
    except UserError:
        return False
    vectors = embedding.vectors.detach().to("cpu", torch.float32)
    return (
        found.layout == layout
        and found.embedding.trigger == embedding.trigger
        and found.embedding.vectors.shape == vectors.shape
        and torch.equal(found.embedding.vectors, vectors)
    )


def _not_written_message(error: OSError, folder: Path, unwritten: list[Path], done: list[Path]) -> str:
    """What stopped an export, which of its files are in place and which are not, and what to do, in one sentence."""
    reasons = {
        errno.ENOSPC: ("the disk is full", "free some space, then export again"),
        errno.EDQUOT: ("the disk quota is used up", "free some space, then export again"),
        errno.EROFS: (f"{folder} is on a read-only file system", "export into another folder"),
        errno.EACCES: (f"there is no permission to write into {folder}", "export into another folder, or allow writing there"),
        errno.EPERM: (f"there is no permission to write into {folder}", "export into another folder, or allow writing there"),
    }
    cause, remedy = reasons.get(error.errno, (error.strerror or str(error), "mend that, then export again"))
    if error.errno == errno.ENOENT and unwritten and unwritten[0].is_symlink():
        link = unwritten[0]
        cause, remedy = (
            f"{link} is a symbolic link to {os.readlink(link)}, in a folder that does not exist",
            "make that folder, or remove the link",
        )
    message = f"{cause}, so {_listed(unwritten)} {'was' if len(unwritten) == 1 else 'were'} not written"
    if done:
        message += f"; {_listed(done)} {'was' if len(done) == 1 else 'were'} written whole"
    again = ", which keeps the files already written and adds the rest" if done and remedy.endswith("export again") else ""
    return f"{message}: {remedy}{again}"


def _listed(paths: list[Path]) -> str:
    names = [str(path) for path in paths]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _metadata(embedding: Embedding) -> dict[str, str]:
    facts = {
        "trigger": embedding.trigger,
        "step": "" if embedding.step is None else str(embedding.step),
        "vectors": str(embedding.vector_count),
        "init_text": embedding.init_text,
        "base_model": embedding.base_model,
        "base_model_hash": embedding.base_model_hash,
        "tool": f"ti-tui {__version__}",
    }
    return {key: value for key, value in facts.items() if value}


def _legacy_torch_bytes(content: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(content, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def read_embedding(path: Path) -> EmbeddingFile:
    """Read any embedding layout; every problem is one sentence naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(broken_link_problem(path) or (f"{path} does not exist" if not path.exists() else f"{path} is not a file"))
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        content, metadata = _read_safetensors(path)
    elif suffix in PICKLE_SUFFIXES:
        content, metadata = load_plain_torch_file(path, "an embedding"), {}
    else:
        raise UserError(f"{path} is not an embedding file: ti-tui reads .safetensors, .pt and .bin embeddings")
    return _interpret(path, content, metadata)


def _read_safetensors(path: Path) -> tuple[dict, dict[str, str]]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _, metadata = read_safetensors_header(path)
    try:
        return load_file(path), metadata
    except (SafetensorError, OSError) as error:
        raise UserError(f"{path} is damaged: its tensors cannot be read ({error})") from None


def _interpret(path: Path, content, metadata: dict[str, str]) -> EmbeddingFile:
    import torch

    if not isinstance(content, dict):
        raise UserError(f"{path} holds a bare {type(content).__name__}, not an embedding (a dict of tensors)")
    keys = [str(key) for key in content]
    if "string_to_param" in content:
        parameters = content["string_to_param"]
        if hasattr(parameters, "items") and not isinstance(parameters, dict):
            parameters = dict(parameters.items())  # a ParameterDict, from the original textual-inversion code
        if not isinstance(parameters, dict):
            raise UserError(f"{path} has a string_to_param entry that is not a dict of tensors, so it is damaged")
        if len(parameters) != 1:
            raise UserError(f"{path} holds {len(parameters)} words in string_to_param; ti-tui reads files with exactly one")
        tensor = next(iter(parameters.values()))
        embedding = Embedding(
            _as_matrix(path, tensor),
            trigger=str(content.get("name") or path.stem),
            step=content.get("step") if isinstance(content.get("step"), int) else None,
            base_model=str(content.get("sd_checkpoint_name") or ""),
            base_model_hash=str(content.get("sd_checkpoint") or ""),
        )
        return EmbeddingFile(path, "pt", embedding, keys, tensor.ndim)
    if "clip_l" in content and "clip_g" in content:
        embedding = Embedding(
            _as_matrix(path, content["clip_l"]),
            trigger=path.stem,
            sdxl_clip_g=_as_matrix(path, content["clip_g"]),
            extra=metadata,
        )
        return EmbeddingFile(path, "sdxl", embedding, keys, content["clip_l"].ndim)
    if "emb_params" in content:
        step = metadata.get("step", "")
        embedding = Embedding(
            _as_matrix(path, content["emb_params"]),
            trigger=metadata.get("trigger") or path.stem,
            step=int(step) if step.isdigit() else None,
            init_text=metadata.get("init_text", ""),
            base_model=metadata.get("base_model", ""),
            base_model_hash=metadata.get("base_model_hash", ""),
            extra={key: value for key, value in metadata.items() if key not in _OWN_METADATA},
        )
        return EmbeddingFile(path, "safetensors", embedding, keys, content["emb_params"].ndim)
    if any("lora" in key.lower() for key in keys):
        raise UserError(f"{path} is a LoRA, not an embedding: load it as a LoRA in your UI")
    if any(key.startswith(("model.diffusion_model.", "first_stage_model.", "cond_stage_model.")) for key in keys):
        raise UserError(f"{path} is a Stable Diffusion model checkpoint, not an embedding")
    if len(content) == 1 and isinstance(next(iter(content.values())), torch.Tensor):
        token, vectors = next(iter(content.items()))
        return EmbeddingFile(path, "diffusers", Embedding(_as_matrix(path, vectors), trigger=str(token)), keys, vectors.ndim)
    shown = ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else "")
    raise UserError(f"{path} is not an embedding ti-tui recognises: its keys are {shown}")


_OWN_METADATA = ("trigger", "step", "vectors", "init_text", "base_model", "base_model_hash")


def _as_matrix(path: Path, tensor):
    import torch

    if not isinstance(tensor, torch.Tensor) or tensor.ndim not in (1, 2) or tensor.numel() == 0:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise UserError(f"{path} holds {shape} where an embedding has a [vectors, width] tensor")
    if not tensor.is_floating_point():
        raise UserError(
            f"{path} holds a {list(tensor.shape)} tensor of {str(tensor.dtype).removeprefix('torch.')}, which is not a float type: "
            "an embedding's vectors are floating-point numbers (float32, float16 or bfloat16); this file is not an embedding, or it is damaged"
        )
    matrix = tensor.reshape(1, -1) if tensor.ndim == 1 else tensor
    return matrix.detach().to(torch.float32).contiguous()


def check_fits(embedding_file: EmbeddingFile, model_label: str, model_width: int) -> None:
    """Refuse, in one sentence, an embedding made for another model family."""
    embedding = embedding_file.embedding
    if embedding.sdxl_clip_g is not None:
        raise UserError(f"{embedding_file.path.name} is an SDXL embedding (clip_l + clip_g); it cannot be used with an {model_label} model")
    if embedding.width != model_width:
        raise UserError(
            f"{embedding_file.path.name} has vectors of width {embedding.width} ({embedding.family_label}), but this "
            f"{model_label} model needs width {model_width}: it was trained for another model family"
        )
