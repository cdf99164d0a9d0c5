"""Samplers by the names users know from the popular web UI (and ComfyUI's), mapped to diffusers schedulers.

A sampler keeps the model's own noise schedule (its config: betas, prediction type) and changes only
how the steps are taken. Nothing here imports diffusers until a scheduler is built.
"""

import re
from dataclasses import dataclass, field

from ti_tui.errors import UserError


class SamplerError(UserError):
    pass


@dataclass(frozen=True)
class Sampler:
    name: str  # as the web UI writes it in its PNG parameters
    scheduler: str  # the diffusers class
    options: dict = field(default_factory=dict)

    def build(self, model_scheduler_config):
        """This sampler's scheduler, on the noise schedule of the model whose config is given."""
        import diffusers

        return getattr(diffusers, self.scheduler).from_config(model_scheduler_config, **self.options)


_KARRAS = {"use_karras_sigmas": True}
_SDE = {"algorithm_type": "sde-dpmsolver++"}
SAMPLERS: dict[str, Sampler] = {
    sampler.name: sampler
    for sampler in (
        Sampler("Euler a", "EulerAncestralDiscreteScheduler"),
        Sampler("Euler", "EulerDiscreteScheduler"),
        Sampler("Heun", "HeunDiscreteScheduler"),
        Sampler("LMS", "LMSDiscreteScheduler"),
        Sampler("LMS Karras", "LMSDiscreteScheduler", _KARRAS),
        Sampler("DPM2", "KDPM2DiscreteScheduler"),
        Sampler("DPM2 a", "KDPM2AncestralDiscreteScheduler"),
        Sampler("DPM++ 2M", "DPMSolverMultistepScheduler"),
        Sampler("DPM++ 2M Karras", "DPMSolverMultistepScheduler", _KARRAS),
        Sampler("DPM++ 2M SDE", "DPMSolverMultistepScheduler", _SDE),
        Sampler("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler", {**_SDE, **_KARRAS}),
        Sampler("DDIM", "DDIMScheduler"),
        Sampler("PLMS", "PNDMScheduler", {"skip_prk_steps": True}),
        Sampler("UniPC", "UniPCMultistepScheduler"),
        Sampler("DEIS", "DEISMultistepScheduler"),
    )
}
# ComfyUI's names for the same samplers (its "karras" is a separate scheduler choice there).
COMFYUI_NAMES = {
    "euler_ancestral": "Euler a",
    "euler": "Euler",
    "heun": "Heun",
    "lms": "LMS",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "deis": "DEIS",
}


def _normal(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name.strip().lower())


_BY_NORMAL_NAME = {_normal(name): sampler for name, sampler in SAMPLERS.items()} | {
    _normal(alias): SAMPLERS[name] for alias, name in COMFYUI_NAMES.items()
}


def sampler_named(name: str) -> Sampler:
    """The sampler a user means by `name`, in any case, with spaces or underscores."""
    sampler = _BY_NORMAL_NAME.get(_normal(name))
    if sampler is None:
        raise SamplerError(f'"{name}" is not a sampler ti-tui knows; it knows {", ".join(SAMPLERS)}')
    return sampler


def web_ui_name(scheduler) -> str:
    """What the web UI calls a diffusers scheduler as it is configured ("PLMS" for a PNDM without its
    Runge-Kutta steps, "DPM++ 2M Karras" ...); the class's own name where the web UI has no such sampler."""
    class_name = type(scheduler).__name__
    config = scheduler.config
    same = [
        sampler
        for sampler in SAMPLERS.values()
        if sampler.scheduler == class_name and all(config.get(option) == value for option, value in sampler.options.items())
    ]
    if not same:
        return class_name.removesuffix("Scheduler")
    return max(same, key=lambda sampler: len(sampler.options)).name
