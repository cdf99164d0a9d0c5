"""The Apply step's two panels: the export (`export.ExportPanel`) and trying the word (`try_it.TryPanel`)."""


def sentence(text: str) -> str:
    """The core's words as they are (they may start with a file's name), ended as a sentence."""
    text = text.strip()
    return text if not text or text.endswith((".", "?", "!")) else text + "."
