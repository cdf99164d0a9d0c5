"""What the trainer feeds the model: which image comes next, and each image's latents, encoded once.

Both draw only from seeds and counters that a checkpoint records, so a resumed run sees the same
images, in the same order, with the same latents, as an unbroken one.
"""

import torch

from ti_tui.intervals import VALIDATION_IMAGES

LATENT_SEED = 10_000
LATENT_SEED_STRIDE = 1_000_003  # more than any dataset's images: no two (seed, image) pairs share a draw


class DataOrder:
    """Which image comes next: a fresh shuffle every epoch, from the seed and the epoch number alone."""

    def __init__(self, count: int, seed: int):
        self.count, self.seed = count, seed
        self.epoch, self.position = 0, 0

    def _order(self) -> list[int]:
        return torch.randperm(self.count, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()

    def take(self, how_many: int) -> list[int]:
        taken, order = [], self._order()
        while len(taken) < how_many:
            taken.append(order[self.position])
            self.position += 1
            if self.position == self.count:
                self.epoch, self.position = self.epoch + 1, 0
                order = self._order()
        return taken

    def state(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]


class LatentCache:
    """Every training image's latents, encoded the first time the image is drawn, then kept.

    Encoding on first use lets training start after one image instead of all of them; once every
    image is in, the VAE is not needed for training any more. An image's mirror image is encoded
    with it. `once` keeps one sample per image (drawn from a seed of its own, so the order images
    arrive in does not matter), `deterministic` the posterior mean, `random` resamples every use.
    """

    def __init__(self, encode, image_count: int, variants: int, sampling: str, seed: int, on_encoded):
        self.encode, self.image_count, self.variants = encode, image_count, variants
        self.sampling, self.seed, self.on_encoded = sampling, seed, on_encoded
        self.means: dict[int, torch.Tensor] = {}
        self.deviations: dict[int, torch.Tensor] = {}
        self.validation_means: dict[int, torch.Tensor] = {}  # un-mirrored and unsampled, of the validation images

    def __len__(self) -> int:
        return self.image_count * self.variants

    def encoded_images(self) -> int:
        return len(self.means) // self.variants

    def ensure(self, indices) -> None:
        for image in sorted({index // self.variants for index in indices}):
            if image * self.variants in self.means:
                continue
            mean, deviation = self.encode(image)  # [variants, channels, height, width] each
            if image < VALIDATION_IMAGES:
                self.validation_means[image] = mean[0].clone()
            if self.sampling == "once":
                generator = torch.Generator().manual_seed(LATENT_SEED + self.seed * LATENT_SEED_STRIDE + image)
                mean = mean + deviation * torch.randn(mean.shape, generator=generator).to(mean.device)
            for variant in range(self.variants):
                self.means[image * self.variants + variant] = mean[variant]
                if self.sampling == "random":  # the other choices never look at it again
                    self.deviations[image * self.variants + variant] = deviation[variant]
            self.on_encoded(len(self.means) // self.variants, self.image_count)

    def latents(self, indices: list[int], generator: torch.Generator) -> torch.Tensor:
        self.ensure(indices)
        means = torch.stack([self.means[index] for index in indices])
        if self.sampling != "random":
            return means
        deviations = torch.stack([self.deviations[index] for index in indices])
        return means + deviations * torch.randn(means.shape, generator=generator).to(means.device)

    def posterior_mean(self, image: int) -> torch.Tensor:
        """The un-mirrored posterior mean of an image, for validation."""
        self.ensure([image * self.variants])
        return self.validation_means[image]
