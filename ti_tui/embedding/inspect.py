"""`ti-tui inspect`: what an embedding file holds, and which tools will load it, in words.

The verdicts follow how each tool's loader reads files: the web UI (AUTOMATIC1111 and its forks)
takes the file name as the word and loads pickles through a restricted safe loader; ComfyUI takes
the first tensor it finds; diffusers needs the classic dict's `name`; InvokeAI's importer needs
`string_to_token` in classic files, and 1-D tensors in `{token: tensor}` files.
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

from ti_tui.embedding.files import EmbeddingFile

# Entries the web UI's safe loader allows inside a zip-format .pt; newer PyTorch adds others.
_WEB_UI_SAFE_ZIP_ENTRIES = ("data.pkl", "version", "byteorder", ".data/serialization_id")


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
    if embedding.sdxl_clip_g is not None:
        only_sdxl = "only with SDXL models (this is an SDXL embedding)"
        return [ToolVerdict(tool, True, only_sdxl) for tool in ("web UI", "ComfyUI", "diffusers", "InvokeAI")]
    if embedding.width not in (768, 1024):
        reason = f"no: width {embedding.width} fits no SD 1.x/2.x model"
        return [ToolVerdict(tool, False, reason) for tool in ("web UI", "ComfyUI", "diffusers", "InvokeAI")]
    keys = embedding_file.keys
    web_ui = ToolVerdict("web UI", True, f"type {stem} in prompts")
    comfy = ToolVerdict("ComfyUI", True, f"type embedding:{stem} in prompts")
    diffusers = ToolVerdict("diffusers", True, f'pipe.load_textual_inversion(path, token="{embedding.trigger}")')
    invoke = ToolVerdict("InvokeAI", True, f"type <{stem}> in prompts")
    if embedding_file.layout == "pt":
        unsafe = _web_ui_rejected_entries(embedding_file.path)
        if unsafe:
            web_ui = ToolVerdict(
                "web UI", False, f"no: its safe loader rejects entries {', '.join(unsafe)} that newer PyTorch writes"
            )
        if "name" not in keys:
            diffusers = ToolVerdict("diffusers", False, "no: the classic dict lacks the 'name' key diffusers reads")
        if "string_to_token" not in keys:
            invoke = ToolVerdict("InvokeAI", False, "no: its importer needs the 'string_to_token' key")
    if embedding_file.layout in ("safetensors", "pt") and embedding_file.raw_ndim == 1:
        invoke = ToolVerdict("InvokeAI", False, "no: it needs a [vectors, width] tensor in this layout, not a 1-D one")
    if embedding_file.layout == "diffusers" and embedding_file.raw_ndim == 2:
        invoke = ToolVerdict(
            "InvokeAI", False, "no: in this layout it reads only single-vector files; use the .safetensors export"
        )
    return [web_ui, comfy, diffusers, invoke]


def _web_ui_rejected_entries(path: Path) -> list[str]:
    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        names = [name.split("/", 1)[1] if "/" in name else name for name in archive.namelist()]
    return sorted(
        {name for name in names if name not in _WEB_UI_SAFE_ZIP_ENTRIES and not (name.startswith("data/") and name[5:].isdigit())}
    )


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
    norms = embedding.vectors.norm(dim=1).tolist()
    shown_norms = " ".join(f"{norm:.3f}" for norm in norms)
    if model is None:
        lines.append(("norms", shown_norms))
    else:
        ratios = " ".join(f"{norm / model.typical_norm:.1f}x" for norm in norms)
        lines.append(("norms", f"{shown_norms} ({ratios} the typical token of {model.name}, {model.typical_norm:.3f})"))
        high = [index + 1 for index, norm in enumerate(norms) if norm > 3 * model.typical_norm]
        if high:
            lines.append(("warning", f"vector(s) {', '.join(map(str, high))} are over 3x a typical token: likely over-trained"))
        if embedding.sdxl_clip_g is None and embedding.width == model.width:
            lines.append(("fits", f"yes: {model.name} is {model.label}, width {model.width}"))
        else:
            lines.append(("fits", f"no: {model.name} is {model.label}, width {model.width}"))
    for verdict in tool_verdicts(embedding_file):
        lines.append((verdict.tool, ("yes: " if verdict.loads else "") + verdict.how))
    return lines
