"""How much memory a run will need, estimated before the first step from the model's shapes.

Weights: every parameter of the UNet, text encoder and VAE at the precision they were loaded in.
Activations: what the UNet keeps for the backward pass, in proportion to the batch, the latent
area and the UNet's channel widths (level by level, each level a quarter of the area of the one
above); the constant was measured on the SD 1.5 shapes (bench/RESULTS.md). On a CPU the process
itself (Python, torch and the libraries) adds a fixed amount; on a GPU the figure is what PyTorch
allocates.
"""

from dataclasses import dataclass

# Bytes the UNet keeps for the backward pass per latent pixel, per unit of channel load (channel
# width / 4^level summed over levels), per byte of precision. Measured on SD 1.5 shapes, CPU, fp32.
ACTIVATION_BYTES = 180.0
GRADIENT_CHECKPOINTING_SHARE = 0.25  # of the activations that checkpointing keeps
CPU_PROCESS_MB = 425.0  # Python, torch, diffusers and transformers imported, before any model


@dataclass(frozen=True)
class MemoryEstimate:
    weights_mb: float
    activations_mb: float
    process_mb: float

    @property
    def total_mb(self) -> float:
        return self.weights_mb + self.activations_mb + self.process_mb

    def describe(self) -> str:
        parts = f"weights {self.weights_mb / 1024:.1f} + activations {self.activations_mb / 1024:.1f}"
        if self.process_mb:
            parts += f" + process {self.process_mb / 1024:.1f}"
        return f"about {self.total_mb / 1024:.1f} GiB ({parts} GiB)"


def estimate_from_shapes(
    weight_bytes: int,
    unet_channels: list[int],
    resolution: int,
    batch: int,
    activation_width: int,
    on_cpu: bool,
    checkpointing: bool = False,
) -> MemoryEstimate:
    latent_pixels = (resolution // 8) ** 2
    channel_load = sum(channels / 4**level for level, channels in enumerate(unet_channels))
    activations = ACTIVATION_BYTES * batch * latent_pixels * channel_load * activation_width
    if checkpointing:
        activations *= GRADIENT_CHECKPOINTING_SHARE
    return MemoryEstimate(
        weights_mb=weight_bytes / 2**20,
        activations_mb=activations / 2**20,
        process_mb=CPU_PROCESS_MB if on_cpu else 0.0,
    )


def estimate_training_memory(pipeline, resolution: int, batch: int, checkpointing: bool) -> MemoryEstimate:
    """The estimate for a loaded pipeline, before any step has run."""
    weight_bytes = sum(
        parameter.numel() * parameter.element_size()
        for module in (pipeline.unet, pipeline.vae, pipeline.text_encoder)
        for parameter in module.parameters()
    )
    return estimate_from_shapes(
        weight_bytes,
        list(pipeline.unet.config.block_out_channels),
        resolution,
        batch,
        activation_width=pipeline.unet.dtype.itemsize,
        on_cpu=pipeline.unet.device.type == "cpu",
        checkpointing=checkpointing,
    )
