"""Which kind of Stable Diffusion a checkpoint is, told from its tensor names and shapes alone.

Works on a name -> shape table, so a `.safetensors` file is classified from its header without
reading (or importing torch for) the weights.
"""

import json
import re
import struct
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from ti_tui.errors import UserError

UNET = "model.diffusion_model."
VAE = "first_stage_model."
SD1_TEXT_ENCODER = "cond_stage_model.transformer."
SD2_TEXT_ENCODER = "cond_stage_model.model."
TEXT_ENCODER = "cond_stage_model."  # of either family
SD1_TOKEN_TABLE_KEYS = (
    SD1_TEXT_ENCODER + "text_model.embeddings.token_embedding.weight",
    # Some checkpoints were saved from a CLIP model without the "text_model" level.
    SD1_TEXT_ENCODER + "embeddings.token_embedding.weight",
)
SD2_TOKEN_TABLE_KEY = SD2_TEXT_ENCODER + "token_embedding.weight"
_CROSS_ATTENTION_KEY = re.compile(r"model\.diffusion_model\..*\.attn2\.to_k\.weight")
_HEADER_LIMIT = 100 * 2**20  # real headers are a few MB; a bigger length means a damaged file

FamilyName = Literal["sd1", "sd2", "sdxl"]
Prediction = Literal["epsilon", "v_prediction"]

_LABELS = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
# Width of the text encoder's token vectors, and so of every embedding trained on the family.
TEXT_WIDTHS = {"sd1": 768, "sd2": 1024}


@dataclass(frozen=True)
class ModelFamily:
    name: FamilyName
    inpainting: bool = False
    prediction: Prediction | None = None  # None: not known from the file alone

    @property
    def label(self) -> str:
        words = [_LABELS[self.name]]
        if self.inpainting:
            words.append("inpainting")
        if self.prediction == "v_prediction":
            words.append("(v-prediction)")
        return " ".join(words)

    @property
    def text_width(self) -> int | None:
        return TEXT_WIDTHS.get(self.name)


def label_for_width(width: int) -> str:
    """The family an embedding of this width belongs to, in words."""
    names = {text_width: name for name, text_width in TEXT_WIDTHS.items()}
    return _LABELS[names[width]] if width in names else f"unknown (width {width})"


@cache
def family_config(name: FamilyName) -> dict:
    """The shipped description of a family: diffusers config templates and where its tokenizer lives."""
    text = resources.files("ti_tui.sd").joinpath("configs", f"{name}.json").read_text(encoding="utf-8")
    config = json.loads(text)
    config.pop("_comment", None)
    return config


class NotTrainableError(UserError):
    """A model ti-tui recognises but cannot train an embedding for."""


def family_from_shapes(shapes: dict[str, tuple[int, ...]], what: str) -> ModelFamily:
    """Classify an original-layout checkpoint; `what` names it in errors ("model.safetensors")."""
    if any(key.startswith("conditioner.embedders.") for key in shapes):
        raise NotTrainableError(f"{what} is an SDXL model. ti-tui trains embeddings for SD 1.x and 2.x models; SDXL is not trainable yet.")
    conv_in = shapes.get(UNET + "input_blocks.0.0.weight")
    if conv_in is None:
        raise UserError(f"{what} is {_describe_other_file(shapes)}, not a Stable Diffusion model checkpoint")
    context_width = next((shape[1] for key, shape in shapes.items() if _CROSS_ATTENTION_KEY.fullmatch(key)), None)
    inpainting = conv_in[1] == 9
    if conv_in[1] not in (4, 9):
        raise NotTrainableError(
            f"{what} has a UNet with {conv_in[1]} input channels (an image-editing or upscaling model); "
            "ti-tui trains embeddings for text-to-image SD 1.x/2.x models"
        )
    if not any(key.startswith(VAE) for key in shapes):
        raise UserError(f"{what} holds a UNet but no VAE ({VAE}*): use the full checkpoint, not a UNet-only file")
    if context_width == 768 and any(key in shapes for key in SD1_TOKEN_TABLE_KEYS):
        return ModelFamily("sd1", inpainting)
    if context_width == 1024 and SD2_TOKEN_TABLE_KEY in shapes:
        return ModelFamily("sd2", inpainting)
    raise UserError(
        f"{what} looks like a Stable Diffusion UNet, but its text encoder (context width {context_width}) "
        "is neither SD 1.x's CLIP nor SD 2.x's OpenCLIP, or is missing from the file"
    )


