"""`ti-tui fetch` and the wizard's offer: downloads happen only when asked, and only what is missing."""

import pytest
from conftest import SAMPLE_PROJECT, ti_tui_in_process

from ti_tui.errors import UserError
from ti_tui.project import Project, create_project
from ti_tui.sd.fetch import PIPELINE_FILES, fetch_missing
from ti_tui.settings import ModelSettings
from ti_tui.tui.app import create_app


def test_nothing_is_fetched_for_a_model_that_is_all_here():
    result = ti_tui_in_process("fetch", str(SAMPLE_PROJECT))
    assert result.returncode == 0
    assert "Nothing to fetch: builtin:tiny is all here." in result.stdout


def test_fetch_explains_that_it_is_offline(tmp_path, tiny_checkpoint):
    assert ti_tui_in_process("new", "p", "--model", str(tiny_checkpoint), cwd=tmp_path).returncode == 0
    result = ti_tui_in_process("fetch", "p", cwd=tmp_path)
    assert result.returncode == 2
    assert "HF_HUB_OFFLINE is set, so vocab.json and merges.txt of openai/clip-vit-large-patch14 cannot be fetched" in result.stderr


def test_a_checkpoint_gets_its_family_tokenizer_and_nothing_else(tmp_path, tiny_checkpoint, hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    asked = []

    def pretend_download(repo, filename, subfolder=None):
        asked.append(filename)
        return str(tmp_path / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", pretend_download)
    fetched = fetch_missing(ModelSettings(base=str(tiny_checkpoint)), tmp_path)
    assert fetched == [f"Fetched the SD 1.x tokenizer (vocab.json and merges.txt of openai/clip-vit-large-patch14) into {tmp_path}."]
    assert asked[:2] == ["vocab.json", "merges.txt"]


def test_a_hub_model_is_fetched_without_the_files_training_never_reads(tmp_path, hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = []

    def pretend_snapshot(repo, allow_patterns):
        calls.append((repo, allow_patterns))
        return str(tmp_path / "snapshot")

    monkeypatch.setattr("huggingface_hub.snapshot_download", pretend_snapshot)
    fetched = fetch_missing(ModelSettings(base="org/some-model"), tmp_path)
    assert fetched == [f"Fetched org/some-model into {tmp_path / 'snapshot'}."]
    assert calls == [("org/some-model", PIPELINE_FILES)]
    assert not any("safety_checker" in pattern or "fp16" in pattern for pattern in PIPELINE_FILES)


async def test_the_wizard_offers_to_fetch_only_when_something_is_missing(tmp_path, tiny_checkpoint, monkeypatch):
    from wizard_support import fake_services, record_notices, settle

    monkeypatch.setenv("TI_TUI_IMAGES", "off")
    fetches = []

    def pretend_fetch(settings, base_dir):
        fetches.append(settings.base)
        raise UserError("could not fetch: the network is down")

    async def offered(project) -> bool:
        services = fake_services(tmp_path / "data", fetch=pretend_fetch)
        services.memory.remember(project.root, "settings")  # where the model is shown, and fetched
        app = create_app(project, services)
        said = record_notices(app)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await settle(app, pilot)
            shown = {binding.description for _, binding, enabled, _ in app.active_bindings.values() if enabled}
            if "Fetch what is missing" in shown:
                await pilot.press("f5")  # the cursor is in a setting, where f is a letter
                await settle(app, pilot)
                assert any("the network is down" in notice for notice in said)
            return "Fetch what is missing" in shown

    assert not await offered(Project.open(SAMPLE_PROJECT))
    assert await offered(create_project(tmp_path / "p", token="wdnsdy", model=str(tiny_checkpoint)))
    assert fetches == [str(tiny_checkpoint)]


def test_fetch_leaves_local_models_alone(tmp_path, tiny_model_dir):
    assert fetch_missing(ModelSettings(base="builtin:tiny"), tmp_path) == []
    assert fetch_missing(ModelSettings(base=str(tiny_model_dir)), tmp_path) == []


def test_fetch_says_when_no_download_can_help(tmp_path, tiny_variant):
    with pytest.raises(UserError, match="does not exist; downloading cannot fix that"):
        fetch_missing(ModelSettings(base=str(tmp_path / "gone.safetensors")), tmp_path)
    folder = tiny_variant(leave_out=("tokenizer",))
    with pytest.raises(UserError, match="the tokenizer is missing and no download fixes that"):
        fetch_missing(ModelSettings(base=str(folder)), tmp_path)
