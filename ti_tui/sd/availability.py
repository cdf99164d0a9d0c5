"""Can a project's model and tokenizer be found on this machine, offline? Looks, never downloads."""

from dataclasses import dataclass
from pathlib import Path

from ti_tui.sd.source import MODEL_FILE_SUFFIXES, ModelSource

# The tokenizer SD 1.x checkpoints were trained with; single files do not carry it.
SD1_TOKENIZER_REPO = "openai/clip-vit-large-patch14"
TOKENIZER_FILES = ("vocab.json", "merges.txt")


@dataclass(frozen=True)
class Availability:
    found: bool
    detail: str  # what was found and where, or what is missing
    fix: str = ""  # what to do about it, when not found


def model_availability(source: ModelSource) -> Availability:
    match source.kind:
        case "builtin":
            from ti_tui.sd.tiny import builtin_tiny_dir

            folder = builtin_tiny_dir()
            if folder.is_dir():
                return Availability(True, f"ready in {folder}")
            return Availability(True, f"built on first use into {folder} (seconds, no download)")
        case "folder":
            if (source.path / "model_index.json").is_file():
                return Availability(True, f"diffusers folder {source.path}")
            return Availability(
                False,
                f"{source.path} has no model_index.json, so it is not a diffusers model folder",
                "point model.base at the folder that holds model_index.json, or at a .safetensors file",
            )
        case "file":
            if source.path.suffix.lower() in MODEL_FILE_SUFFIXES:
                size = source.path.stat().st_size / 1e9
                return Availability(True, f"checkpoint file {source.path} ({size:.1f} GB)")
            return Availability(
                False,
                f"{source.path} is not a model file (expected {' or '.join(MODEL_FILE_SUFFIXES)})",
                "point model.base at an SD 1.x/2.x .safetensors or .ckpt file",
            )
        case "hub":
            cached = _hub_cached_file(source.text, "model_index.json")
            if cached:
                return Availability(True, f"in the local Hugging Face cache ({Path(cached).parent})")
            return Availability(
                False,
                f"{source.text} is not in the local Hugging Face cache, and ti-tui never downloads while training",
                f"download it once with `hf download {source.text}`, or set model.base to a local .safetensors file",
            )
    return Availability(False, f"{source.path} does not exist", "correct model.base in project.toml")


def tokenizer_availability(source: ModelSource, tokenizer_folder: Path | None) -> Availability:
    """Where the tokenizer will come from: `model.tokenizer`, the model itself, or the HF cache."""
    if tokenizer_folder is not None:
        if _has_tokenizer_files(tokenizer_folder):
            return Availability(True, f"from model.tokenizer: {tokenizer_folder}")
        return Availability(
            False,
            f"model.tokenizer names {tokenizer_folder}, which lacks vocab.json and merges.txt",
            "put vocab.json and merges.txt (from the model's tokenizer/ folder) there, or set model.tokenizer to \"\"",
        )
    if source.kind == "builtin":
        return Availability(True, "builtin:tiny's own")
    if source.kind == "folder" and _has_tokenizer_files(source.path / "tokenizer"):
        return Availability(True, f"the model's own ({source.path / 'tokenizer'})")
    if source.kind == "hub" and _hub_cached_file(source.text, "tokenizer/vocab.json"):
        return Availability(True, "the model's own, in the local Hugging Face cache")
    if source.kind == "hub":
        return Availability(False, "the model is not cached, so neither is its tokenizer", "download the model first")
    if all(_hub_cached_file(SD1_TOKENIZER_REPO, name) for name in TOKENIZER_FILES):
        return Availability(True, f"{SD1_TOKENIZER_REPO} from the local Hugging Face cache")
    return Availability(
        False,
        "no tokenizer found offline: checkpoint files do not carry one",
        f"for SD 1.x, download it once with `hf download {SD1_TOKENIZER_REPO} vocab.json merges.txt`, "
        "or copy vocab.json and merges.txt into a folder and set model.tokenizer to that folder",
    )


def _has_tokenizer_files(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TOKENIZER_FILES) or (folder / "tokenizer.json").is_file()


def _hub_cached_file(repo_id: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return found if isinstance(found, str) else None
