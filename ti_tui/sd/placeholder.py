"""Encoding prompts with trained vectors in place of trigger words, without touching the model.

A trigger is found in a prompt the way the web UI finds an embedding's name: as its run of tokens
in the tokenized prompt (so "Zorbot," matches "zorbot", and "zorbots" does not). Each match is
replaced by one placeholder id per vector, numbered past the end of the token table. A pre-hook on
the token-embedding layer looks up a harmless id in their place, and a hook after it puts the
vectors at those positions. The tokenizer and the model's own rows are never changed; when the
vectors are a trainable parameter, gradients reach them and nothing else.
"""

from dataclasses import dataclass


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
