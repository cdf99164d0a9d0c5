"""`ti-tui inspect`: what an embedding file holds, and which tools will load it, in words.

The verdicts follow how each tool's loader reads files: the web UI (AUTOMATIC1111 and its forks)
takes the file name as the word and loads pickles through a restricted safe loader; ComfyUI takes
the first tensor it finds; diffusers needs the classic dict's `name`; InvokeAI's importer needs
`string_to_token` in classic files, and 1-D tensors in `{token: tensor}` files.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ti_tui.embedding.files import EmbeddingFile, check_fits
from ti_tui.errors import UserError

# Entries the web UI's safe loader allows inside a zip-format .pt; newer PyTorch adds others.
_WEB_UI_SAFE_ZIP_ENTRIES = ("data.pkl", "version", "byteorder", ".data/serialization_id")
TOOLS = ("web UI", "ComfyUI", "diffusers", "InvokeAI")
PROMPT_TOKENS = 75  # what one prompt chunk holds; every vector takes one
NORMS_LISTED = 8


@dataclass(frozen=True)
class ToolVerdict:
    tool: str
    loads: bool
    how: str  # how to use it there, or why it will not load


@dataclass(frozen=True)
class ModelYardstick:
    """The model an embedding is checked against: its family and its typical token length."""

    label: str
    width: int
    typical_norm: float
    name: str


def tool_verdicts(embedding_file: EmbeddingFile) -> list[ToolVerdict]:
    embedding = embedding_file.embedding
    stem = embedding_file.path.stem
    if not embedding.is_finite:
        return [ToolVerdict(tool, False, "no: the vectors hold NaN or infinite values") for tool in TOOLS]
    if embedding.sdxl_clip_g is not None:
        return [ToolVerdict(tool, True, "only with SDXL models (this is an SDXL embedding)") for tool in TOOLS]
    if embedding.width not in (768, 1024):
        return [ToolVerdict(tool, False, f"no: width {embedding.width} fits no SD 1.x/2.x model") for tool in TOOLS]
    keys = embedding_file.keys
    web_ui = ToolVerdict("web UI", True, f"type {stem} in prompts")
    comfy = ToolVerdict("ComfyUI", True, f"type embedding:{stem} in prompts")
    diffusers = ToolVerdict("diffusers", True, f'pipe.load_textual_inversion(path, token="{embedding.trigger}")')
    invoke = ToolVerdict("InvokeAI", True, f"type <{stem}> in prompts")
    if embedding_file.layout == "pt":
        unsafe = _web_ui_rejected_entries(embedding_file.path)
        if unsafe:
            web_ui = ToolVerdict("web UI", False, f"no: its safe loader rejects entries {', '.join(unsafe)} that newer PyTorch writes")
        if "name" not in keys:
            diffusers = ToolVerdict("diffusers", False, "no: the classic dict lacks the 'name' key diffusers reads")
        if "string_to_token" not in keys:
            invoke = ToolVerdict("InvokeAI", False, "no: its importer needs the 'string_to_token' key")
    if embedding_file.layout == "safetensors" and len(keys) > 1:
        # Beside emb_params there are other tensors: only InvokeAI looks for emb_params by name.
        web_ui = ToolVerdict("web UI", False, "no: it reads such a file only when emb_params is its only tensor")
        comfy = ToolVerdict("ComfyUI", False, "no: it takes the first tensor in the file, which may not be emb_params")
        diffusers = ToolVerdict("diffusers", False, "no: it needs the file to hold a single tensor")
    if embedding_file.layout in ("safetensors", "pt") and embedding_file.raw_ndim == 1:
        invoke = ToolVerdict("InvokeAI", False, "no: it needs a [vectors, width] tensor in this layout, not a 1-D one")
    if embedding_file.layout == "diffusers" and embedding_file.raw_ndim == 2:
        invoke = ToolVerdict("InvokeAI", False, "no: in this layout it reads only single-vector files; use the .safetensors export")
    return [web_ui, comfy, diffusers, invoke]


def _web_ui_rejected_entries(path: Path) -> list[str]:
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        names = [name.split("/", 1)[1] if "/" in name else name for name in archive.namelist()]
    return sorted(
        {name for name in names if name not in _WEB_UI_SAFE_ZIP_ENTRIES and not (name.startswith("data/") and name[5:].isdigit())}
    )


def _numbers(values: list[int]) -> str:
    return ", ".join(map(str, values[:NORMS_LISTED])) + (f" and {len(values) - NORMS_LISTED} more" if len(values) > NORMS_LISTED else "")


def describe_embedding(embedding_file: EmbeddingFile, model: ModelYardstick | None = None) -> list[tuple[str, str]]:
    """(label, value) lines for a report."""
    embedding = embedding_file.embedding
    stem = embedding_file.path.stem
    layouts = {
        "safetensors": "safetensors, one tensor emb_params (the layout every UI reads)",
        "pt": "classic web UI .pt (string_to_param)",
        "diffusers": "diffusers {token: tensor}",
        "sdxl": "SDXL (clip_l + clip_g)",
    }
    trigger = f"{stem} (UIs use the file name)"
    if embedding.trigger != stem:
        trigger += f"; the file itself calls it {embedding.trigger}"
    lines = [
        ("format", layouts[embedding_file.layout]),
        ("trigger", trigger),
        ("vectors", f"{embedding.vector_count} x width {embedding.width}: {embedding.family_label}"),
        ("step", "unknown" if embedding.step is None else str(embedding.step)),
    ]
    trained_on = embedding.base_model or "unknown"
    if embedding.base_model_hash:
        trained_on += f" (hash {embedding.base_model_hash})"
    lines.append(("trained on", trained_on))
    if embedding.init_text:
        lines.append(("init text", embedding.init_text))
    tool = embedding.extra.get("tool") or ""
    if tool:
        lines.append(("made by", tool))
    if not embedding.is_finite:
        lines.append(("problem", "the vectors hold NaN or infinite values: training diverged; use an earlier checkpoint"))
    if embedding.vector_count > PROMPT_TOKENS:
        lines.append(("warning", f"{embedding.vector_count} vectors are more than one prompt holds ({PROMPT_TOKENS} tokens)"))
    norms = embedding.vectors.norm(dim=1).tolist()
    comparable = model is not None and embedding.sdxl_clip_g is None and embedding.width == model.width
    if comparable:
        norms = [norm / model.typical_norm for norm in norms]
    if len(norms) > NORMS_LISTED:
        shown = f"min {min(norms):.2f}, mean {sum(norms) / len(norms):.2f}, max {max(norms):.2f}"
    else:
        shown = " ".join(f"{norm:.2f}" for norm in norms)
    if comparable:
        lines.append(("norms", f"{shown} times the typical token of {model.name} ({model.typical_norm:.3f})"))
        high = [index + 1 for index, norm in enumerate(norms) if norm > 3]
        if high:
            lines.append(("warning", f"vector(s) {_numbers(high)} are over 3x a typical token: likely over-trained"))
    else:
        lines.append(("norms", shown))
    if model is not None:
        try:
            check_fits(embedding_file, model.label, model.width)
            lines.append(("fits", f"yes: {model.name} is {model.label}, width {model.width}"))
        except UserError as error:
            lines.append(("fits", f"no: {error}"))
    for verdict in tool_verdicts(embedding_file):
        lines.append((verdict.tool, ("yes: " if verdict.loads else "") + verdict.how))
    return lines
