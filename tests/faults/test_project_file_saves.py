"""A process killed in the middle of saving project.toml: the file is the old one or the new one, never a mix."""

import os
import subprocess
import sys

from fault_support import LEDGER, project_copy

SAVE = "from ti_tui.project import Project; Project.open({root!r}).update({{'training.steps': 777, 'token.init_text': 'dog'}})"


def test_a_kill_while_project_toml_is_saved_leaves_the_old_file_and_a_later_save_the_new(tmp_path):
    project = project_copy(tmp_path, {})
    path = project.store.path
    old = path.read_bytes()
    killed = subprocess.run(
        [sys.executable, "-c", SAVE.format(root=str(project.root))],
        env={**os.environ, "TI_TUI_WRITE_FAULTS": "kill:project.toml"},
        capture_output=True,
    )
    LEDGER.injected += 1
    assert killed.returncode == -9
    assert path.read_bytes() == old
    saved = subprocess.run([sys.executable, "-c", SAVE.format(root=str(project.root))], capture_output=True)
    assert saved.returncode == 0, saved.stderr
    new = path.read_text(encoding="utf-8")
    assert "steps = 777" in new and 'init_text = "dog"' in new
    assert new.replace("steps = 777", "steps = 300").replace('init_text = "dog"', 'init_text = "robot"') == old.decode("utf-8")
    LEDGER.files_intact += 1
    LEDGER.survived += 1
