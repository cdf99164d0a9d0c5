"""Errors meant for the user: their message is the whole story, so no traceback is shown."""

from ti_tui.findings import Finding, Fix


class UserError(Exception):
    """A problem the user can fix; the message names the file, key or value, and `fix` says what to do."""

    def __init__(self, message: str, fix: Fix | None = None):
        super().__init__(message)
        self.fix = fix


class FindingsError(UserError):
    """Several problems at once, each with its own fix: the message is their heading."""

    def __init__(self, heading: str, findings: list[Finding]):
        super().__init__("\n  ".join([heading, *(str(finding) for finding in findings)]))
        self.heading = heading
        self.findings = findings
