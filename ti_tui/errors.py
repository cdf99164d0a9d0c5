"""Errors meant for the user: their message is the whole story, so no traceback is shown."""


class UserError(Exception):
    """A problem the user can fix; the message names the file, key or value and what to do."""
