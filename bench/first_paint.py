"""How long `ti-tui sample_project` takes to paint its first screen, and what it imported to do so.

    python bench/first_paint.py [--repeat 5] [--project sample_project]

Each try starts the real command in a pseudo-terminal of 80x24 and reads what it writes until the
first screen's steps bar is there; the time is from the process start. The pseudo-terminal answers
the questions a terminal is asked at start (device attributes, cell size) as a plain xterm does,
without Sixel or Kitty graphics; `--silent-terminal` leaves them unanswered, as a terminal that
ignores them would, so that each waits out its timeout. The reference beside it is the bare
interpreter starting and printing (what no command can do faster). Then, in one more process, the
same start-up up to the moment the app would run, to list the modules it loaded.
"""

import argparse
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
FIRST_SCREEN_MARK = b"Captions"  # the steps bar, on every step screen
HEAVY = ("torch", "diffusers", "transformers", "accelerate")


# What an xterm answers: primary device attributes (no Sixel, the 4 is absent), and the cell size.
ANSWERS = {b"\x1b[c": b"\x1b[?62;22c", b"\x1b[16t": b"\x1b[6;20;10t"}


def time_to_output(command: list[str], mark: bytes, environment: dict, answer: bool = True, timeout: float = 60) -> float:
    """Seconds from starting `command` in an 80x24 pseudo-terminal until it has written `mark`."""
    started = time.perf_counter()
    pid, terminal = pty.fork()
    if pid == 0:
        os.execvpe(command[0], command, environment)
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([terminal], [], [], 0.05)
            if ready:
                try:
                    data = os.read(terminal, 65536)
                except OSError:
                    break
                for question, reply in ANSWERS.items() if answer else ():
                    os.write(terminal, reply * data.count(question))
                seen += data
                if mark in seen:
                    return time.perf_counter() - started
        raise SystemExit(f"{' '.join(command)} did not show {mark!r} within {timeout} s")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(terminal)


IMPORTS_UP_TO_THE_RUN = """
import json, sys
import textual.app
textual.app.App.run = lambda self, *arguments, **keywords: None  # stop where the wizard would start drawing
from ti_tui.cli import main
main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/first_paint.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--project", default=str(REPOSITORY / "sample_project"))
    parser.add_argument("--silent-terminal", dest="answer", action="store_false", help="answer none of the terminal questions")
    arguments = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as data:
        # A user data folder of its own, so that the project opens on its first step as on a first visit.
        environment = {**os.environ, "TERM": "xterm-256color", "TI_TUI_DATA_DIR": data}
        wizard = [sys.executable, "-m", "ti_tui", arguments.project]
        interpreter = [sys.executable, "-c", "print('Captions')"]
        paints = [time_to_output(wizard, FIRST_SCREEN_MARK, environment, arguments.answer) for _ in range(arguments.repeat)]
        bare = [time_to_output(interpreter, FIRST_SCREEN_MARK, environment) for _ in range(arguments.repeat)]
        loaded = json.loads(
            subprocess.run(
                [sys.executable, "-c", IMPORTS_UP_TO_THE_RUN, arguments.project],
                capture_output=True,
                text=True,
                env=environment,
                check=True,
            ).stdout.splitlines()[-1]
        )
    terminal = "a terminal that answers as xterm does" if arguments.answer else "a terminal that answers nothing"
    print(
        f"ti-tui {Path(arguments.project).name}, in {terminal}: first screen painted in {statistics.median(paints):.2f} s (median of {len(paints)}; "
        f"min {min(paints):.2f}, max {max(paints):.2f})"
    )
    print(
        f"bare interpreter start and print: {statistics.median(bare):.2f} s (median); the wizard's own share: "
        f"{statistics.median(paints) - statistics.median(bare):.2f} s"
    )
    ours = sorted(name for name in loaded if name.startswith("ti_tui"))
    print(
        f"modules loaded before the first paint: {len(loaded)} in all, {len(ours)} of ti-tui's; model libraries: "
        f"{', '.join(name for name in HEAVY if name in loaded) or 'none'}"
    )
    print("ti-tui's: " + ", ".join(ours))
    top = sorted({name.split(".")[0] for name in loaded if not name.startswith("_")})
    print("packages: " + ", ".join(top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
