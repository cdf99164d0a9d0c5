"""Loading a Stable Diffusion 1.x/2.x model from any source, offline, in the chosen precision.

Sources: the built-in tiny model, a diffusers folder, a Hugging Face id already in the local cache,
or a single checkpoint file in the original layout (`.safetensors` or `.ckpt`). Nothing is ever
downloaded here: a missing piece is an error that says what to fetch and how.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.paths import user_path
from ti_tui.sd.family import (
    SD1_TOKEN_TABLE_KEYS,
    SD2_TOKEN_TABLE_KEY,
    TEXT_ENCODER,
    UNET,
    VAE,
    FamilyName,
    ModelFamily,
    NotTrainableError,
    Prediction,
    family_from_shapes,
    family_of_diffusers_folder,
    read_safetensors_header,
)
from ti_tui.sd.hashing import model_short_hash
from ti_tui.sd.single_file import SD2_SAMPLE_SIZES, write_config_folder
from ti_tui.sd.source import ModelSource, classify_model_source
from ti_tui.sd.tokenizer import find_tokenizer, load_tokenizer, missing_tokenizer_advice
from ti_tui.sd.weights import read_weights
from ti_tui.settings import ModelSettings
from ti_tui.torch_files import load_plain_torch_file, run_with_torch

# The SD 2.0 512-px base model was released at this step; it predicts noise, the 768-px ones velocity.
SD2_EPSILON_BASE_STEP = 875000
NOISIEST_TIMESTEP = 999


@dataclass
class LoadedModel:
    pipeline: Any  # a diffusers StableDiffusionPipeline
    family: ModelFamily
    name: str  # what an embedding records it was trained on
    short_hash: str | None
    tokenizer_source: str

    @property
    def tokenizer(self):
        return self.pipeline.tokenizer

    @property
    def text_encoder(self):
        return self.pipeline.text_encoder

    @property
    def text_width(self) -> int:
        return self.text_encoder.get_input_embeddings().weight.shape[1]


def load_model(settings: ModelSettings, base_dir: Path, device=None) -> LoadedModel:
    """Load `settings.base` (paths relative to `base_dir`) frozen, for training or previews.

    The device is `device` when given (each process of a data-parallel run has its own), else the
    one `settings.device` chooses.
    """
    from ti_tui.sd.device import choose_device, choose_dtype

    _quiet_model_libraries()
    source = classify_model_source(settings.base, base_dir)
    device = device or choose_device(settings.device)
    dtype = choose_dtype(settings.precision, device)
    tokenizer_folder = user_path(settings.tokenizer, base_dir) if settings.tokenizer else None

    # Everything that can be told from configs and headers is checked before weights are read.
    if source.kind == "file":
        shapes, metadata, step = checkpoint_contents(source.path)
        detected = family_from_shapes(shapes, source.path.name)
        family = ModelFamily(detected.name, detected.inpainting, prediction_from_file(detected, metadata, shapes, step))
        name = source.path.stem
    elif source.kind in ("builtin", "folder", "hub"):
        folder = _pretrained_folder(source)
        family = family_of_diffusers_folder(folder)
        name = source.text if source.kind != "folder" else source.path.name
    else:
        raise UserError(f"model.base: {source.path} does not exist; correct it in project.toml")
    if family.inpainting:
        raise NotTrainableError(
            f"{name} is an inpainting model ({family.label}); train on the text-to-image model it was made from: "
            "the embedding then works on this inpainting model too"
        )
    location = find_tokenizer(source, tokenizer_folder, family.name)
    if location is None:
        fetchable = source.kind == "hub" or (source.kind == "file" and tokenizer_folder is None)
        raise UserError(
            f"No tokenizer for {name}: {missing_tokenizer_advice(source, tokenizer_folder, family.name)}",
            Fix("fetch") if fetchable else Fix("edit-setting", "model.tokenizer"),
        )
    tokenizer = load_tokenizer(location.folder)
    if family.name == "sd2" and tokenizer.pad_token == tokenizer.eos_token:
        tokenizer.pad_token = "!"  # OpenCLIP pads with zeros, which is "!" in this vocabulary

    if source.kind == "file":
        pipeline = _from_single_file(source.path, shapes, family, tokenizer, dtype)
        short_hash = model_short_hash(source.path)
    else:
        pipeline = _from_folder(folder, tokenizer, dtype)
        short_hash = model_short_hash(_weights_files(folder / "unet")[0])
    _check_vocabulary(tokenizer, pipeline.text_encoder, name)

    prediction = settings.prediction if settings.prediction != "auto" else family.prediction
    if prediction is None:
        prediction = "epsilon" if looks_like_epsilon_prediction(pipeline.unet) else "v_prediction"
    if prediction != pipeline.scheduler.config.prediction_type:
        pipeline.scheduler = type(pipeline.scheduler).from_config(pipeline.scheduler.config, prediction_type=prediction)
    if family.name == "sd2" and source.kind == "file":
        pipeline.unet.register_to_config(sample_size=SD2_SAMPLE_SIZES[prediction][0])
    family = ModelFamily(family.name, family.inpainting, prediction)

    for part in (pipeline.unet, pipeline.vae, pipeline.text_encoder):
        part.requires_grad_(False)
        part.eval()
    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(device)
    return LoadedModel(pipeline, family, name, short_hash, location.description)


def model_family(source: ModelSource) -> FamilyName | None:
    """SD 1.x or 2.x, told from the files without loading the model; None when the model is not there."""
    if source.kind == "file":
        shapes, _, _ = checkpoint_contents(source.path)
        return family_from_shapes(shapes, source.path.name).name
    if source.kind in ("builtin", "folder", "hub"):
        return family_of_diffusers_folder(_pretrained_folder(source)).name
    return None


def _quiet_model_libraries() -> None:
    """Progress bars and advice meant for library users would only clutter the trainer's log."""
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


