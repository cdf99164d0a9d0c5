"""How much memory the training steps of a run will need, estimated before the first step.

Weights: every parameter of the UNet, text encoder and VAE at the precision they were loaded in.
Activations: what the UNet keeps for the backward pass, in proportion to the batch, the latent
area and the UNet's channel widths (level by level, each level a quarter of the area of the one
above); the constant was measured on the SD 1.5 shapes (bench/RESULTS.md). On a CPU the process
itself (Python, torch and the libraries) adds a fixed amount; on a GPU the figure is what PyTorch
allocates, without the CUDA context. Previews decode full-size images with the VAE, which can
need more for a moment; they are not counted.
"""

from dataclasses import dataclass

# Bytes the UNet keeps for the backward pass per latent pixel, per unit of channel load (channel
# width / 4^level summed over levels), per byte of precision. Fitted to the peak resident size of
# our trainer on SD 1.5 shapes, 256-512 px, batch 1-4, in bf16 and fp32 on a CPU (bench/RESULTS.md).
ACTIVATION_BYTES = 195.0
# Of the activations, what checkpointing each UNet block keeps: the blocks' inputs and one block's
# insides at a time. Not measured yet: no GPU was at hand, where checkpointing is switched on.
GRADIENT_CHECKPOINTING_SHARE = 0.25
# Python, torch, diffusers and transformers imported (425 MB), and what torch holds while training
# besides the tensors: kernel caches, work buffers, freed memory not yet given back (250 MB).
CPU_PROCESS_MB = 675.0


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
    latent_size: int,
    batch: int,
    bytes_per_element: int,
    on_cpu: bool,
    checkpointing: bool = False,
) -> MemoryEstimate:
    channel_load = sum(channels / 4**level for level, channels in enumerate(unet_channels))
    activations = ACTIVATION_BYTES * batch * latent_size**2 * channel_load * bytes_per_element
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
        resolution // pipeline.vae_scale_factor,
        batch,
        bytes_per_element=pipeline.unet.dtype.itemsize,
        on_cpu=pipeline.unet.device.type == "cpu",
        checkpointing=checkpointing,
    )
