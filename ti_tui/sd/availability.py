"""Can a project's model and tokenizer be found on this machine, offline? Looks, never downloads."""

from dataclasses import dataclass
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.sd.family import family_from_shapes, family_of_diffusers_folder, read_safetensors_header
from ti_tui.sd.source import MODEL_FILE_SUFFIXES, ModelSource
from ti_tui.sd.tokenizer import (
    FAMILY_WORDS,
    cached_tokenizer_folder,
    family_tokenizer,
    find_tokenizer,
    missing_tokenizer_advice,
)


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
                return Availability(True, f"SD 1.x layout, ready in {folder}")
            return Availability(True, f"SD 1.x layout, built on first use into {folder} (seconds, no download)")
        case "folder":
            if (source.path / "model_index.json").is_file():
                return _pretrained_availability(source.path, f"diffusers folder {source.path}")
            return Availability(
                False,
                f"{source.path} has no model_index.json, so it is not a diffusers model folder",
                "point model.base at the folder that holds model_index.json, or at a .safetensors file",
            )
        case "file":
            if source.path.suffix.lower() in MODEL_FILE_SUFFIXES:
                return _checkpoint_file_availability(source.path)
            return Availability(
                False,
                f"{source.path} is not a model file (expected {' or '.join(MODEL_FILE_SUFFIXES)})",
                "point model.base at an SD 1.x/2.x .safetensors or .ckpt file",
            )
        case "hub":
            cached = _hub_cached_file(source.text, "model_index.json")
            if cached:
                return _pretrained_availability(Path(cached).parent, "in the local Hugging Face cache")
            return Availability(
                False,
                f"{source.text} is not in the local Hugging Face cache, and ti-tui never downloads while training",
                "fetch it once while online, or set model.base to a local .safetensors file",
            )
    return Availability(False, f"{source.path} does not exist", "correct model.base in project.toml")


def _pretrained_availability(folder: Path, where: str) -> Availability:
    try:
        family = family_of_diffusers_folder(folder)
    except UserError as error:
        return Availability(False, str(error), "point model.base at an SD 1.x or 2.x model")
    return Availability(True, f"{family.label}, {where}")


def _checkpoint_file_availability(path: Path) -> Availability:
    size = human_size(path.stat().st_size)
    if path.suffix.lower() != ".safetensors":
        return Availability(True, f"checkpoint file {path} ({size}; its kind is known once it is loaded)")
    try:
        family = family_from_shapes(read_safetensors_header(path)[0], path.name)
    except UserError as error:
        return Availability(False, str(error), "point model.base at an SD 1.x or 2.x checkpoint")
    return Availability(True, f"{family.label} checkpoint file {path} ({size})")


def human_size(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def tokenizer_availability(source: ModelSource, tokenizer_folder: Path | None) -> Availability:
    """Where the tokenizer will come from: the model itself, `model.tokenizer`, or the HF cache."""
    family = None
    if source.kind == "file" and source.path.suffix.lower() == ".safetensors":
        try:
            family = family_from_shapes(read_safetensors_header(source.path)[0], source.path.name).name
        except UserError:
            pass  # the model's own problem is reported on its own line
    elif source.kind == "file" and tokenizer_folder is None:
        # Reading a .ckpt's kind means loading it; say what is at hand for either kind.
        cached = {name: cached_tokenizer_folder(family_tokenizer(name)) is not None for name in FAMILY_WORDS}
        if any(cached.values()):
            shown = ", ".join(f"{FAMILY_WORDS[name]} {'cached' if found else 'missing'}" for name, found in cached.items())
            return Availability(True, f"chosen when the .ckpt is loaded ({shown})")
    location = find_tokenizer(source, tokenizer_folder, family)
    if location:
        return Availability(True, location.description)
    if source.kind == "hub" and tokenizer_folder is None:
        return Availability(False, "comes with the model, once it is downloaded")
    return Availability(False, "no tokenizer found offline", missing_tokenizer_advice(source, tokenizer_folder, family))


def _hub_cached_file(repo_id: str, filename: str) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename)
    return found if isinstance(found, str) else None


def native_resolution(source: ModelSource) -> int:
    """The image size the model was trained at, from its configs or its family, without loading it."""
    import json

    from ti_tui.sd.family import family_config

    folder = None
    if source.kind == "builtin":
        from ti_tui.sd.tiny import IMAGE_SIZE

        return IMAGE_SIZE
    if source.kind == "folder":
        folder = source.path
    elif source.kind == "hub":
        cached = _hub_cached_file(source.text, "model_index.json")
        folder = Path(cached).parent if cached else None
    if folder is not None:
        try:
            unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
            vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
            return unet["sample_size"] * 2 ** (len(vae["block_out_channels"]) - 1)
        except (OSError, ValueError, KeyError):
            return 512
    family = None
    if source.kind == "file" and source.path.suffix.lower() == ".safetensors":
        try:
            family = family_from_shapes(read_safetensors_header(source.path)[0], source.path.name).name
        except UserError:
            pass
    return family_config(family)["vae"]["sample_size"] if family else 512
