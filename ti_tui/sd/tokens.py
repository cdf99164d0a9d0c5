"""The trigger word and the starting vectors, judged with the model's real tokenizer.

A good trigger is a made-up word: one the tokenizer splits into a few pieces, so that it carries
no meaning the training would have to fight, and one that survives being a file name in every UI.
"""

import functools
import random
import re
from pathlib import Path

from ti_tui.findings import Finding, Fix, Severity
from ti_tui.names import FILE_STEM
from ti_tui.settings import MAX_TRIGGER_BYTES, MAX_TRIGGER_CHARACTERS

END_OF_WORD = "</w>"
# CLIP's merges are ordered by frequency: whole words among the first third are everyday words.
COMMON_WORD_RANK = 1 / 3
LONG_TRIGGER_CHARACTERS = 20
LONG_TRIGGER_PIECES = 6
# File names Windows refuses, whatever the extension.
RESERVED_FILE_NAMES = {"con", "prn", "aux", "nul", *(f"com{digit}" for digit in range(1, 10)), *(f"lpt{digit}" for digit in range(1, 10))}
_SYLLABLE_STARTS = "bdfghjklmnprstvwz"
_SYLLABLE_VOWELS = "aeiou"
_SYLLABLE_ENDS = "kxrnz"


def _about_trigger(severity: Severity, message: str) -> Finding:
    return Finding(severity, message, fix=Fix("edit-setting", "token.trigger"), check="trigger", subjects=("token.trigger",))


def check_trigger(trigger: str, tokenizer) -> list[Finding]:
    """What is wrong with `trigger` as a new word, in plain sentences; empty when it is a good choice."""
    if not trigger:
        return [_about_trigger("error", "No trigger word yet: choose a made-up word such as zorbot.")]
    if len(trigger) > MAX_TRIGGER_CHARACTERS:
        return [_about_trigger("error", f"The trigger is {len(trigger)} characters long; keep it under {MAX_TRIGGER_CHARACTERS}.")]
    if len(trigger.encode("utf-8")) > MAX_TRIGGER_BYTES:
        return [
            _about_trigger(
                "error",
                f"The trigger is {len(trigger.encode('utf-8'))} bytes long in UTF-8; keep it under {MAX_TRIGGER_BYTES}: "
                "it names files, and file systems allow 255 bytes in a name.",
            )
        ]
    findings = []
    if not FILE_STEM.fullmatch(trigger):
        odd = sorted({character for character in trigger if not re.fullmatch(r"[\w\-.]", character)})
        shown = " ".join(repr(character) for character in odd) or "its first character"
        findings.append(
            _about_trigger(
                "error",
                f"{trigger!r} contains {shown}: UIs drop or change such characters in file names and prompts, "
                "and most UIs use the file name as the word. Use letters and digits (and - . _ inside).",
            )
        )
    if trigger.lower() in RESERVED_FILE_NAMES:
        findings.append(
            _about_trigger("error", f"{trigger!r} is a name Windows does not allow for files, and the export is named after it.")
        )
    if not trigger.isascii():
        findings.append(
            _about_trigger("warning", f"{trigger!r} has letters beyond plain ASCII; some UIs, keyboards and file systems mangle them.")
        )
    pieces = tokenizer.tokenize(trigger)
    lowered = trigger.lower()
    if len(pieces) == 1 and pieces[0] == lowered + END_OF_WORD:
        read_as = f"{trigger!r} is read as {lowered!r} (prompts are lower-cased), " if lowered != trigger else f"{trigger!r} is "
        if _is_common(pieces[0], tokenizer):
            findings.append(
                _about_trigger(
                    "warning",
                    f"{read_as}a common word the model knows well; the embedding would fight that meaning in "
                    "every prompt. Pick a made-up word.",
                )
            )
        else:
            findings.append(
                _about_trigger(
                    "warning",
                    f"{read_as}already a single token the model knows; training would fight its old meaning. "
                    "A made-up word that splits into a few pieces works better.",
                )
            )
    if len(trigger) > LONG_TRIGGER_CHARACTERS or len(pieces) > LONG_TRIGGER_PIECES:
        findings.append(
            _about_trigger(
                "warning",
                f"{trigger!r} is long ({len(trigger)} characters, {len(pieces)} tokenizer pieces): a short word "
                "is easier to type and to spot in prompts.",
            )
        )
    return findings


def _is_common(token: str, tokenizer) -> bool:
    # The first 512 ids are single bytes; merges follow in the order they were learned.
    merges = len(tokenizer) - 512
    return merges > 0 and (tokenizer.convert_tokens_to_ids(token) - 512) < merges * COMMON_WORD_RANK


