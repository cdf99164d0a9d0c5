"""The training loop: one new word's vectors learned against a frozen Stable Diffusion model.

Read `Trainer.run` from top to bottom: load the model, then step, validating, saving and
previewing when due, until the step count is reached or someone asks to stop. Only the vectors
`[count, width]` are trained, in float32; the rest of the model is frozen, in the precision the
project chose. Every random draw comes from generators whose state `TrainingState` saves with each
checkpoint, so a resumed run continues exactly as an uninterrupted one would have.
"""

import copy
import errno
import io
import math
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

import torch
import torch.nn.functional as F

from ti_tui import __version__
from ti_tui.dataset.training_set import load_square_image
from ti_tui.embedding.files import Embedding, check_fits, read_embedding, write_embedding
from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.fsutil import atomic_write_bytes, file_sha256
from ti_tui.infer.render import RenderRequest, parameters_text, render, save_png
from ti_tui.intervals import VALIDATION_IMAGES, VALIDATION_TIMESTEPS, run_intervals
from ti_tui.prompts import TagOptions, build_prompt, load_templates, pick_template
from ti_tui.runs import FINAL_EVENT, EventWriter, RunDirectory, describe_event
from ti_tui.runs.timing import COMMAND_SECONDS, count_work, phases_from_step, run_seconds
from ti_tui.samplers import web_ui_name
from ti_tui.schedule import LearningRateSchedule
from ti_tui.sd.loading import LoadedModel, load_model
from ti_tui.sd.placeholder import PromptEncoder
from ti_tui.sd.tokens import initial_vectors
from ti_tui.torch_files import load_plain_torch_file
from ti_tui.train.data import DataOrder, LatentCache
from ti_tui.train.distributed import ProcessGroup
from ti_tui.train.faults import Faults
from ti_tui.train.memory import estimate_training_memory

VALIDATION_SEED = 20_000
SMOOTHING = 0.95  # of the displayed loss; each step moves it 5% of the way
GIVE_UP_AFTER = 3  # non-finite steps in a row before the run stops
SMALL_GPU_BYTES = 12 * 2**30
RANK_SEED_STRIDE = 1_000_003  # each data-parallel process draws its own noise
FP16_LOSS_SCALE = 2.0**16
LOSS_SCALE_GROWTH_STEPS = 500
NOT_IN_THE_LOG = ("step", "caching", "preview", "validating", "previewing")  # events too many to repeat in trainer.log


