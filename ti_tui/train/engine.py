"""The training loop: one new word's vectors learned against a frozen Stable Diffusion model.

Read `Trainer.run` from top to bottom: load the model, then step (each image's latents are cached
the first time it is drawn), validating, saving and previewing on schedule, until the step count
is reached or someone asks to stop. Only
the vectors `[count, width]` are trained, in float32; the rest of the model is frozen, in the
precision the project chose. Every random draw comes from generators whose state is saved with
each checkpoint, so a resumed run continues exactly as an uninterrupted one would have.
"""

import copy
import io
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ti_tui import __version__
from ti_tui.dataset.training_set import TrainingItem, load_square_image
from ti_tui.embedding.files import Embedding, check_fits, read_embedding, write_embedding
from ti_tui.errors import UserError
from ti_tui.fsutil import atomic_write_bytes, file_sha256
from ti_tui.project.model import ProjectSettings
from ti_tui.sd.loading import LoadedModel, load_model
from ti_tui.sd.placeholder import PromptEncoder
from ti_tui.sd.tokens import initial_vectors
from ti_tui.train.distributed import ProcessGroup
from ti_tui.train.faults import Faults
from ti_tui.train.memory import estimate_training_memory
from ti_tui.train.prompts import TagOptions, build_prompt, load_templates, pick_template
from ti_tui.train.run import FINAL_EVENT, EventWriter, RunDirectory
from ti_tui.train.schedule import LearningRateSchedule

VALIDATION_TIMESTEPS = (100, 300, 500, 700, 900)
VALIDATION_IMAGES = 16
VALIDATION_SEED = 20_000
LATENT_SEED = 10_000
LATENT_SEED_STRIDE = 1_000_003  # more than any dataset's images: no two (seed, image) pairs share a draw
SMOOTHING = 0.95  # of the displayed loss; each step moves it 5% of the way
GIVE_UP_AFTER = 3  # non-finite steps in a row before the run stops
SMALL_GPU_BYTES = 12 * 2**30
RANK_SEED_STRIDE = 1_000_003  # each data-parallel process draws its own noise
FP16_LOSS_SCALE = 2.0**16
LOSS_SCALE_GROWTH_STEPS = 500


@dataclass
class RunPlan:
    """What run.json says, typed: the run is self-contained even if the project changes later."""

    project_root: Path
    settings: ProjectSettings
    steps: int
    vector_count: int
    items: list[TrainingItem]
    digests: list[str]
    initial_embedding: Path | None

    @classmethod
    def of(cls, run: RunDirectory) -> "RunPlan":
        facts = run.read()
        initial = facts.get("initial_embedding")
        return cls(
            project_root=Path(facts["project"]),
            settings=ProjectSettings.model_validate(facts["settings"]),
            steps=facts["steps"],
            vector_count=facts["vectors"],
            items=[TrainingItem(Path(item["image"]), item["caption"]) for item in facts["images"]],
            digests=[item["sha256"] for item in facts["images"]],
            initial_embedding=Path(initial) if initial else None,
        )

    def check_images_unchanged(self, run: RunDirectory) -> None:
        """A run trains on the images it started with; anything else would not be the same run."""
        for item, digest in zip(self.items, self.digests):
            if not item.image.is_file() or file_sha256(item.image) != digest:
                what = "is gone" if not item.image.is_file() else "has changed"
                raise UserError(
                    f"{item.image} {what} since run {run.id} started, so it cannot go on as the same run. "
                    "Start a new run from its last checkpoint instead (ti-tui train PROJECT --from CHECKPOINT)"
                )


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