def _pretrained_folder(source: ModelSource) -> Path:
    if source.kind == "builtin":
        from ti_tui.sd.tiny import ensure_builtin_tiny

        return ensure_builtin_tiny()
    if source.kind == "hub":
        return _cached_snapshot(source.text)
    return source.path


# The weights of one part of a diffusers folder, by the names diffusers and transformers save them under.
_WEIGHTS_NAMES = ("diffusion_pytorch_model", "model", "pytorch_model")


def _weights_files(part: Path) -> list[Path]:
    """The files holding a diffusers folder part's weights: one file, or the shards its index lists."""
    for stem in _WEIGHTS_NAMES:
        for suffix in (".safetensors", ".bin"):
            if (part / f"{stem}{suffix}").is_file():
                return [part / f"{stem}{suffix}"]
            index = part / f"{stem}{suffix}.index.json"
            if index.is_file():
                try:
                    shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
                except (OSError, ValueError, KeyError, AttributeError) as error:
                    raise UserError(f"{index} cannot be read ({error}); the model folder is damaged") from None
                return [part / shard for shard in shards]
    raise UserError(f"{part} holds no weights (diffusion_pytorch_model.safetensors); the model folder is incomplete")


def _cached_snapshot(repo: str) -> Path:
    from huggingface_hub import try_to_load_from_cache

    index = try_to_load_from_cache(repo, "model_index.json")
    if not isinstance(index, str):
        raise UserError(
            f"{repo} is not in the local Hugging Face cache, and ti-tui does not download while training: "
            "fetch it once while online, or set model.base to a local .safetensors file",
            Fix("fetch"),
        )
    return Path(index).parent