class Trainer:
    """One run's training; `run` is the whole of it, and the methods below it come in the order it uses them."""

    def __init__(self, run: RunDirectory, faults: Faults | None = None):
        self.run_dir = run
        self.facts = run.facts()
        self.settings = self.facts.settings
        self.intervals = run_intervals(self.settings, self.facts.steps)  # "auto" spread over this run's own steps
        self.faults = faults or Faults()
        self.events: LoggedEvents | SilentEvents = SilentEvents()
        self.stop_reason: str | None = None  # set from a signal handler
        # Made by set_up(): the frozen model and what reads it, the schedule, the images' latents,
        # what a checkpoint saves, and the two guards of a step.
        self.group: ProcessGroup
        self.frozen: FrozenModel
        self.schedule: LearningRateSchedule
        self.latent_cache: LatentCache
        self.state: TrainingState | None = None
        self.loss_scaler: LossScaler
        self.rollback: Rollback
        self.step_durations: list[float] = []
        # What this life measured of the work besides steps, for the time left: seconds each.
        self.encode_seconds = 0.0
        self.validation_image_seconds: list[float] = []
        self.preview_image_seconds: list[float] = []
        self.checkpoint_seconds: list[float] = []

    def run(self) -> str:
        """Train to the end, or until stopped; returns the reason written in the final event."""
        self.group = ProcessGroup()
        try:
            if self.group.is_main:
                self.events = LoggedEvents(sys.stderr)
                self.events.open(self.run_dir.events_file)
            self.events.write("started", pid=os.getpid(), version=__version__)
            self.check_images_unchanged()
            self.make_folders()
            self.set_up()
            while self.state.step < self.facts.last_step:
                self.obey_requests()
                started = time.monotonic()
                result = self.training_step()
                if result is None:
                    continue  # went non-finite and was undone; the step is tried again
                self.report_step(*result, time.monotonic() - started)
                self.faults.after_step(self.state.step)
                self.do_what_is_due()
            self.finish("completed", f"trained {self.state.step - self.facts.first_step} steps")
            return "completed"
        except StopTraining as stop:
            self.finish(stop.reason, str(stop))
            return stop.reason
        except UserError as error:
            self.fail(str(error), error.fix)
            return "failed"
        except OSError as error:
            self.fail(*_disk_message(error, self.run_dir))
            return "failed"
        except (torch.OutOfMemoryError, MemoryError) as error:
            self.fail(*self.out_of_memory_advice(error))
            return "failed"
        except BaseException as error:
            self.fail(f"{type(error).__name__}: {error} (the trainer's log has the details)")
            raise
        finally:
            self.events.close()
            self.group.close()

    def out_of_memory_advice(self, error: BaseException) -> tuple[str, Fix | None]:
        """What ran out, what is kept, and the settings to change, the one that saves most first."""
        frozen = getattr(self, "frozen", None)  # None when the model itself did not fit
        step = self.state.step + 1 if self.state is not None else 0
        batch = self.settings.training.batch_size
        choices = []
        if batch > 1:
            choices.append(("training.batch_size", f"training.batch_size = {batch // 2} (now {batch})"))
        if frozen is None or not frozen.checkpointing:
            choices.append(("training.gradient_checkpointing", 'training.gradient_checkpointing = "on"'))
        if frozen is not None and frozen.resolution > 256:
            choices.append(("dataset.resolution", f"dataset.resolution = {frozen.resolution - 128} (now {frozen.resolution})"))
        kept = self.run_dir.resumable_checkpoints(self.facts)
        where = f"the checkpoint at step {kept[-1].step} is kept" if kept else "no checkpoint had been saved yet"
        device = frozen.device if frozen is not None else "the device"
        if not choices:
            return f"step {step} ran out of memory on {device} ({error}); {where}. Free the device's memory, then resume the run", Fix(
                "resume", self.run_dir.id
            )
        advice = "; ".join(text for _, text in choices)
        then = "continue from the checkpoint as a new run" if kept else "start a new run"
        message = (
            f"step {step} ran out of memory on {device} ({error}); {where}. Set, one at a time, {advice}, "
            f"and {then}; or resume this run as it is once more memory is free"
        )
        return message, Fix("edit-setting", choices[0][0])

    def request_stop(self, why: str) -> None:
        """Called from a signal handler: the loop stops after the current step, with a checkpoint."""
        self.stop_reason = why

    def check_images_unchanged(self) -> None:
        """A run trains on the images it started with; anything else would not be the same run."""
        for item in self.facts.images:
            if not item.image.is_file() or file_sha256(item.image) != item.sha256:
                what = "is gone" if not item.image.is_file() else "has changed"
                checkpoints = self.run_dir.checkpoints(self.facts)
                raise UserError(
                    f"{item.image} {what} since run {self.run_dir.id} started, so it cannot go on as the same run; "
                    "start a new run from its last checkpoint instead",
                    Fix("continue-from", os.fspath(checkpoints[-1].embedding)) if checkpoints else Fix("train"),
                )

    def make_folders(self) -> None:
        """Where checkpoints go, made before the model loads: a file in the way is found now, not at the first save."""
        if self.group.is_main:
            self.run_dir.make_folders(self.run_dir.checkpoints_dir, self.run_dir.resume_dir)

    # Setting up -----------------------------------------------------------------------------

    def set_up(self) -> None:
        settings, training = self.settings, self.settings.training
        self.events.write("loading", what="model", model=settings.model.base)
        self.frozen = FrozenModel.load(self.facts, self.group)
        self.schedule = LearningRateSchedule.from_settings(settings.schedule, self.facts.steps)
        self.latent_cache = LatentCache(
            self.encode_image,
            len(self.facts.images),
            2 if settings.dataset.flip else 1,
            training.latent_sampling,
            training.seed,
            self.note_encoded,
        )
        vectors = torch.nn.Parameter(self.starting_vectors())
        self.frozen.prompt_encoder.add(settings.token.trigger, vectors)
        own_seed = training.seed + RANK_SEED_STRIDE * self.group.rank
        self.state = TrainingState(
            step=self.facts.first_step,
            vectors=vectors,
            optimizer=torch.optim.AdamW([vectors], lr=self.schedule.rate_at(1), weight_decay=0.0),
            generator=torch.Generator().manual_seed(own_seed),
            prompt_random=random.Random(own_seed),
            order=DataOrder(len(self.latent_cache), training.seed),
            # fp16 gradients through the frozen model underflow unless the loss is scaled up first.
            loss_scale=FP16_LOSS_SCALE if self.frozen.unet.dtype == torch.float16 else 1.0,
        )
        self.resume_if_interrupted()
        self.loss_scaler = LossScaler(self.state, enabled=self.frozen.unet.dtype == torch.float16)
        self.rollback = Rollback(self.state, self.events)
        self.describe_the_run()
        if self.state.step == self.facts.first_step and self.intervals.validation:
            self.validate()

    def starting_vectors(self) -> torch.Tensor:
        model = self.frozen.model
        if self.facts.initial_embedding is not None:
            embedding_file = read_embedding(self.facts.initial_embedding)
            check_fits(embedding_file, model.family.label, model.text_width)
            return embedding_file.embedding.vectors.to(self.frozen.device)
        token_table = model.text_encoder.get_input_embeddings()
        return initial_vectors(
            self.settings.token.init_text, self.facts.vectors, model.tokenizer, token_table, self.settings.training.seed
        ).to(self.frozen.device)

    def resume_if_interrupted(self) -> None:
        """Go on from the newest checkpoint whose resume state loads; a damaged state is named and passed over."""
        checkpoints = self.run_dir.resumable_checkpoints(self.facts)
        damaged = []
        for checkpoint in reversed(checkpoints):
            try:
                self.state.load(checkpoint.state, self.group)
            except UserError as error:
                damaged.append(str(error))
                continue
            if damaged:
                self.events.write(
                    "warning",
                    step=checkpoint.step,
                    message=f"{'; '.join(damaged)}. Went back to step {checkpoint.step}, the newest checkpoint whose resume state loads",
                )
            self.events.write("resumed_from", step=self.state.step, path=str(checkpoint.embedding))
            return
        if damaged:
            raise UserError(
                f"run {self.run_dir.id} cannot go on: the resume state of each of its checkpoints is damaged ({'; '.join(damaged)}). "
                "Start a new run from its last checkpoint instead",
                Fix("continue-from", os.fspath(checkpoints[-1].embedding)),
            )

    def describe_the_run(self) -> None:
        settings, frozen = self.settings, self.frozen
        memory = estimate_training_memory(frozen.model.pipeline, frozen.resolution, settings.training.batch_size, frozen.checkpointing)
        self.events.write(
            "config",
            steps=self.facts.last_step,
            start_step=self.state.step,
            schedule=self.schedule.describe(self.facts.first_step),
            images=len(self.facts.images),
            training_images=len(self.latent_cache),
            vectors=self.facts.vectors,
            resolution=frozen.resolution,
            batch_size=settings.training.batch_size,
            gradient_accumulation=settings.training.gradient_accumulation,
            processes=self.group.size,
            device=str(frozen.device),
            dtype=str(frozen.unet.dtype).removeprefix("torch."),
            model=frozen.model.name,
            model_hash=frozen.model.short_hash,
            family=frozen.model.family.label,
            typical_norm=round(_typical_token_norm(frozen.model.text_encoder), 5),  # what the vectors' lengths are judged against
            gradient_checkpointing=frozen.checkpointing,
            memory_estimate_mb=round(memory.total_mb),
            memory_estimate=memory.describe(),
            load_s=round(time.time() - _process_started(), 2),
            save_every=self.intervals.save,
            validation_every=self.intervals.validation,
            preview_every=self.intervals.preview,
        )

    def encode_image(self, image_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """An image's latent mean and deviation, and its mirror image's after it when flips are on."""
        frozen = self.frozen
        image = load_square_image(self.facts.images[image_index].image, frozen.resolution, self.settings.dataset.background)
        pixels = torch.from_numpy(_as_array(image)).permute(2, 0, 1).float() / 127.5 - 1.0
        variants = [pixels, pixels.flip(-1)] if self.settings.dataset.flip else [pixels]
        frozen.vae.to(frozen.device)
        started = time.monotonic()
        with torch.no_grad():
            posterior = frozen.vae.encode(torch.stack(variants).to(frozen.device, frozen.vae.dtype)).latent_dist
        scale = frozen.vae.config.scaling_factor
        latents = posterior.mean.float() * scale, posterior.std.float() * scale
        self.encode_seconds = time.monotonic() - started
        return latents

    def note_encoded(self, done: int, total: int) -> None:
        self.events.write("caching", done=done, total=total, seconds=round(self.encode_seconds, 3))
        if done == total and self.frozen.device.type != "cpu":
            self.frozen.vae.to("cpu")  # every latent is in: the VAE leaves the GPU until previews need it

    # One step -------------------------------------------------------------------------------

    def training_step(self) -> tuple[float, float] | None:
        """One optimiser step: its (loss, learning rate), or None when it went non-finite and was undone."""
        state = self.state
        rate = self.schedule.rate_at(state.step + 1 - self.facts.first_step) * state.learning_rate_scale
        for group in state.optimizer.param_groups:
            group["lr"] = rate
        loss = self.gradients()
        if self.loss_scaler.overflowed(loss, state.vectors.grad):
            state.optimizer.zero_grad(set_to_none=True)
            return None
        if self.settings.training.clip_grad_norm:
            torch.nn.utils.clip_grad_norm_([state.vectors], self.settings.training.clip_grad_norm)
        if not math.isfinite(loss) or not torch.isfinite(state.vectors.grad).all():
            self.rollback.undo(f"the loss at step {state.step + 1} was not a number")
            return None
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(state.vectors).all():
            self.rollback.undo(f"the vectors stopped being numbers at step {state.step + 1}")
            return None
        state.step += 1
        self.loss_scaler.grow(state.step)
        state.smoothed_loss = loss if state.smoothed_loss is None else SMOOTHING * state.smoothed_loss + (1 - SMOOTHING) * loss
        self.rollback.keep()
        return loss, rate

    def gradients(self) -> float:
        """The step's gradient in the vectors, over the accumulated batches and every process; returns the loss."""
        state, training, group = self.state, self.settings.training, self.group
        losses = []
        self.faults.in_step(state.step + 1)
        for _ in range(training.gradient_accumulation):
            # Every process takes the same draw from the shared order, and trains on its own slice of it.
            indices = state.order.take(training.batch_size * group.size)
            mine = indices[group.rank * training.batch_size : (group.rank + 1) * training.batch_size]
            loss = self.faults.loss(state.step + 1, self.compute_loss(mine))
            (loss * (state.loss_scale / training.gradient_accumulation)).backward()
            losses.append(loss.detach())
        group.average(state.vectors.grad).div_(state.loss_scale)
        return group.average(torch.stack(losses).mean()).item()

    def compute_loss(self, indices: list[int]) -> torch.Tensor:
        """Noise the cached latents to random timesteps and ask the UNet, told the prompt, to undo it."""
        generator, frozen = self.state.generator, self.frozen
        latents = self.latent_cache.latents(indices, generator)
        noise = torch.randn(latents.shape, generator=generator).to(frozen.device)
        timesteps = torch.randint(0, frozen.noise_scheduler.config.num_train_timesteps, (len(indices),), generator=generator).to(
            frozen.device
        )
        prompts = [self.training_prompt(index) for index in indices]
        return frozen.denoising_loss(latents, noise, timesteps, prompts, self.settings.training.min_snr_gamma).mean()

    def training_prompt(self, index: int) -> str:
        item = self.facts.images[index // 2 if self.settings.dataset.flip else index]
        template = pick_template(self.frozen.templates, self.state.prompt_random)
        return build_prompt(template, self.settings.token.trigger, item.caption, self.frozen.tag_options, self.state.prompt_random)

    # After a step ---------------------------------------------------------------------------

    def report_step(self, loss: float, rate: float, duration: float) -> None:
        # Speed over the last steps alone, so a validation or preview pass does not look like a slow-down.
        self.step_durations = (self.step_durations + [duration])[-20:]
        steps_per_second = len(self.step_durations) / sum(self.step_durations)
        state = self.state
        self.events.write(
            "step",
            step=state.step,
            total=self.facts.last_step,
            loss=loss,
            loss_smoothed=state.smoothed_loss,
            lr=rate,
            steps_per_s=steps_per_second,
            eta_s=self.seconds_left(1 / steps_per_second),
            norms=[round(norm, 5) for norm in state.vectors.detach().norm(dim=1).tolist()],
            memory_mb=_memory_in_use(self.frozen.device),
        )

    def seconds_left(self, step_seconds: float) -> float:
        """The steps still to train, and the latents, validation passes, checkpoints and previews due among
        them: each at what this life measured of it, or by its ratio to a step until it has."""
        training, preview = self.settings.training, self.settings.preview
        images_per_step = training.batch_size * training.gradient_accumulation
        phases = phases_from_step(step_seconds / images_per_step, 0.0, "this run")
        for field, seconds in (
            ("validation_image", self.validation_image_seconds),
            ("preview_image", self.preview_image_seconds),
            ("checkpoint", self.checkpoint_seconds),
        ):
            if seconds:
                phases = replace(phases, **{field: sum(seconds) / len(seconds)})
        if self.preview_image_seconds:
            phases = replace(phases, preview_sampling_steps=preview.sampling_steps, guided=preview.cfg_scale != 1)
        # Said after a step and before what is due at it: what is due counts from this step on.
        work = count_work(
            self.intervals,
            self.state.step - 1,
            self.facts.last_step,
            len(self.facts.images),
            images_per_step,
            preview,
            validate_first=False,
            with_init=preview.compare_init and bool(self.settings.token.init_text),
            encoded=self.latent_cache.encoded_images(),
        )
        return run_seconds(replace(work, steps=self.facts.last_step - self.state.step), phases) - COMMAND_SECONDS

    def do_what_is_due(self) -> None:
        """Validation, a checkpoint and previews each on its own schedule; the last step gets all three."""
        step, last = self.state.step, self.state.step == self.facts.last_step
        every = self.intervals
        if every.validation and (step % every.validation == 0 or last):
            self.validate()
        if step % every.save == 0 or last:
            self.save_checkpoint()
        if every.preview and (step % every.preview == 0 or last):
            self.render_previews()

    def validate(self) -> None:
        """The loss on fixed noise at fixed timesteps over the training images: comparable from step to step."""
        if not self.group.is_main:
            return
        losses = []
        images = range(min(VALIDATION_IMAGES, len(self.facts.images)))
        started = time.monotonic()
        with torch.no_grad():
            for index in images:
                if self.stop_asked():
                    return  # a loss over some of the images would not compare with the others
                self.events.write("validating", step=self.state.step, done=index, total=len(images))
                latent = self.latent_cache.posterior_mean(index)
                generator = torch.Generator().manual_seed(VALIDATION_SEED + index)
                latents = latent.unsqueeze(0).expand(len(VALIDATION_TIMESTEPS), -1, -1, -1)
                noise = torch.randn(latents.shape, generator=generator).to(latents.device)
                timesteps = torch.tensor(VALIDATION_TIMESTEPS, device=latents.device)
                caption = self.facts.images[index].caption
                prompt = build_prompt(self.frozen.templates[0], self.settings.token.trigger, caption, TagOptions(), random.Random(0))
                losses.append(self.frozen.denoising_loss(latents, noise, timesteps, [prompt] * len(VALIDATION_TIMESTEPS)).mean().item())
        seconds = time.monotonic() - started
        self.validation_image_seconds.append(seconds / len(images))
        self.events.write("validation", step=self.state.step, loss=sum(losses) / len(losses), seconds=round(seconds, 3), images=len(images))

    def save_checkpoint(self) -> None:
        """The embedding file (usable on its own) and, in resume/, everything needed to resume exactly."""
        draws = self.state.gather_draws(self.group)
        if not self.group.is_main:
            return
        self.faults.before_save(self.state.step)
        started = time.monotonic()
        checkpoint = self.run_dir.checkpoint_paths(self.settings.token.trigger, self.state.step)
        self.run_dir.make_folders(checkpoint.embedding.parent, checkpoint.state.parent)
        # The resume state first: an embedding file on disk then always has its state.
        self.state.save(checkpoint.state, draws)
        write_embedding(self.embedding(), checkpoint.embedding, "safetensors")
        seconds = time.monotonic() - started
        self.checkpoint_seconds.append(seconds)
        self.events.write("checkpoint", step=self.state.step, path=str(checkpoint.embedding), seconds=round(seconds, 3))

    def embedding(self) -> Embedding:
        model = self.frozen.model
        return Embedding(
            self.state.vectors.detach().cpu(),
            trigger=self.settings.token.trigger,
            step=self.state.step,
            init_text=self.settings.token.init_text,
            base_model=model.name,
            base_model_hash=model.short_hash or "",
        )

    def render_previews(self) -> None:
        """Images at fixed seeds: each prompt with the trigger, and with the init words to compare."""
        if not self.group.is_main:
            return
        frozen, preview, step = self.frozen, self.settings.preview, self.state.step
        trigger, init_text = self.settings.token.trigger, self.settings.token.init_text
        self.run_dir.make_folders(self.run_dir.previews_dir)
        frozen.vae.to(frozen.device)
        with_init = preview.compare_init and bool(init_text)
        total, done = len(preview.prompts) * len(preview.seeds) * (2 if with_init else 1), 0
        try:
            for number, template in enumerate(preview.prompts, start=1):
                variants = [("", template.replace("[name]", trigger))]
                if with_init:
                    variants.append(("-init", template.replace("[name]", init_text)))
                for suffix, prompt in variants:
                    for seed in preview.seeds:
                        if self.stop_asked():
                            return
                        self.events.write("previewing", step=step, done=done, total=total)
                        started = time.monotonic()
                        request = RenderRequest(
                            prompt,
                            seed,
                            preview.sampling_steps,
                            preview.cfg_scale,
                            frozen.resolution,
                            frozen.resolution,
                            preview.negative_prompt,
                        )
                        image = render(frozen.model.pipeline, frozen.prompt_encoder, request)
                        path = self.run_dir.previews_dir / f"step-{step}-p{number}-s{seed}{suffix}.png"
                        model = frozen.model
                        parameters = parameters_text(
                            request, web_ui_name(model.pipeline.scheduler), model.name, model.short_hash, {"Embedding step": step}
                        )
                        save_png(image, path, parameters)
                        seconds, done = time.monotonic() - started, done + 1
                        self.preview_image_seconds.append(seconds)
                        self.events.write(
                            "preview",
                            step=step,
                            path=str(path),
                            seed=seed,
                            prompt=prompt,
                            init=bool(suffix),
                            seconds=round(seconds, 3),
                            sampling_steps=preview.sampling_steps,
                            guided=preview.cfg_scale != 1,
                        )
        finally:
            if frozen.device.type != "cpu":
                frozen.vae.to("cpu")

    # Requests and the end -------------------------------------------------------------------

    def obey_requests(self) -> None:
        """Between steps: act on what was asked through control/ or by a signal (process 0 decides for all)."""
        requests = self.requests()
        self.do_what_is_asked_now(requests)
        if "pause" in requests and "stop" not in requests:
            requests = self.wait_while_paused()
        if "stop" in requests:
            if self.group.is_main:
                self.run_dir.withdraw("stop")
                self.run_dir.withdraw("pause")  # a resumed run should not start out paused
            why = self.group.decide(self.stop_reason or "stopped on request")
            step = self.state.step
            if step and not self.run_dir.checkpoint_paths(self.settings.token.trigger, step).embedding.exists():
                self.save_checkpoint()
            raise StopTraining("stopped", f"{why} at step {step}")

    def do_what_is_asked_now(self, requests: set[str]) -> None:
        """A checkpoint or previews asked for now: done between steps, and while paused too."""
        for name in ("save-now", "preview-now"):
            if name in requests and self.group.is_main:
                self.run_dir.withdraw(name)
        if "save-now" in requests:
            self.save_checkpoint()
        if "preview-now" in requests:
            self.render_previews()

    def stop_asked(self) -> bool:
        """Checked between the images of a validation or preview pass, which take minutes on a CPU."""
        return self.stop_reason is not None or "stop" in self.run_dir.pending_requests()

    def requests(self) -> set[str]:
        return self.group.decide(self.run_dir.pending_requests() | ({"stop"} if self.stop_reason else set()))

    def wait_while_paused(self) -> set[str]:
        self.events.write("paused", step=self.state.step)
        requests = {"pause"}
        while "pause" in requests and "stop" not in requests:
            time.sleep(0.5)
            requests = self.requests()
            self.do_what_is_asked_now(requests)
        if "stop" not in requests:
            self.events.write("resumed", step=self.state.step)
        return requests

    def finish(self, reason: str, message: str, fix: Fix | None = None) -> None:
        self.events.write(FINAL_EVENT, fix=fix, reason=reason, message=message, step=self.current_step())

    def fail(self, message: str, fix: Fix | None = None) -> None:
        """The error and the final event; the error reaches trainer.log even when events.jsonl cannot be written."""
        try:
            self.events.write("error", message=message, step=self.current_step())
            self.finish("failed", message, fix)
        except OSError:
            pass  # with the disk full even this may not fit; the missing final event then reads as "lost"

    def current_step(self) -> int:
        return self.state.step if self.state is not None else 0


@dataclass
class FrozenModel:
    """The model the vectors are trained against, and what turns prompts and latents into a loss."""

    model: LoadedModel
    device: torch.device
    resolution: int
    noise_scheduler: object  # a DDPMScheduler with the model's noise schedule and prediction
    prompt_encoder: PromptEncoder
    templates: list[str]
    tag_options: TagOptions
    checkpointing: bool

    @classmethod
    def load(cls, facts, group: ProcessGroup) -> "FrozenModel":
        from diffusers import DDPMScheduler

        settings = facts.settings
        model = load_model(settings.model, facts.project, device=group.device)
        unet = model.pipeline.unet
        device = unet.device
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        checkpointing = _wants_gradient_checkpointing(settings.training.gradient_checkpointing, device)
        if checkpointing:
            unet.enable_gradient_checkpointing()
        training = settings.training
        return cls(
            model=model,
            device=device,
            resolution=settings.dataset.resolution or unet.config.sample_size * model.pipeline.vae_scale_factor,
            noise_scheduler=DDPMScheduler.from_config(model.pipeline.scheduler.config),
            prompt_encoder=PromptEncoder(model.tokenizer, model.text_encoder),
            templates=load_templates(training.template, facts.project),
            tag_options=TagOptions(training.shuffle_tags, training.keep_tags, training.tag_dropout),
            checkpointing=checkpointing,
        )

    @property
    def unet(self):
        return self.model.pipeline.unet

    @property
    def vae(self):
        return self.model.pipeline.vae

    def denoising_loss(self, latents, noise, timesteps, prompts: list[str], min_snr_gamma: float = 0.0) -> torch.Tensor:
        """Each sample's mean squared error in predicting the noise (or velocity) added to its latents."""
        scheduler = self.noise_scheduler
        noisy = scheduler.add_noise(latents, noise, timesteps)
        conditioning = self.prompt_encoder.encode(prompts)
        prediction = self.unet(noisy.to(self.unet.dtype), timesteps, encoder_hidden_states=conditioning).sample.float()
        velocity = scheduler.config.prediction_type == "v_prediction"
        target = scheduler.get_velocity(latents, noise, timesteps) if velocity else noise
        loss = F.mse_loss(prediction, target.float(), reduction="none").mean(dim=(1, 2, 3))
        if min_snr_gamma:
            alphas = scheduler.alphas_cumprod.to(timesteps.device)[timesteps]
            snr = alphas / (1 - alphas)
            clipped = torch.clamp(snr, max=min_snr_gamma)
            loss = loss * (clipped / (snr + 1) if velocity else clipped / snr)
        return loss


@dataclass
class TrainingState:
    """Everything a checkpoint holds so that a resumed run goes on exactly as an unbroken one would."""

    step: int
    vectors: torch.nn.Parameter
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # noise, timesteps and latent samples, this process's own
    prompt_random: random.Random  # templates and caption tags, this process's own
    order: DataOrder
    learning_rate_scale: float = 1.0  # halved by each rollback
    loss_scale: float = 1.0  # fp16 only
    smoothed_loss: float | None = None

    def gather_draws(self, group: ProcessGroup) -> list:
        """Where every process's random draws have got to; each process calls it, process 0 saves the result."""
        return group.gather((self.generator.get_state(), self.prompt_random.getstate()))

    def save(self, path: Path, draws: list) -> None:
        state = {
            "step": self.step,
            "vectors": self.vectors.detach().cpu(),
            "optimizer": self.optimizer.state_dict(),
            "generators": [generator for generator, _ in draws],
            "prompt_randoms": [prompt_random for _, prompt_random in draws],
            "order": self.order.state(),
            "learning_rate_scale": self.learning_rate_scale,
            "loss_scale": self.loss_scale,
            "smoothed_loss": self.smoothed_loss,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path, buffer.getvalue())

    def load(self, path: Path, group: ProcessGroup) -> None:
        """Go on from a saved state. A file that is damaged, or is not a state of this run, raises a
        UserError naming it; whatever it had set by then, loading another state sets again."""
        state = load_plain_torch_file(path, "a resume state", checked=True)
        try:
            vectors = state["vectors"]
            if vectors.shape != self.vectors.shape or not torch.isfinite(vectors).all():
                raise ValueError(f"its vectors are not {list(self.vectors.shape)} finite numbers")
            with torch.no_grad():
                self.vectors.copy_(vectors.to(self.vectors.device))
            self.optimizer.load_state_dict(state["optimizer"])
            if len(state["generators"]) == group.size:
                self.generator.set_state(state["generators"][group.rank])
                version, internal, gauss = state["prompt_randoms"][group.rank]
                self.prompt_random.setstate((version, tuple(internal), gauss))  # torch.load gives the inner tuple back as a list
            self.order.restore(state["order"])
            self.step = int(state["step"])
            self.learning_rate_scale = float(state["learning_rate_scale"])
            self.loss_scale = float(state["loss_scale"])
            self.smoothed_loss = state["smoothed_loss"]
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as error:
            raise UserError(f"{path} is not a resume state of this run ({type(error).__name__}: {error})") from None


class LossScaler:
    """fp16 only: the loss is scaled up before the backward pass so that small gradients survive in
    fp16; when the gradients overflow the scale halves and the step is tried again, and every
    LOSS_SCALE_GROWTH_STEPS good steps it doubles back up."""

    def __init__(self, state: TrainingState, enabled: bool):
        self.state, self.enabled = state, enabled

    def overflowed(self, loss: float, gradient: torch.Tensor) -> bool:
        if self.enabled and math.isfinite(loss) and not torch.isfinite(gradient).all() and self.state.loss_scale > 1:
            self.state.loss_scale /= 2
            return True
        return False

    def grow(self, step: int) -> None:
        if self.enabled and step % LOSS_SCALE_GROWTH_STEPS == 0:
            self.state.loss_scale = min(self.state.loss_scale * 2, FP16_LOSS_SCALE)


class Rollback:
    """A step that goes non-finite is undone: the last good vectors and optimiser come back and the
    rate halves; GIVE_UP_AFTER such steps in a row end the run."""

    def __init__(self, state: TrainingState, events):
        self.state, self.events = state, events
        self.keep()

    def keep(self) -> None:
        """The step went well: it is the one to come back to."""
        self.good_vectors = self.state.vectors.detach().clone()
        self.good_optimizer = copy.deepcopy(self.state.optimizer.state_dict())
        self.bad_steps = 0

    def undo(self, what: str) -> None:
        state = self.state
        with torch.no_grad():
            state.vectors.copy_(self.good_vectors)
        state.optimizer.load_state_dict(copy.deepcopy(self.good_optimizer))
        state.optimizer.zero_grad(set_to_none=True)
        self.bad_steps += 1
        if self.bad_steps >= GIVE_UP_AFTER:
            raise UserError(
                f"training diverged: {what}, {GIVE_UP_AFTER} times in a row even at a lower learning rate; "
                "lower the learning rate in [schedule] and continue from the last checkpoint",
                Fix("edit-setting", "schedule.learning_rate"),
            )
        state.learning_rate_scale /= 2
        self.events.write(
            "warning",
            step=state.step,
            message=f"{what}; went back to step {state.step} and halved the learning rate (now x{state.learning_rate_scale:g})",
        )


def _typical_token_norm(text_encoder) -> float:
    """The mean length of the model's token vectors, in slices so that a half-precision table is not copied whole."""
    table = text_encoder.get_input_embeddings().weight.detach()
    return torch.cat([rows.float().norm(dim=1) for rows in table.split(4096)]).mean().item()


class StopTraining(Exception):
    """Ends the loop early with a reason for the final event."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class LoggedEvents:
    """The first process's events, in events.jsonl and, but for the many small ones, in trainer.log too.

    trainer.log is the trainer's standard error: with the events said there as they happen, it ends
    with the last thing the trainer did even after a kill -9, and it holds how the run ended even
    when events.jsonl cannot be written. Each is said before it is written, so a write that fails
    still leaves it in the log.
    """

    def __init__(self, log: TextIO):
        self.log = log
        self.writer: EventWriter | None = None

    def open(self, path: Path) -> None:
        """Apart from the constructor, so that an events file that cannot be opened is itself said in the log."""
        self.writer = EventWriter(path)

    def write(self, kind: str, fix: Fix | None = None, **fields) -> None:
        repeated = kind == FINAL_EVENT and fields.get("reason") == "failed"  # the error event just before said it
        sentence = None if kind in NOT_IN_THE_LOG or repeated else describe_event({"type": kind, **fields})
        if sentence:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {sentence}", file=self.log, flush=True)
        if self.writer is not None:
            self.writer.write(kind, fix, **fields)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class SilentEvents:
    """The event log of processes other than the first: they have nothing to add."""

    def write(self, kind: str, fix: Fix | None = None, **fields) -> None:
        return None

    def close(self) -> None:
        return None


def _wants_gradient_checkpointing(choice: str, device: torch.device) -> bool:
    if choice != "auto":
        return choice == "on"
    return device.type == "cuda" and torch.cuda.get_device_properties(device).total_memory < SMALL_GPU_BYTES


def _as_array(image):
    import numpy

    return numpy.asarray(image, dtype=numpy.uint8).copy()


def _process_started() -> float:
    import psutil

    return psutil.Process().create_time()


def _memory_in_use(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _disk_message(error: OSError, run: RunDirectory) -> tuple[str, Fix | None]:
    if error.errno == errno.ENOSPC:
        kept = run.resumable_checkpoints()
        if not kept:
            return f"the disk is full ({run.path}) and no checkpoint had been saved yet: free some space and start again", Fix("train")
        return (
            f"the disk is full ({run.path}): the checkpoint at step {kept[-1].step} is intact. Free some space, then resume the run",
            Fix("resume", run.id),
        )
    return (
        f"{error.filename or f'a file in {run.path}'}: {error.strerror or error}. Once that is put right, resume the run",
        Fix("resume", run.id),
    )
