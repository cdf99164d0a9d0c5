"""Prompt emphasis as the popular web UI (and Forge, SD.Next) reads it, for rendering: pure text work.

    (word)        the words weigh 1.1 times as much; ((word)) 1.21, and so on
    (word:1.3)    the words weigh 1.3 times as much (0.5: half)
    [word]        the words weigh 1.1 times less
    \\( \\) \\[ \\]   the bracket itself, as a character
    BREAK         the words after it start a new 75-token chunk

A bracket left open weighs everything to the end of the prompt; a closing bracket with none open is
kept as a character. Prompt editing (`[cat:dog:0.5]`) and alternation (`[cat|dog]`) are not read: they
stay words, weighed by the square brackets around them.
"""

import re
from dataclasses import dataclass

ROUND_BRACKETS = 1.1  # what (word) multiplies a weight by; [word] divides it by the same
CHUNK_BREAK = -1.0  # the weight that marks a BREAK among the pieces, as long as no bracket has changed it

# One piece of a prompt at a time: an escaped bracket or backslash, a lone backslash, an opening bracket, a
# weight that closes a round bracket, a closing bracket, a run of plain text, or a colon on its own.
_PIECE = re.compile(r"\\[()\[\]\\]|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:")
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


@dataclass(frozen=True)
class WeightedText:
    text: str
    weight: float

    @property
    def breaks_chunk(self) -> bool:
        return self.weight == CHUNK_BREAK and self.text == "BREAK"


def parse_emphasis(prompt: str) -> list[WeightedText]:
    """The prompt as runs of text with their weights, neighbours of equal weight joined; BREAKs as pieces of their own."""
    pieces: list[list] = []  # [text, weight], weights changed in place as brackets close
    open_round: list[int] = []  # where each open bracket's text begins in `pieces`
    open_square: list[int] = []

    def weigh_from(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    for match in _PIECE.finditer(prompt):
        token, weight = match.group(0), match.group(1)
        if token.startswith("\\"):
            pieces.append([token[1:], 1.0])
        elif token == "(":
            open_round.append(len(pieces))
        elif token == "[":
            open_square.append(len(pieces))
        elif weight is not None and open_round:
            weigh_from(open_round.pop(), _number(weight))
        elif token == ")" and open_round:
            weigh_from(open_round.pop(), ROUND_BRACKETS)
        elif token == "]" and open_square:
            weigh_from(open_square.pop(), 1 / ROUND_BRACKETS)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    pieces.append(["BREAK", CHUNK_BREAK])
                pieces.append([part, 1.0])
    for start in open_round:
        weigh_from(start, ROUND_BRACKETS)
    for start in open_square:
        weigh_from(start, 1 / ROUND_BRACKETS)

    joined: list[list] = []
    for text, weight in pieces or [["", 1.0]]:
        if joined and joined[-1][1] == weight:
            joined[-1][0] += text
        else:
            joined.append([text, weight])
    return [WeightedText(text, weight) for text, weight in joined]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "1.2.3": the brackets weigh nothing rather than fail the render
        return 1.0