class StopTraining(Exception):
    """Ends the loop early with a reason for the final event."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class Trainer:
    def __init__(self, run: RunDirectory, faults: Faults | None = None):
        self.run_dir = run
        self.plan = RunPlan.of(run)
        self.settings = self.plan.settings
        self.faults = faults or Faults()
        self.events: EventWriter | None = None
        self.stop_reason: str | None = None
        self.step = 0

    # The loop -----------------------------------------------------------------------------

    def run(self) -> str:
        """Train to the end, or until stopped; returns the reason written in the final event."""
        self.group = ProcessGroup()
        self.events = SilentEvents()
        try:
            if self.group.is_main:
                self.events = EventWriter(self.run_dir.events_file)
            self.events.write("started", pid=os.getpid(), version=__version__)
            self.plan.check_images_unchanged(self.run_dir)
            self.set_up()
            while self.step < self.plan.steps:
                self.obey_requests()
                started = time.monotonic()
                if not self.training_step():
                    continue  # rolled back; the step is tried again
                self.report_step(time.monotonic() - started)
                self.faults.after_step(self.step)
                if self.settings.training.validation_every and self.step % self.settings.training.validation_every == 0:
                    self.validate()
                if self.step % self.settings.training.save_every == 0 or self.step == self.plan.steps:
                    self.save_checkpoint()
                if self.settings.preview.every and self.step % self.settings.preview.every == 0:
                    self.render_previews()
            self.round_off()
            self.finish("completed", f"trained {self.step} steps")
            return "completed"
        except StopTraining as stop:
            self.finish(stop.reason, str(stop))
            return stop.reason
        except UserError as error:
            self.fail(str(error))
            return "failed"
        except OSError as error:
            self.fail(_disk_message(error, self.run_dir))
            return "failed"
        except BaseException as error:
            self.fail(f"{type(error).__name__}: {error} (the trainer's log has the details)")
            raise
        finally:
            self.events.close()
            self.group.close()

    def round_off(self) -> None:
        """The last step gets a validation loss and previews even when it is off their schedule."""
        if self.settings.training.validation_every and self.step % self.settings.training.validation_every:
            self.validate()
        if self.settings.preview.every and self.step % self.settings.preview.every:
            self.render_previews()

    def request_stop(self, why: str) -> None:
        """Called from a signal handler: the loop stops after the current step, with a checkpoint."""
        self.stop_reason = why

    # Setting up ---------------------------------------------------------------------------

    def set_up(self) -> None:
        settings = self.settings
        self.events.write("loading", what="model", model=settings.model.base)
        self.model: LoadedModel = load_model(settings.model, self.plan.project_root, device=self.group.device)
        self.device = self.model.pipeline.unet.device
        self.unet, self.vae = self.model.pipeline.unet, self.model.pipeline.vae
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.checkpointing = self._wants_gradient_checkpointing()
        if self.checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.noise_scheduler = _training_scheduler(self.model.pipeline.scheduler)
        self.resolution = settings.dataset.resolution or self.unet.config.sample_size * self.model.pipeline.vae_scale_factor
        self.templates = load_templates(settings.training.template, self.plan.project_root)
        self.tag_options = TagOptions(settings.training.shuffle_tags, settings.training.keep_tags, settings.training.tag_dropout)
        self.schedule = LearningRateSchedule.from_settings(settings.schedule, self.plan.steps)

        self.vectors = torch.nn.Parameter(self._starting_vectors())
        self.prompt_encoder = PromptEncoder(self.model.tokenizer, self.model.text_encoder)
        self.prompt_encoder.add(settings.token.trigger, self.vectors)
        self.optimizer = torch.optim.AdamW([self.vectors], lr=self.schedule.rate_at(1), weight_decay=0.0)
        own_seed = settings.training.seed + RANK_SEED_STRIDE * self.group.rank
        self.generator = torch.Generator().manual_seed(own_seed)
        self.prompt_random = random.Random(own_seed)
        self.learning_rate_scale = 1.0
        self.smoothed_loss: float | None = None
        self.step_durations: list[float] = []
        self.bad_steps = 0
        # fp16 gradients through the frozen model underflow unless the loss is scaled up first.
        self.scales_loss = self.unet.dtype == torch.float16
        self.loss_scale = FP16_LOSS_SCALE if self.scales_loss else 1.0

        self.start_latent_cache()
        self.order = DataOrder(len(self.latent_cache), settings.training.seed)
        self.resume_if_interrupted()
        self.last_good = self._snapshot()
        memory = estimate_training_memory(self.model.pipeline, self.resolution, settings.training.batch_size, self.checkpointing)
        self.events.write(
            "config",
            steps=self.plan.steps,
            start_step=self.step,
            schedule=self.schedule.describe(),
            images=len(self.plan.items),
            training_images=len(self.latent_cache),
            vectors=self.plan.vector_count,
            resolution=self.resolution,
            batch_size=settings.training.batch_size,
            gradient_accumulation=settings.training.gradient_accumulation,
            processes=self.group.size,
            device=str(self.device),
            dtype=str(self.unet.dtype).removeprefix("torch."),
            model=self.model.name,
            model_hash=self.model.short_hash,
            family=self.model.family.label,
            gradient_checkpointing=self.checkpointing,
            memory_estimate_mb=round(memory.total_mb),
            memory_estimate=memory.describe(),
        )
        if self.step == 0 and settings.training.validation_every:
            self.validate()

    def _wants_gradient_checkpointing(self) -> bool:
        choice = self.settings.training.gradient_checkpointing
        if choice != "auto":
            return choice == "on"
        return self.device.type == "cuda" and torch.cuda.get_device_properties(self.device).total_memory < SMALL_GPU_BYTES

    def _starting_vectors(self) -> torch.Tensor:
        if self.plan.initial_embedding is not None:
            embedding_file = read_embedding(self.plan.initial_embedding)
            check_fits(embedding_file, self.model.family.label, self.model.text_width)
            return embedding_file.embedding.vectors.to(self.device)
        return initial_vectors(
            self.settings.token.init_text,
            self.plan.vector_count,
            self.model.tokenizer,
            self.model.text_encoder.get_input_embeddings(),
            self.settings.training.seed,
        ).to(self.device)

    def start_latent_cache(self) -> None:
        self.latent_cache = LatentCache(
            self._encode_image,
            len(self.plan.items),
            2 if self.settings.dataset.flip else 1,
            self.settings.training.latent_sampling,
            self.settings.training.seed,
            self._note_encoded,
        )

    def _encode_image(self, image_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.plan.items[image_index]
        image = load_square_image(item.image, self.resolution, self.settings.dataset.background)
        pixels = torch.from_numpy(_as_array(image)).permute(2, 0, 1).float() / 127.5 - 1.0
        variants = [pixels, pixels.flip(-1)] if self.settings.dataset.flip else [pixels]
        self.vae.to(self.device)
        with torch.no_grad():
            posterior = self.vae.encode(torch.stack(variants).to(self.device, self.vae.dtype)).latent_dist
        scale = self.vae.config.scaling_factor
        return posterior.mean.float() * scale, posterior.std.float() * scale

    def _note_encoded(self, done: int, total: int) -> None:
        self.events.write("caching", done=done, total=total)
        if done == total and self.device.type != "cpu":
            self.vae.to("cpu")  # every latent is in: the VAE leaves the GPU until previews need it

    # One step -----------------------------------------------------------------------------

    def training_step(self) -> bool:
        """One optimiser step; False when it went non-finite and was rolled back."""
        training = self.settings.training
        rate = self.schedule.rate_at(self.step + 1) * self.learning_rate_scale
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        losses = []
        for _ in range(training.gradient_accumulation):
            # Every process takes the same draw from the shared order, and trains on its own slice of it.
            indices = self.order.take(training.batch_size * self.group.size)
            mine = indices[self.group.rank * training.batch_size : (self.group.rank + 1) * training.batch_size]
            loss = self.faults.loss(self.step + 1, self.compute_loss(mine))
            (loss * (self.loss_scale / training.gradient_accumulation)).backward()
            losses.append(loss.detach())
        self.group.average(self.vectors.grad).div_(self.loss_scale)
        loss_value = self.group.average(torch.stack(losses).mean()).item()
        if self.scales_loss and math.isfinite(loss_value) and not torch.isfinite(self.vectors.grad).all() and self.loss_scale > 1:
            # fp16 gradients overflowed at this scale: try the step again at half of it.
            self.loss_scale /= 2
            self.optimizer.zero_grad(set_to_none=True)
            return False
        if training.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_([self.vectors], training.clip_grad_norm)
        if not math.isfinite(loss_value) or not torch.isfinite(self.vectors.grad).all():
            self.roll_back(f"the loss at step {self.step + 1} was not a number")
            return False
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(self.vectors).all():
            self.roll_back(f"the vectors stopped being numbers at step {self.step + 1}")
            return False
        self.step += 1
        self.bad_steps = 0
        if self.scales_loss and self.step % LOSS_SCALE_GROWTH_STEPS == 0:
            self.loss_scale = min(self.loss_scale * 2, FP16_LOSS_SCALE)
        self.last_loss, self.last_rate = loss_value, rate
        self.smoothed_loss = loss_value if self.smoothed_loss is None else SMOOTHING * self.smoothed_loss + (1 - SMOOTHING) * loss_value
        self.last_good = self._snapshot()
        return True

    def compute_loss(self, indices: list[int]) -> torch.Tensor:
        """Noise the cached latents to random timesteps and ask the UNet, told the prompt, to undo it."""
        latents = self.latent_cache.latents(indices, self.generator)
        noise = torch.randn(latents.shape, generator=self.generator).to(self.device)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(indices),), generator=self.generator).to(self.device)
        prompts = [self._training_prompt(index) for index in indices]
        return self._denoising_loss(latents, noise, timesteps, prompts, weighted=True).mean()

    def _training_prompt(self, index: int) -> str:
        item = self.plan.items[index // 2 if self.settings.dataset.flip else index]
        template = pick_template(self.templates, self.prompt_random)
        return build_prompt(template, self.settings.token.trigger, item.caption, self.tag_options, self.prompt_random)

    def _denoising_loss(self, latents, noise, timesteps, prompts, weighted: bool) -> torch.Tensor:
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        conditioning = self.prompt_encoder.encode(prompts)
        prediction = self.unet(noisy.to(self.unet.dtype), timesteps, encoder_hidden_states=conditioning).sample.float()
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        loss = F.mse_loss(prediction, target.float(), reduction="none").mean(dim=(1, 2, 3))
        gamma = self.settings.training.min_snr_gamma
        if weighted and gamma:
            loss = loss * self._min_snr_weights(timesteps, gamma)
        return loss

    def _min_snr_weights(self, timesteps, gamma: float) -> torch.Tensor:
        alphas = self.noise_scheduler.alphas_cumprod.to(timesteps.device)[timesteps]
        snr = alphas / (1 - alphas)
        clipped = torch.clamp(snr, max=gamma)
        return clipped / (snr + 1) if self.noise_scheduler.config.prediction_type == "v_prediction" else clipped / snr

    def roll_back(self, what: str) -> None:
        """A non-finite step: go back to the last good vectors and optimiser, halve the rate, try again."""
        vectors, optimizer_state = self.last_good
        with torch.no_grad():
            self.vectors.copy_(vectors)
        self.optimizer.load_state_dict(copy.deepcopy(optimizer_state))
        self.optimizer.zero_grad(set_to_none=True)
        self.bad_steps += 1
        if self.bad_steps >= GIVE_UP_AFTER:
            raise UserError(
                f"training diverged: {what}, {GIVE_UP_AFTER} times in a row even at a lower learning rate; "
                "lower the learning rate in [schedule] and continue from the last checkpoint"
            )
        self.learning_rate_scale /= 2
        self.events.write(
            "warning",
            step=self.step,
            message=f"{what}; went back to step {self.step} and halved the learning rate (now x{self.learning_rate_scale:g})",
        )

    def _snapshot(self):
        return self.vectors.detach().clone(), copy.deepcopy(self.optimizer.state_dict())

    # Reports, validation, checkpoints, previews -------------------------------------------

    def report_step(self, duration: float) -> None:
        # Speed over the last steps alone, so a validation or preview pass does not look like a slow-down.
        self.step_durations = (self.step_durations + [duration])[-20:]
        steps_per_second = len(self.step_durations) / sum(self.step_durations)
        remaining = self.plan.steps - self.step
        self.events.write(
            "step",
            step=self.step,
            total=self.plan.steps,
            loss=self.last_loss,
            loss_smoothed=self.smoothed_loss,
            lr=self.last_rate,
            steps_per_s=steps_per_second,
            eta_s=remaining / steps_per_second,
            norms=[round(norm, 5) for norm in self.vectors.detach().norm(dim=1).tolist()],
            memory_mb=_memory_in_use(self.device),
        )

    def validate(self) -> None:
        """The loss on fixed noise at fixed timesteps over the training images: comparable from step to step."""
        if not self.group.is_main:
            return
        losses = []
        images = range(min(VALIDATION_IMAGES, len(self.plan.items)))
        with torch.no_grad():
            for index in images:
                if self._stop_asked():
                    return  # a loss over some of the images would not compare with the others
                latent = self.latent_cache.posterior_mean(index)
                generator = torch.Generator().manual_seed(VALIDATION_SEED + index)
                latents = latent.unsqueeze(0).expand(len(VALIDATION_TIMESTEPS), -1, -1, -1)
                noise = torch.randn(latents.shape, generator=generator).to(latents.device)
                timesteps = torch.tensor(VALIDATION_TIMESTEPS, device=latents.device)
                item = self.plan.items[index]
                prompt = build_prompt(self.templates[0], self.settings.token.trigger, item.caption, TagOptions(), random.Random(0))
                losses.append(self._denoising_loss(latents, noise, timesteps, [prompt] * len(VALIDATION_TIMESTEPS), weighted=False).mean().item())
        self.events.write("validation", step=self.step, loss=sum(losses) / len(losses))

    def save_checkpoint(self) -> None:
        """The embedding file (usable on its own) and, beside it, everything needed to resume exactly."""
        generators = self.group.gather((self.generator.get_state(), self.prompt_random.getstate()))
        if not self.group.is_main:
            return
        self.faults.before_save(self.step)
        trigger = self.settings.token.trigger
        checkpoint = self.run_dir.checkpoint_paths(trigger, self.step)
        checkpoint.embedding.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "step": self.step,
            "vectors": self.vectors.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "generators": [state for state, _ in generators],
            "prompt_randoms": [state for _, state in generators],
            "order": self.order.state(),
            "learning_rate_scale": self.learning_rate_scale,
            "loss_scale": self.loss_scale,
            "smoothed_loss": self.smoothed_loss,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        # The resume state first: an embedding file on disk then always has its state beside it.
        atomic_write_bytes(checkpoint.state, buffer.getvalue())
        write_embedding(self.embedding(), checkpoint.embedding, "safetensors")
        self.events.write("checkpoint", step=self.step, path=str(checkpoint.embedding))

    def embedding(self) -> Embedding:
        return Embedding(
            self.vectors.detach().cpu(),
            trigger=self.settings.token.trigger,
            step=self.step,
            init_text=self.settings.token.init_text,
            base_model=self.model.name,
            base_model_hash=self.model.short_hash or "",
        )

    def resume_if_interrupted(self) -> None:
        checkpoints = self.run_dir.resumable_checkpoints()
        if not checkpoints:
            return
        checkpoint = checkpoints[-1]
        state = torch.load(checkpoint.state, map_location="cpu", weights_only=True)
        with torch.no_grad():
            self.vectors.copy_(state["vectors"].to(self.device))
        self.optimizer.load_state_dict(state["optimizer"])
        if len(state["generators"]) == self.group.size:
            self.generator.set_state(state["generators"][self.group.rank])
            self.prompt_random.setstate(_as_random_state(state["prompt_randoms"][self.group.rank]))
        self.order.restore(state["order"])
        self.learning_rate_scale = state["learning_rate_scale"]
        self.loss_scale = state["loss_scale"]
        self.smoothed_loss = state["smoothed_loss"]
        self.step = state["step"]
        self.events.write("resumed_from", step=self.step, path=str(checkpoint.embedding))

    def render_previews(self) -> None:
        """Images at fixed seeds: each prompt with the trigger, and with the init words to compare."""
        if not self.group.is_main:
            return
        self.run_dir.previews_dir.mkdir(parents=True, exist_ok=True)
        self.vae.to(self.device)
        try:
            self._render_preview_images()
        finally:
            if self.device.type != "cpu":
                self.vae.to("cpu")

    def _render_preview_images(self) -> None:
        from PIL.PngImagePlugin import PngInfo

        preview = self.settings.preview
        trigger, init_text = self.settings.token.trigger, self.settings.token.init_text
        with torch.no_grad():
            negative = self.prompt_encoder.encode([preview.negative_prompt])
            for number, template in enumerate(preview.prompts, start=1):
                variants = [("", template.replace("[name]", trigger))]
                if preview.compare_init and init_text:
                    variants.append(("-init", template.replace("[name]", init_text)))
                for suffix, prompt in variants:
                    conditioning = self.prompt_encoder.encode([prompt])
                    for seed in preview.seeds:
                        if self._stop_asked():
                            return
                        image = self.model.pipeline(
                            prompt_embeds=conditioning,
                            negative_prompt_embeds=negative,
                            num_inference_steps=preview.sampling_steps,
                            guidance_scale=preview.cfg_scale,
                            height=self.resolution,
                            width=self.resolution,
                            generator=torch.Generator().manual_seed(seed),
                        ).images[0]
                        path = self.run_dir.previews_dir / f"step-{self.step}-p{number}-s{seed}{suffix}.png"
                        info = PngInfo()
                        info.add_text(
                            "parameters",
                            f"{prompt}\nSteps: {preview.sampling_steps}, CFG scale: {preview.cfg_scale}, Seed: {seed}, "
                            f"Size: {self.resolution}x{self.resolution}, Model: {self.model.name}, Embedding step: {self.step}",
                        )
                        image.save(path, pnginfo=info)
                        self.events.write("preview", step=self.step, path=str(path), seed=seed, prompt=prompt, init=bool(suffix))

    # Requests and the end -----------------------------------------------------------------

    def obey_requests(self) -> None:
        """Between steps: act on what was asked through control/ or by a signal (process 0 decides for all)."""
        requests = self._requests()
        for name in ("save-now", "preview-now"):
            if name in requests and self.group.is_main:
                self.run_dir.withdraw(name)
        if "save-now" in requests:
            self.save_checkpoint()
        if "preview-now" in requests:
            self.render_previews()
        if "pause" in requests and "stop" not in requests:
            requests = self.wait_while_paused()
        if "stop" in requests:
            if self.group.is_main:
                self.run_dir.withdraw("stop")
                self.run_dir.withdraw("pause")  # a resumed run should not start out paused
            why = self.group.decide(self.stop_reason or "stopped on request")
            if self.step and not self.run_dir.checkpoint_paths(self.settings.token.trigger, self.step).embedding.exists():
                self.save_checkpoint()
            raise StopTraining("stopped", f"{why} at step {self.step}")

    def _stop_asked(self) -> bool:
        """Checked between the images of a validation or preview pass, which take minutes on a CPU."""
        return self.stop_reason is not None or "stop" in self.run_dir.pending_requests()

    def _requests(self) -> set[str]:
        return self.group.decide(self.run_dir.pending_requests() | ({"stop"} if self.stop_reason else set()))

    def wait_while_paused(self) -> set[str]:
        self.events.write("paused", step=self.step)
        requests = {"pause"}
        while "pause" in requests and "stop" not in requests:
            time.sleep(0.5)
            requests = self._requests()
        if "stop" not in requests:
            self.events.write("resumed", step=self.step)
        return requests

    def finish(self, reason: str, message: str) -> None:
        self.events.write(FINAL_EVENT, reason=reason, message=message, step=self.step)

    def fail(self, message: str) -> None:
        try:
            self.events.write("error", message=message, step=self.step)
            self.finish("failed", message)
        except OSError:
            pass  # with the disk full even this may not fit; the missing final event then reads as "lost"


class SilentEvents:
    """The event log of processes other than the first: they have nothing to add."""

    def write(self, kind: str, **fields) -> None:
        return None

    def close(self) -> None:
        return None


def _training_scheduler(inference_scheduler):
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(inference_scheduler.config)


def _as_array(image):
    import numpy

    return numpy.asarray(image, dtype=numpy.uint8).copy()


def _as_random_state(state):
    # torch.load gives the state's inner tuple back as a list.
    version, internal, gauss = state
    return version, tuple(internal), gauss


def _memory_in_use(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _disk_message(error: OSError, run: RunDirectory) -> str:
    import errno

    if error.errno == errno.ENOSPC:
        kept = run.resumable_checkpoints()
        if not kept:
            return f"the disk is full ({run.path}) and no checkpoint had been saved yet: free some space and start again"
        return (
            f"the disk is full ({run.path}): the checkpoint at step {kept[-1].step} is intact. Free some space, "
            f"then resume the run (ti-tui train PROJECT --resume {run.id})"
        )
    return f"{error.filename or 'a file'}: {error.strerror or error}"
