"""Finding, fetching and loading the CLIP tokenizer, without ever downloading unasked.

Order of search: the model's own `tokenizer/` folder, then the folder named by `model.tokenizer`,
then the family's tokenizer in the local Hugging Face cache (checkpoint files carry none).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.sd.family import FamilyName, family_config
from ti_tui.sd.source import ModelSource

TOKENIZER_FILES = ("vocab.json", "merges.txt")
# They set the special tokens; SD 2.x pads with "!" where SD 1.x pads with the end token.
SPECIAL_TOKEN_FILES = ("special_tokens_map.json", "tokenizer_config.json")
FAMILY_WORDS = {"sd1": "SD 1.x", "sd2": "SD 2.x"}


@dataclass(frozen=True)
class TokenizerRepository:
    repo: str
    subfolder: str

    def files(self) -> str:
        where = f"{self.repo}/{self.subfolder}" if self.subfolder else self.repo
        return f"vocab.json and merges.txt of {where}"


def family_tokenizer(family: FamilyName) -> TokenizerRepository:
    entry = family_config(family)["tokenizer"]
    return TokenizerRepository(entry["repo"], entry["subfolder"])


@dataclass(frozen=True)
class TokenizerLocation:
    folder: Path
    description: str


def has_tokenizer_files(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TOKENIZER_FILES) or (folder / "tokenizer.json").is_file()


def find_tokenizer(source: ModelSource, setting_folder: Path | None, family: FamilyName | None) -> TokenizerLocation | None:
    """Where the tokenizer is, or None. For checkpoint files the family must be known (None: not yet)."""
    if source.kind == "builtin":
        from ti_tui.sd.tiny import builtin_tiny_dir

        return TokenizerLocation(builtin_tiny_dir() / "tokenizer", "builtin:tiny's own")
    if source.kind == "folder" and has_tokenizer_files(source.path / "tokenizer"):
        return TokenizerLocation(source.path / "tokenizer", f"the model's own ({source.path / 'tokenizer'})")
    if source.kind == "hub":
        cached = cached_tokenizer_folder(TokenizerRepository(source.text, "tokenizer"))
        if cached:
            return TokenizerLocation(cached, "the model's own, in the local Hugging Face cache")
    if setting_folder is not None:
        if has_tokenizer_files(setting_folder):
            return TokenizerLocation(setting_folder, f"from model.tokenizer: {setting_folder}")
        return None
    if source.kind == "file" and family is not None:
        repository = family_tokenizer(family)
        cached = cached_tokenizer_folder(repository)
        if cached:
            return TokenizerLocation(cached, f"{repository.repo} from the local Hugging Face cache")
    return None


def missing_tokenizer_advice(source: ModelSource, setting_folder: Path | None, family: FamilyName | None) -> str:
    """What to do when `find_tokenizer` found nothing: which files, from where, to where."""
    if setting_folder is not None:
        return (
            f"model.tokenizer names {setting_folder}, which lacks vocab.json and merges.txt: put them there "
            '(from the model\'s tokenizer/ folder), or set model.tokenizer to ""'
        )
    if source.kind == "hub":
        return f"{source.text} is not in the local Hugging Face cache: fetch it once while online"
    if source.kind == "folder":
        return f"{source.path} has no tokenizer/ folder: copy one in from the same model, or set model.tokenizer"
    families = [family] if family else ["sd1", "sd2"]
    options = " or ".join(f"{family_tokenizer(name).files()} (for {FAMILY_WORDS[name]})" for name in families)
    return (
        "checkpoint files carry no tokenizer. Fetch it once while online, or copy "
        f"{options}, with {' and '.join(SPECIAL_TOKEN_FILES)}, into a folder and set model.tokenizer to that folder"
    )


def cached_tokenizer_folder(repository: TokenizerRepository) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    prefix = f"{repository.subfolder}/" if repository.subfolder else ""
    found = [try_to_load_from_cache(repository.repo, prefix + name) for name in TOKENIZER_FILES]
    if all(isinstance(path, str) for path in found):
        return Path(found[0]).parent
    return None


def refuse_when_offline(what: str) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise UserError(f"HF_HUB_OFFLINE is set, so {what} cannot be fetched; unset it and try again")


def fetch_tokenizer(repository: TokenizerRepository) -> Path:
    """Download the tokenizer files once into the local Hugging Face cache; the user asked for it."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    refuse_when_offline(repository.files())
    subfolder = repository.subfolder or None
    try:
        paths = [hf_hub_download(repository.repo, name, subfolder=subfolder) for name in TOKENIZER_FILES]
        for name in SPECIAL_TOKEN_FILES:
            try:
                hf_hub_download(repository.repo, name, subfolder=subfolder)
            except EntryNotFoundError:
                pass
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise UserError(f"could not fetch {repository.files()}: {error}") from None
    return Path(paths[0]).parent


def load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    try:
        return CLIPTokenizer.from_pretrained(folder, model_max_length=77, local_files_only=True)
    except Exception as error:  # the tokenizers library raises a bare Exception for a broken vocabulary
        raise UserError(f"the tokenizer in {folder} cannot be loaded: {error}") from None
