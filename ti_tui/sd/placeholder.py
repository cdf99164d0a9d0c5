"""Encoding prompts with trained vectors in place of trigger words, without touching the model.

A trigger is found in a prompt the way the web UI finds an embedding's name: as its run of tokens
in the tokenized prompt (so "Zorbot," matches "zorbot", and "zorbots" does not). Each match is
replaced by one placeholder id per vector, numbered past the end of the token table. A pre-hook on
the token-embedding layer looks up a harmless id in their place, and a hook after it puts the
vectors at those positions. The tokenizer and the model's own rows are never changed; when the
vectors are a trainable parameter, gradients reach them and nothing else.

Training encodes a prompt as one 77-token sequence, as written (`encode`). Rendering reads it as the
web UI does (`encode_weighted`): emphasis weighs the hidden states, and a long prompt is encoded in
chunks of 75 tokens whose hidden states are laid side by side.
"""

import math
from dataclasses import dataclass

from ti_tui.emphasis import parse_emphasis

CHUNK_TOKENS = 75  # a chunk's tokens between its start and end tokens
CHUNK_LENGTH = CHUNK_TOKENS + 2  # 77 in all: the text encoder's length
MOST_REPEATED_CHUNKS = 12  # a prompt and negative prompt repeated to a common length at most this long
COMMA_BACKTRACK = 20  # a full chunk hands the tokens after its last comma to the next, when that comma is this near its end


@dataclass
class TriggerVectors:
    trigger: str
    token_ids: list[int]  # how the tokenizer spells the trigger
    first_placeholder: int
    vectors: object  # torch.Tensor [count, width]; may be an nn.Parameter
    strength: float = 1.0

    @property
    def placeholders(self) -> list[int]:
        return list(range(self.first_placeholder, self.first_placeholder + self.vectors.shape[0]))


