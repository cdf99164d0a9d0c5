"""The command palette (ctrl+p): every step, every setting the wizard edits (by its key or the words of its
description), and every action of the screen it was opened on."""

from functools import partial

from textual.actions import parse as parse_action
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ti_tui.usecases.journey import STEP_TITLES


class StepCommands(Provider):
    def commands(self) -> list[tuple[str, str, object]]:
        """(title, help, callback) for the steps and the screen's own keys."""
        app, screen = self.app, self.screen
        found = []
        if getattr(app, "project", None) is not None:
            for step, title in STEP_TITLES.items():
                found.append((f"Go to: {title}", f"open the {title} step", partial(app.open_step, step)))
        if getattr(app, "project", None) is not None:
            for key, (step, field, description) in setting_fields().items():
                found.append((f"Setting: {key}, {description}", f"on the {STEP_TITLES[step]} step", partial(app.open_step, step, field)))
        for binding in getattr(screen, "BINDINGS", []):
            _, name, parameters = parse_action(binding.action)
            if binding.description and binding.show and screen.check_action(name, parameters):
                help_text = binding.tooltip or f"key {binding.key_display or binding.key}"
                found.append((binding.description, help_text, partial(screen.run_action, binding.action)))
        return found

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


def setting_fields() -> dict[str, tuple[str, str, str]]:
    """Each setting with a field in the wizard: its step, its field's id there, and its description."""
    from ti_tui.settings import ProjectSettings
    from ti_tui.tui.screens.settings import GROUPS

    where = {"token.trigger": ("token", "trigger"), "token.init_text": ("token", "init-text"), "token.vectors": ("token", "vectors")}
    where |= {f"{section}.{name}": ("settings", f"{section}-{name}") for section, names in GROUPS.values() for name in names}
    fields = {}
    for key, (step, field) in where.items():
        section, name = key.split(".")
        description = type(getattr(ProjectSettings(), section)).model_fields[name].description or ""
        fields[key] = (step, field, description)
    return fields