class TokenizerFiles:
    """A CLIP tokenizer read from its files by the tokenizers library alone, splitting text exactly as
    transformers' CLIPTokenizer does: all that `check_trigger` and `suggest_triggers` ask of a tokenizer,
    without transformers, which takes a second to import."""

    def __init__(self, backend):
        self.backend = backend  # a tokenizers.Tokenizer

    def tokenize(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self.backend.token_to_id(token)

    def __len__(self) -> int:
        return self.backend.get_vocab_size()


def read_tokenizer_files(folder: Path) -> TokenizerFiles | None:
    """The tokenizer whose vocab.json and merges.txt (or tokenizer.json) are in `folder`; None when they are
    not there or cannot be read. Read once while the files stay the same: the wizard asks often."""
    for names in (("vocab.json", "merges.txt"), ("tokenizer.json",)):
        try:
            statuses = [(folder / name).stat() for name in names]
        except OSError:
            continue
        return _tokenizer_from_files(folder, names, tuple((status.st_size, status.st_mtime_ns) for status in statuses))
    return None


@functools.lru_cache(maxsize=4)
def _tokenizer_from_files(folder: Path, names: tuple[str, ...], stamps: tuple) -> TokenizerFiles | None:
    """`stamps` (the files' sizes and times) only tell the cache when the files changed."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    try:
        if names == ("tokenizer.json",):
            return TokenizerFiles(Tokenizer.from_file(str(folder / "tokenizer.json")))
        model = BPE.from_file(
            str(folder / "vocab.json"),
            str(folder / "merges.txt"),
            continuing_subword_prefix="",
            end_of_word_suffix=END_OF_WORD,
            unk_token="<|endoftext|>",
            fuse_unk=False,
        )
    except Exception:  # the tokenizers library raises a bare Exception for a broken file
        return None
    # CLIP's own text rules, as transformers' CLIPTokenizer sets them up.
    backend = Tokenizer(model)
    backend.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    words = Regex(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""")
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(words, behavior="removed", invert=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    return TokenizerFiles(backend)


def suggest_triggers(trigger: str, tokenizer, count: int = 3) -> list[str]:
    """`count` made-up words that pass every check: first ones built from `trigger`, then invented ones."""
    base = re.sub(r"[^a-z0-9]", "", trigger.lower())
    derived = [re.sub(r"[aeiou]", "", base), base + "x", base[:4] + "vo"] if len(base) >= 3 else []
    generator = random.Random(trigger)  # the same trigger gets the same suggestions
    invented = (
        generator.choice(_SYLLABLE_STARTS)
        + generator.choice(_SYLLABLE_VOWELS)
        + generator.choice(_SYLLABLE_STARTS)
        + generator.choice(_SYLLABLE_VOWELS)
        + generator.choice(_SYLLABLE_ENDS)
        for _ in range(200)
    )
    suggestions: list[str] = []
    for candidate in (*derived, *invented):
        usable = len(candidate) >= 4 and candidate != trigger and candidate not in suggestions
        if usable and not check_trigger(candidate, tokenizer) and len(tokenizer.tokenize(candidate)) >= 2:
            suggestions.append(candidate)
        if len(suggestions) == count:
            break
    return suggestions


def suggest_vector_count(image_count: int, kind: str) -> tuple[int, str]:
    """How many vectors to train for `image_count` images, and why, in words."""
    per_vector = 8
    count = max(1, min(8, image_count // per_vector + (1 if kind == "style" else 0)))
    reason = (
        f"{count} vector(s) for {image_count} images: about one per {per_vector} images"
        + (", plus one because a style has more to hold" if kind == "style" else "")
        + ". More vectors learn more detail but copy the training images sooner."
    )
    return count, reason


def initial_vectors(init_text: str, count: int, tokenizer, token_embedding, seed: int):
    """The `count` starting vectors, float32 `[count, width]`, from the words of `init_text`.

    With at least as many vectors as the text has tokens, each token is repeated in order to fill
    them ("woman", 2 vectors: woman, woman); with fewer, neighbouring tokens are averaged into each
    vector. An empty text gives small random vectors, a tenth as long as a typical token's, seeded
    by `seed` so that runs repeat.
    """
    import torch

    table = token_embedding.weight.detach().float().cpu()
    token_ids = tokenizer(init_text, add_special_tokens=False).input_ids if init_text.strip() else []
    if not token_ids:
        generator = torch.Generator().manual_seed(seed)
        directions = torch.randn((count, table.shape[1]), generator=generator)
        typical = table.norm(dim=1).mean()
        return directions / directions.norm(dim=1, keepdim=True) * typical * 0.1
    rows = table[torch.tensor(token_ids)]
    if count >= len(token_ids):
        return rows[[index * len(token_ids) // count for index in range(count)]].clone()
    groups = torch.tensor_split(rows, count)
    return torch.stack([group.mean(dim=0) for group in groups])
