"""Training prompts: a template line with `[name]` and `[filewords]` filled in, drawn anew each use.

The shipped templates live in templates/ beside this file (photo, photo_caption, art_style, art_style_caption,
caption); a path to a .txt file of one template per line works the same way. Their names are not the web
UI's (subject, subject_filewords, ...), whose files hold other lines: a project naming one of those is told
the name of ours that is meant alike. `[filewords]` is
the image's caption, optionally with its comma-separated tags shuffled (keeping the first few in
place) and some dropped, so that the embedding does not learn the caption's word order.
"""

import random
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ti_tui.errors import UserError

# The templates shipped in templates/, by name; training.template may also be a path to a .txt file.
PROMPT_TEMPLATES = ("photo", "photo_caption", "art_style", "art_style_caption", "caption")
CAPTION_ONLY = "caption"  # the template that is the caption alone: the caption names the trigger itself
# The web UI's template names, and ours that is meant alike; its files hold other lines than ours.
WEB_UI_TEMPLATES = {
    "subject": "photo",
    "subject_filewords": "photo_caption",
    "style": "art_style",
    "style_filewords": "art_style_caption",
}
# What project files of schema 1 (and the runs they made) called ours: read as the names ours have now.
SCHEMA_1_TEMPLATES = {**WEB_UI_TEMPLATES, "filewords": "caption"}


@dataclass(frozen=True)
class TagOptions:
    shuffle: bool = False
    keep: int = 0
    dropout: float = 0.0


def load_templates(template: str, base_dir: Path) -> list[str]:
    """The template lines for a `training.template` setting: a shipped name or a .txt path."""
    if template in PROMPT_TEMPLATES:
        text = resources.files("ti_tui").joinpath("templates", f"{template}.txt").read_text(encoding="utf-8")
        where = f"the {template} template"
    else:
        path = (base_dir / template).expanduser()
        if path.exists() and not path.is_file():
            # A folder cannot be read; a named pipe would be read for ever, waiting for a writer.
            raise UserError(f"training.template: {path} is {'a folder' if path.is_dir() else 'not a plain file'}; name a UTF-8 .txt file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"training.template: {path} cannot be read ({error}); name a UTF-8 .txt file") from None
        where = str(path)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise UserError(f"{where} has no template lines; write one prompt per line, with [name] for the trigger")
    return lines


def caption_text(caption: str, options: TagOptions, generator: random.Random) -> str:
    tags = [tag.strip() for tag in caption.split(",") if tag.strip()]
    kept, rest = tags[: options.keep], tags[options.keep :]
    if options.shuffle:
        generator.shuffle(rest)
    if options.dropout:
        rest = [tag for tag in rest if generator.random() >= options.dropout]
    return ", ".join(kept + rest)


def build_prompt(template: str, trigger: str, caption: str, options: TagOptions, generator: random.Random) -> str:
    """One training prompt; a template without [name] gets the trigger put first, or it would teach nothing."""
    prompt = template.replace("[filewords]", caption_text(caption, options, generator))
    prompt = re.sub(r"\s*,(\s*,)+", ",", prompt)  # an empty caption leaves ", ," behind
    prompt = prompt.strip().strip(",").strip()
    if "[name]" not in template and not _names(prompt, trigger):
        prompt = f"{trigger}, {prompt}" if prompt else trigger
    return prompt.replace("[name]", trigger)


def _names(prompt: str, trigger: str) -> bool:
    return re.search(rf"(?<![^\W\d_]){re.escape(trigger)}(?![^\W\d_])", prompt, flags=re.IGNORECASE) is not None


def pick_template(templates: list[str], generator: random.Random) -> str:
    return templates[generator.randrange(len(templates))]