class PromptEncoder:
    """One text encoder and its tokenizer, able to encode prompts that use any added triggers."""

    def __init__(self, tokenizer, text_encoder):
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        embedding = text_encoder.get_input_embeddings()
        self.vocabulary_size = embedding.num_embeddings
        self.triggers: dict[str, TriggerVectors] = {}
        comma = tokenizer(",", add_special_tokens=False).input_ids
        self.comma = comma[0] if len(comma) == 1 else None  # where the web UI's chunks may break
        self._input_ids = None
        self._hooks = [
            embedding.register_forward_pre_hook(self._look_up_harmless_ids),
            embedding.register_forward_hook(self._insert_vectors),
        ]

    def add(self, trigger: str, vectors, strength: float = 1.0) -> TriggerVectors:
        """Teach the encoder `trigger`; adding it again replaces its vectors."""
        self.triggers.pop(trigger, None)
        next_free = max((entry.placeholders[-1] + 1 for entry in self.triggers.values()), default=self.vocabulary_size)
        token_ids = self.tokenizer(trigger, add_special_tokens=False).input_ids
        entry = TriggerVectors(trigger, token_ids, next_free, vectors, strength)
        self.triggers[trigger] = entry
        return entry

    def token_ids(self, prompt: str) -> list[int]:
        """The prompt's ids with start and end tokens, triggers replaced, padded or cut to the model's length.

        A prompt too long loses words from its end, but keeps every trigger: a long caption in a
        template that names the trigger last must not cut the trigger away.
        """
        ids = self.tokenizer(prompt, add_special_tokens=False).input_ids
        for entry in self.triggers.values():
            ids = _replace_runs(ids, entry.token_ids, entry.placeholders)
        length = self.tokenizer.model_max_length
        body = _shorten(ids, length - 2, {token for entry in self.triggers.values() for token in entry.placeholders})
        padded = [self.tokenizer.bos_token_id, *body, self.tokenizer.eos_token_id]
        return padded + [self.tokenizer.pad_token_id] * (length - len(padded))

    def encode(self, prompts: list[str]):
        """Hidden states `[len(prompts), length, width]` for the UNet's cross-attention."""
        import torch

        device = self.text_encoder.get_input_embeddings().weight.device
        ids = torch.tensor([self.token_ids(prompt) for prompt in prompts], device=device)
        return self.text_encoder(ids)[0]

    def chunks(self, prompt: str) -> list["PromptChunk"]:
        """The prompt in chunks of 77 tokens, each token with its weight, as the web UI makes them to render.

        A chunk is its start token, up to 75 of the prompt's, its end token and padding. A BREAK starts a new
        chunk; a full chunk whose last comma is near its end hands the words after that comma to the next;
        a trigger's vectors are never split between chunks. An empty prompt is one chunk.
        """
        tokenizer, comma = self.tokenizer, self.comma
        chunks: list[PromptChunk] = []
        ids: list[int] = []
        weights: list[float] = []
        last_comma = -1

        def close() -> None:
            nonlocal ids, weights, last_comma
            padding = CHUNK_TOKENS - len(ids)
            chunks.append(
                PromptChunk(
                    [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [tokenizer.pad_token_id] * padding,
                    [1.0, *weights, 1.0] + [1.0] * padding,
                )
            )
            ids, weights, last_comma = [], [], -1

        for piece in parse_emphasis(prompt):
            if piece.breaks_chunk:
                close()
                continue
            for unit in self._units(piece.text):
                if unit == [comma]:
                    last_comma = len(ids)
                elif len(ids) == CHUNK_TOKENS and last_comma != -1 and len(ids) - last_comma <= COMMA_BACKTRACK:
                    moved_ids, moved_weights = ids[last_comma + 1 :], weights[last_comma + 1 :]
                    ids, weights = ids[: last_comma + 1], weights[: last_comma + 1]
                    close()
                    ids, weights = moved_ids, moved_weights
                if len(ids) + len(unit) > CHUNK_TOKENS:
                    close()
                ids += unit
                weights += [piece.weight] * len(unit)
        if ids or not chunks:
            close()
        return chunks

    def _units(self, text: str) -> list[list[int]]:
        """The text's tokens, one by one, except a trigger's placeholders, which stay together."""
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        for entry in self.triggers.values():
            ids = _replace_runs(ids, entry.token_ids, entry.placeholders)
        # A trigger of more vectors than a chunk holds (an imported file) goes on in the next chunk, as it must.
        runs = {entry.first_placeholder: min(entry.vectors.shape[0], CHUNK_TOKENS) for entry in self.triggers.values()}
        runs |= {
            entry.first_placeholder + start: min(entry.vectors.shape[0] - start, CHUNK_TOKENS)
            for entry in self.triggers.values()
            for start in range(CHUNK_TOKENS, entry.vectors.shape[0], CHUNK_TOKENS)
        }
        units, index = [], 0
        while index < len(ids):
            length = runs.get(ids[index], 1)
            units.append(ids[index : index + length])
            index += length
        return units

    def encode_weighted(self, prompt: str):
        """Hidden states `[1, 77 x chunks, width]` to render `prompt` as the web UI does: each chunk encoded,
        each token's hidden state multiplied by its weight, and the chunk's mean brought back to what it was."""
        import torch

        chunks = self.chunks(prompt)
        device = self.text_encoder.get_input_embeddings().weight.device
        states = self.text_encoder(torch.tensor([chunk.ids for chunk in chunks], device=device))[0]
        weights = torch.tensor([chunk.weights for chunk in chunks], device=states.device, dtype=torch.float32)
        plain = states.float()
        weighted = plain * weights.unsqueeze(-1)
        weighted = weighted * (plain.mean(dim=(1, 2), keepdim=True) / weighted.mean(dim=(1, 2), keepdim=True))
        return weighted.to(states.dtype).reshape(1, -1, states.shape[-1])

    def encode_for_guidance(self, prompt: str, negative_prompt: str):
        """The prompt's and the negative prompt's hidden states (`encode_weighted`) at one length, for guidance to
        put side by side (`same_length`)."""
        return same_length(self.encode_weighted(prompt), self.encode_weighted(negative_prompt), lambda: self.encode_weighted(""))

    def _look_up_harmless_ids(self, module, arguments):
        (input_ids,) = arguments
        self._input_ids = input_ids
        return (input_ids.masked_fill(input_ids >= self.vocabulary_size, 0),)

    def _insert_vectors(self, module, arguments, output):
        import torch

        ids = self._input_ids
        for entry in self.triggers.values():
            first = entry.first_placeholder
            mine = (ids >= first) & (ids < first + entry.vectors.shape[0])
            if not mine.any():
                continue
            rows = (ids - first).clamp(0, entry.vectors.shape[0] - 1).to(entry.vectors.device)
            replacement = (entry.vectors * entry.strength)[rows].to(output.device, output.dtype)
            output = torch.where(mine.unsqueeze(-1), replacement, output)
        return output

    def remove(self) -> None:
        """Detach from the text encoder, which then encodes as it did before."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []


@dataclass(frozen=True)
class PromptChunk:
    ids: list[int]  # 77: the start token, the prompt's, the end token, padding
    weights: list[float]  # one per id; 1 for the start, end and padding


def same_length(prompt_states, negative_states, empty_states):
    """The prompt's and the negative prompt's hidden states at one length.

    Each is repeated to the least common multiple of the two lengths. Cross-attention over keys repeated
    whole weighs each as before, so each image is what the two would give apart, as the web UI renders
    them (and ComfyUI repeats them). Where that multiple passes MOST_REPEATED_CHUNKS chunks, the shorter
    is padded with the empty prompt's chunk instead (`empty_states()`), as the web UI's option to pad them does.
    """
    prompt_length, negative_length = prompt_states.shape[1], negative_states.shape[1]
    length = math.lcm(prompt_length, negative_length)
    if length <= MOST_REPEATED_CHUNKS * CHUNK_LENGTH:
        return prompt_states.repeat(1, length // prompt_length, 1), negative_states.repeat(1, length // negative_length, 1)
    import torch

    empty = empty_states()
    longest = max(prompt_length, negative_length)

    def padded(states):
        return torch.cat([states, empty.repeat(1, (longest - states.shape[1]) // CHUNK_LENGTH, 1)], dim=1)

    return padded(prompt_states), padded(negative_states)


def _shorten(ids: list[int], limit: int, keep: set[int]) -> list[int]:
    """Cut a prompt too long for the model from its end, but never the trigger's vectors."""
    if len(ids) <= limit:
        return ids
    room = max(0, limit - sum(token in keep for token in ids))
    shortened = []
    for token in ids:
        if token in keep:
            shortened.append(token)
        elif room:
            shortened.append(token)
            room -= 1
    return shortened[:limit]


def _replace_runs(ids: list[int], run: list[int], replacement: list[int]) -> list[int]:
    result, index = [], 0
    while index < len(ids):
        if run and ids[index : index + len(run)] == run:
            result.extend(replacement)
            index += len(run)
        else:
            result.append(ids[index])
            index += 1
    return result