def _from_folder(folder: Path, tokenizer, dtype):
    """A diffusers folder's pipeline, its UNet and VAE built empty and given their weights read straight into `dtype`.

    The text encoder, an eighth of the weights, is loaded first and by transformers, which knows
    every layout its files have been saved in over the years.
    """
    import diffusers
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    try:
        scheduler_class = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))["scheduler"][1]
        scheduler = getattr(diffusers, scheduler_class).from_pretrained(folder / "scheduler")
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=dtype, local_files_only=True)
        unet_config, vae_config = UNet2DConditionModel.load_config(folder / "unet"), AutoencoderKL.load_config(folder / "vae")
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise UserError(f"{folder} could not be loaded: {error}") from None
    return StableDiffusionPipeline(
        unet=_with_weights(lambda: UNet2DConditionModel.from_config(unet_config), folder / "unet", dtype),
        vae=_with_weights(lambda: AutoencoderKL.from_config(vae_config), folder / "vae", dtype),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _with_weights(build, part: Path, dtype):
    """`build()` a diffusers model without initialising the weights about to be replaced, then give it the part's own."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = build()
    weights = {}
    for file in _weights_files(part):
        weights.update(read_weights(file, dtype))
    model._fix_state_dict_keys_on_load(weights)  # renames the VAE attention weights of folders saved before diffusers 0.14
    try:
        missing, _ = model.load_state_dict(weights, strict=False, assign=True)
    except RuntimeError as error:  # a weight of another shape than the config calls for
        detail = next((line.strip() for line in str(error).splitlines() if "size mismatch" in line), str(error)).rstrip(".")
        raise UserError(f"{part}'s weights do not fit its config.json ({detail}): its parts come from different models") from None
    if missing:
        raise UserError(
            f"{part} lacks {len(missing)} of the weights its config.json calls for (such as {missing[0]}): "
            "the model folder is incomplete, or its parts come from different models"
        )
    return model.eval()


def _check_vocabulary(tokenizer, text_encoder, name: str) -> None:
    rows = text_encoder.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise UserError(
            f"the tokenizer has {len(tokenizer)} tokens but {name}'s text encoder only {rows}: they belong to "
            "different models; point model.tokenizer at this model's tokenizer"
        )


def checkpoint_contents(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str], int | None]:
    """(tensor shapes, metadata, training step) of a single-file checkpoint, tensors left unread where possible."""
    if path.suffix.lower() == ".safetensors":
        shapes, metadata = read_safetensors_header(path)
        return shapes, metadata, None
    shapes, step = run_with_torch(pickled_checkpoint_contents, os.fspath(path))
    return {key: tuple(shape) for key, shape in shapes.items()}, {}, step


def pickled_checkpoint_contents(path: str) -> tuple[dict[str, list[int]], int | None]:
    """(tensor shapes, training step) of a pickled checkpoint, which only torch can unpickle."""
    import torch

    content = load_plain_torch_file(Path(path), "a model checkpoint")
    step = content.get("global_step") if isinstance(content, dict) else None
    weights = content.get("state_dict", content) if isinstance(content, dict) else None
    if not isinstance(weights, dict):
        raise UserError(f"{path} holds no named weights, so it is not a model checkpoint")
    shapes = {str(key): list(value.shape) for key, value in weights.items() if isinstance(value, torch.Tensor)}
    return shapes, step if isinstance(step, int) else None


def prediction_from_file(family: ModelFamily, metadata: dict[str, str], shapes: dict, step: int | None) -> Prediction | None:
    """What the file says the UNet predicts; None when only running the UNet can tell."""
    declared = metadata.get("modelspec.prediction_type", "").lower()
    if declared in ("v", "v_prediction", "v-prediction"):
        return "v_prediction"
    if declared in ("epsilon", "eps"):
        return "epsilon"
    if metadata.get("ss_v_parameterization", "").lower() == "true" or "v_pred" in shapes:
        return "v_prediction"
    if family.name == "sd1" or step == SD2_EPSILON_BASE_STEP:
        return "epsilon"
    return None


def looks_like_epsilon_prediction(unet) -> bool:
    """Run the UNet once at the noisiest timestep on pure noise.

    A model that predicts the noise returns (nearly) its input there; one that predicts velocity
    returns about minus the clean image it imagines, which has little to do with the noise.
    """
    import torch

    parameter = next(unet.parameters())
    noise = torch.randn((1, unet.config.in_channels, 8, 8), generator=torch.Generator().manual_seed(0))
    context = torch.zeros((1, 77, unet.config.cross_attention_dim))
    timestep = torch.tensor([NOISIEST_TIMESTEP])
    with torch.no_grad():
        output = unet(
            noise.to(parameter.device, parameter.dtype),
            timestep.to(parameter.device),
            encoder_hidden_states=context.to(parameter.device, parameter.dtype),
        ).sample
    correlation = torch.corrcoef(torch.stack([output.float().cpu().flatten(), noise.flatten()]))[0, 1]
    return bool(correlation > 0.5)


def _from_single_file(path: Path, shapes: dict, family: ModelFamily, tokenizer, dtype):
    """An original-layout checkpoint's pipeline: its tensors read straight into `dtype`, then converted part by part."""
    import diffusers
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from transformers import CLIPTextModel

    special_tokens = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    with tempfile.TemporaryDirectory(prefix="ti-tui-config-") as configs:
        try:
            write_config_folder(Path(configs), shapes, family, family.prediction or "epsilon", special_tokens)
            # Only the parts a pipeline is made of: EMA copies and other extras in the file stay unread.
            checkpoint = read_weights(path, dtype, wanted=lambda key: key.startswith((UNET, VAE, TEXT_ENCODER)))
            # Each part is converted from tensors already in `dtype`, which the models then take over without a copy.
            parts = {"config": configs, "torch_dtype": dtype, "local_files_only": True}
            text_encoder = create_diffusers_clip_model_from_ldm(CLIPTextModel, checkpoint, subfolder="text_encoder", **parts)
            unet = UNet2DConditionModel.from_single_file(checkpoint, subfolder="unet", **parts)
            vae = AutoencoderKL.from_single_file(checkpoint, subfolder="vae", **parts)
            scheduler_config = json.loads((Path(configs) / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
            scheduler = getattr(diffusers, scheduler_config["_class_name"]).from_config(scheduler_config)
        except (OSError, ValueError, KeyError, IndexError, RuntimeError) as error:
            raise UserError(f"{path} could not be loaded as an {family.label} model ({type(error).__name__}: {error})") from None
    return StableDiffusionPipeline(
        unet=unet.eval(),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


@dataclass(frozen=True)
class TokenTable:
    """A model's token-embedding table, read on its own (for reports, without loading the model)."""

    weight: Any  # torch.Tensor [vocabulary, width], float32
    family: ModelFamily
    name: str

    def typical_norm(self) -> float:
        return self.weight.norm(dim=1).mean().item()


# Where the token table sits: in a diffusers text_encoder/ file (with or without the "text_model"
# level), or in a single-file checkpoint of either family.
_TOKEN_TABLE_KEYS = (
    "text_model.embeddings.token_embedding.weight",
    "embeddings.token_embedding.weight",
    *SD1_TOKEN_TABLE_KEYS,
    SD2_TOKEN_TABLE_KEY,
)


def read_token_table(base: str, base_dir: Path) -> TokenTable:
    """Only the token vectors of the model `base` (as model.base is written), read lazily from disk."""
    source = classify_model_source(base, base_dir)
    match source.kind:
        case "builtin":
            from ti_tui.sd.tiny import ensure_builtin_tiny

            folder = ensure_builtin_tiny()
            return TokenTable(_table_from_folder(folder), family_of_diffusers_folder(folder), source.text)
        case "folder" | "hub":
            folder = source.path if source.kind == "folder" else _cached_snapshot(source.text)
            return TokenTable(_table_from_folder(folder), family_of_diffusers_folder(folder), source.text)
        case "file":
            shapes, _, _ = checkpoint_contents(source.path)
            family = family_from_shapes(shapes, source.path.name)
            return TokenTable(_table_from_weights_file(source.path), family, source.path.stem)
    raise UserError(f"{source.path} does not exist")


def _table_from_folder(folder: Path):
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / "text_encoder" / name).is_file():
            return _table_from_weights_file(folder / "text_encoder" / name)
    raise UserError(f"{folder / 'text_encoder'} holds no weights; the model folder is incomplete")


def _table_from_weights_file(path: Path):
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(path, framework="pt") as handle:
            stored = set(handle.keys())
            key = next((key for key in _TOKEN_TABLE_KEYS if key in stored), None)
            if key is None:
                raise UserError(f"{path} has no text encoder token table")
            return handle.get_tensor(key).float()
    content = load_plain_torch_file(path, "a model checkpoint")
    weights = content.get("state_dict", content) if isinstance(content, dict) else {}
    key = next((key for key in _TOKEN_TABLE_KEYS if key in weights), None)
    if key is None:
        raise UserError(f"{path} has no text encoder token table")
    return weights[key].float()