def family_of_diffusers_folder(folder: Path) -> ModelFamily:
    """Classify a diffusers pipeline folder from its config files."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{folder} is not a complete diffusers model folder ({error})") from None
    if "XL" in index.get("_class_name", ""):
        raise NotTrainableError(
            f"{folder} is an SDXL model. ti-tui trains embeddings for SD 1.x and 2.x models; SDXL is not trainable yet."
        )
    width = unet.get("cross_attention_dim")
    names = {768: "sd1", 1024: "sd2"}
    if width not in names:
        raise UserError(f"{folder} has a UNet with context width {width}, which is neither SD 1.x (768) nor SD 2.x (1024)")
    return ModelFamily(names[width], unet.get("in_channels", 4) == 9, scheduler.get("prediction_type", "epsilon"))


def _describe_other_file(shapes: dict[str, tuple[int, ...]]) -> str:
    keys = list(shapes)
    if any("lora_" in key or ".lora_down." in key or ".lora_A." in key for key in keys):
        return "a LoRA"
    if any(key in ("emb_params", "string_to_param", "clip_l", "clip_g") for key in keys) or len(keys) == 1:
        return "an embedding"
    if any(key.startswith(("encoder.", "decoder.", "first_stage_model.")) for key in keys) and not any(
        key.startswith(UNET) for key in keys
    ):
        return "a VAE"
    if any(key.startswith(("down_blocks.", "up_blocks.", "mid_block.")) for key in keys):
        return "a model part in diffusers layout (use its whole diffusers folder instead)"
    return "something else"


@dataclass(frozen=True)
class StoredTensor:
    """Where one tensor lies in a `.safetensors` file: its dtype as the format spells it, shape and bytes."""

    dtype: str  # "F32", "F16", "BF16", "I64", ...
    shape: tuple[int, ...]
    begin: int  # offsets into the data, which starts at SafetensorsLayout.data_start
    end: int


@dataclass(frozen=True)
class SafetensorsLayout:
    data_start: int
    tensors: dict[str, StoredTensor]
    metadata: dict[str, str]


def read_safetensors_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and the metadata of a `.safetensors` file, read from its header only."""
    layout = read_safetensors_layout(path)
    return {key: tensor.shape for key, tensor in layout.tensors.items()}, layout.metadata


def read_safetensors_layout(path: Path) -> SafetensorsLayout:
    """Every tensor's place in a `.safetensors` file, from its header, checked against the file's size."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise UserError(f"{path} is empty or cut short: it is not a complete safetensors file")
            (length,) = struct.unpack("<Q", prefix)
            size = path.stat().st_size
            if length > min(_HEADER_LIMIT, size - 8):
                raise UserError(f"{path} is not a safetensors file, or is damaged (its header is unreadable)")
            header = json.loads(handle.read(length))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is not a safetensors file, or is damaged (its header is unreadable)") from None
    except OSError as error:
        raise UserError(f"{path} cannot be read: {error.strerror}") from None
    if not isinstance(header, dict):
        raise UserError(f"{path} is not a safetensors file, or is damaged (its header is unreadable)")
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for key, entry in header.items():
        try:
            begin, end = entry["data_offsets"]
            tensors[key] = StoredTensor(str(entry["dtype"]), tuple(entry["shape"]), int(begin), int(end))
        except (TypeError, KeyError, IndexError, ValueError):
            raise UserError(f"{path} is damaged: the entry for {key!r} in its header is malformed") from None
    end = max((tensor.end for tensor in tensors.values()), default=0)
    if 8 + length + end > size:
        raise UserError(
            f"{path} is incomplete: its header promises {8 + length + end} bytes but the file has {size} "
            "(an interrupted download or copy?); fetch it again"
        )
    return SafetensorsLayout(8 + length, tensors, metadata)
