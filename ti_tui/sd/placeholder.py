"""Giving a loaded tokenizer and text encoder a new word, without touching the model's token table.

The trigger becomes `vectors` placeholder tokens (`zorbot`, `zorbot_1`, ... as diffusers names
them). Their ids lie past the end of the token table, so a pre-hook on the token-embedding layer
looks up a harmless id in their place, and a hook after it puts the trigger's vectors at those
positions. The model's own rows are never written, and when the vectors are a trainable parameter,
gradients reach them and nothing else.
"""

import re


class TriggerVectors:
    def __init__(self, tokenizer, text_encoder, trigger: str, vectors, strength: float = 1.0):
        self.tokenizer = tokenizer
        self.trigger = trigger
        self.vectors = vectors
        self.strength = strength
        self.token_names = [trigger] + [f"{trigger}_{index}" for index in range(1, vectors.shape[0])]
        if any(name in tokenizer.get_vocab() for name in self.token_names):
            raise ValueError(f"the tokenizer already has a token {trigger!r}; a trigger can be given vectors once")
        tokenizer.add_tokens(self.token_names)
        self.token_ids = tokenizer.convert_tokens_to_ids(self.token_names)
        embedding = text_encoder.get_input_embeddings()
        self.first_id = self.token_ids[0]
        if self.token_ids != list(range(self.first_id, self.first_id + len(self.token_ids))) or self.first_id < embedding.num_embeddings:
            raise ValueError("the placeholder tokens did not get consecutive ids past the token table")
        self._input_ids = None
        self._hooks = [
            embedding.register_forward_pre_hook(self._swap_placeholder_ids),
            embedding.register_forward_hook(self._insert_vectors),
        ]

    def expand(self, prompt: str) -> str:
        """The prompt with the trigger written out as its placeholder tokens, one per vector."""
        return re.sub(rf"(?<![\w-]){re.escape(self.trigger)}(?![\w-])", " ".join(self.token_names), prompt)

    def _swap_placeholder_ids(self, module, arguments):
        (input_ids,) = arguments
        self._input_ids = input_ids
        return (input_ids.masked_fill(input_ids >= self.first_id, 0),)

    def _insert_vectors(self, module, arguments, output):
        import torch

        placeholder = self._input_ids >= self.first_id
        if not placeholder.any():
            return output
        rows = (self._input_ids - self.first_id).clamp(min=0, max=len(self.token_ids) - 1)
        replacement = (self.vectors * self.strength)[rows].to(output.dtype)
        return torch.where(placeholder.unsqueeze(-1), replacement, output)

    def remove(self) -> None:
        """Stop substituting; the tokenizer keeps the tokens (they then map to an ordinary token)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
