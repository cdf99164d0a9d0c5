"""What a new project's images show, as it is asked when the project is made, and the settings each answer makes.

Light to import: the command line lists the answers before it parses anything.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProjectKind:
    """What a project's images show, as a new project is asked it: the settings it makes."""

    words: str  # as the question offers it
    dataset_kind: str  # dataset.kind: face checks and face-centred crops, or neither
    init_text: str  # the words the vectors start from, proposed
    template: str  # training.template


PROJECT_KINDS = {
    "face": ProjectKind("a face: close-ups of one person", "face", "person", "photo_caption"),
    "person": ProjectKind("a person: whole or half figures", "subject", "person", "photo_caption"),
    "object": ProjectKind("an object, a pet or a character", "subject", "object", "photo_caption"),
    "style": ProjectKind("a style: pictures that share a look", "style", "art", "art_style_caption"),
}
DEFAULT_KIND = "object"  # asks nothing of the images: no face checks, no face-centred crops
