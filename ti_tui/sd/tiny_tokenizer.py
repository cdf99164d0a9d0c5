"""A small CLIP byte-level BPE vocabulary, learned by code from a fixed word list.

It has the same shape as the real CLIP tokenizer files (`vocab.json`, `merges.txt`): the 256 byte
symbols, the same with the end-of-word mark `</w>`, one entry per merge, then the start and end
tokens. Every word of the list becomes a single token, so "woman" or "photo" behave like known
words do in the real vocabulary, while made-up triggers split into pieces.
"""

import json
from collections import Counter
from pathlib import Path

START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"

# Words that captions and prompts use most, so the tiny model's vocabulary resembles the real one.
COMMON_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "in",
    "on",
    "at",
    "by",
    "for",
    "to",
    "from",
    "with",
    "and",
    "or",
    "but",
    "is",
    "are",
    "was",
    "be",
    "as",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "up",
    "down",
    "out",
    "over",
    "under",
    "into",
    "onto",
    "near",
    "next",
    "behind",
    "front",
    "back",
    "left",
    "right",
    "top",
    "bottom",
    "side",
    "photo",
    "photograph",
    "picture",
    "image",
    "portrait",
    "painting",
    "drawing",
    "illustration",
    "sketch",
    "render",
    "artwork",
    "art",
    "style",
    "close",
    "closeup",
    "shot",
    "view",
    "full",
    "body",
    "head",
    "face",
    "eyes",
    "eye",
    "hair",
    "hand",
    "hands",
    "arm",
    "arms",
    "leg",
    "legs",
    "smile",
    "smiling",
    "person",
    "people",
    "woman",
    "women",
    "man",
    "men",
    "girl",
    "boy",
    "child",
    "children",
    "baby",
    "lady",
    "guy",
    "friend",
    "family",
    "dog",
    "cat",
    "bird",
    "horse",
    "fish",
    "cow",
    "sheep",
    "pig",
    "rabbit",
    "bear",
    "fox",
    "wolf",
    "lion",
    "tiger",
    "monkey",
    "duck",
    "chicken",
    "animal",
    "pet",
    "robot",
    "toy",
    "doll",
    "character",
    "cartoon",
    "anime",
    "figure",
    "statue",
    "mascot",
    "creature",
    "monster",
    "dragon",
    "alien",
    "car",
    "bike",
    "bicycle",
    "train",
    "boat",
    "ship",
    "plane",
    "house",
    "home",
    "building",
    "tower",
    "bridge",
    "road",
    "street",
    "city",
    "town",
    "village",
    "tree",
    "trees",
    "flower",
    "flowers",
    "grass",
    "field",
    "forest",
    "garden",
    "park",
    "leaf",
    "leaves",
    "plant",
    "wood",
    "wooden",
    "stone",
    "rock",
    "sky",
    "cloud",
    "clouds",
    "sun",
    "moon",
    "star",
    "stars",
    "night",
    "day",
    "morning",
    "evening",
    "sunset",
    "sunrise",
    "light",
    "dark",
    "shadow",
    "sea",
    "ocean",
    "beach",
    "sand",
    "water",
    "river",
    "lake",
    "wave",
    "waves",
    "rain",
    "snow",
    "ice",
    "fire",
    "smoke",
    "mountain",
    "mountains",
    "hill",
    "room",
    "wall",
    "window",
    "door",
    "floor",
    "table",
    "chair",
    "bed",
    "desk",
    "lamp",
    "kitchen",
    "studio",
    "office",
    "shop",
    "cafe",
    "stage",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
    "black",
    "white",
    "gray",
    "grey",
    "gold",
    "silver",
    "colorful",
    "bright",
    "small",
    "big",
    "large",
    "little",
    "tiny",
    "huge",
    "tall",
    "short",
    "long",
    "round",
    "square",
    "old",
    "young",
    "new",
    "happy",
    "sad",
    "cute",
    "funny",
    "wearing",
    "holding",
    "standing",
    "sitting",
    "walking",
    "running",
    "looking",
    "jumping",
    "waving",
    "playing",
    "lying",
    "flying",
    "dancing",
    "shirt",
    "dress",
    "hat",
    "cap",
    "scarf",
    "coat",
    "jacket",
    "glasses",
    "shoes",
    "boots",
    "bag",
    "hoodie",
    "uniform",
    "suit",
    "helmet",
    "mask",
    "oil",
    "watercolor",
    "pencil",
    "digital",
    "realistic",
    "detailed",
    "simple",
    "flat",
    "vintage",
    "modern",
    "fantasy",
    "cinematic",
    "high",
    "quality",
    "best",
    "resolution",
    "sharp",
    "focus",
    "blurry",
    "background",
    "foreground",
    "plain",
    "soft",
    "warm",
    "cold",
    "one",
    "two",
    "three",
    "four",
    "five",
    "many",
    "some",
    "several",
    "each",
    "other",
    "very",
]


def bytes_to_unicode() -> dict[int, str]:
    """CLIP's byte-level alphabet: printable bytes stand for themselves, the rest get spare code points."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\N{INVERTED EXCLAMATION MARK}"), ord("\N{NOT SIGN}") + 1),
        *range(ord("\N{REGISTERED SIGN}"), ord("\N{LATIN SMALL LETTER Y WITH DIAERESIS}") + 1),
    ]
    mapping = {byte: chr(byte) for byte in printable}
    spare = 256
    for byte in range(256):
        if byte not in mapping:
            mapping[byte] = chr(spare)
            spare += 1
    return mapping


def learn_merges(words: list[str]) -> list[tuple[str, str]]:
    """Merge the most frequent adjacent pair until every word is one symbol (ties: first in sort order)."""
    alphabet = bytes_to_unicode()
    spelled: dict[tuple[str, ...], int] = Counter()
    for word in words:
        symbols = [alphabet[byte] for byte in word.encode("utf-8")]
        symbols[-1] += END_OF_WORD
        spelled[tuple(symbols)] += 1
    merges: list[tuple[str, str]] = []
    while True:
        pair_counts: Counter[tuple[str, str]] = Counter()
        for symbols, count in spelled.items():
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] += count
        if not pair_counts:
            return merges
        best = min(pair_counts, key=lambda pair: (-pair_counts[pair], pair))
        merges.append(best)
        spelled = Counter({_merge(symbols, best): count for symbols, count in spelled.items()})


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    merged: list[str] = []
    index = 0
    while index < len(symbols):
        if index + 1 < len(symbols) and (symbols[index], symbols[index + 1]) == pair:
            merged.append(symbols[index] + symbols[index + 1])
            index += 2
        else:
            merged.append(symbols[index])
            index += 1
    return tuple(merged)


def build_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The token-to-id table and the merge list, in CLIP's order."""
    symbols = list(bytes_to_unicode().values())
    merges = learn_merges(COMMON_WORDS)
    tokens = [*symbols, *(symbol + END_OF_WORD for symbol in symbols), *(left + right for left, right in merges)]
    tokens += [START_TOKEN, END_TOKEN]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_tokenizer_files(folder: Path) -> dict[str, int]:
    """Write `vocab.json` and `merges.txt` into `folder`; returns the vocabulary."""
    vocabulary, merges = build_vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
    merge_lines = "".join(f"{left} {right}\n" for left, right in merges)
    (folder / "merges.txt").write_text("#version: 0.2\n" + merge_lines, encoding="utf-8")
    return vocabulary
