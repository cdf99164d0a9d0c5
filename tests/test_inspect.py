"""`ti-tui inspect`: every fact about our own embedding files, and which tools load them."""

import pytest
import torch
from conftest import ti_tui_in_process
from safetensors.torch import save_file

from ti_tui.embedding.files import Embedding, read_embedding, write_embedding
from ti_tui.embedding.inspect import tool_verdicts


def our_files(folder):
    vectors = torch.randn((2, 768), generator=torch.Generator().manual_seed(0)) * 0.02
    embedding = Embedding(vectors, "zorbot", step=250, init_text="robot", base_model="builtin:tiny", base_model_hash="22f5f28244")
    paths = []
    for layout, suffix in (("safetensors", ".safetensors"), ("pt", ".pt"), ("diffusers", ".bin")):
        path = folder / f"zorbot{suffix}"
        write_embedding(embedding, path, layout)
        paths.append(path)
    return paths


def test_inspect_prints_every_fact_about_our_files(tmp_path, tiny_model_dir):
    paths = our_files(tmp_path)
    result = ti_tui_in_process("inspect", *map(str, paths), "--model", "builtin:tiny")
    assert result.returncode == 0, result.stderr
    safetensors_report = result.stdout.split(str(paths[1]))[0]
    for expected in (
        "format     safetensors, one tensor emb_params",
        "trigger    zorbot (UIs use the file name)",
        "vectors    2 x width 768: SD 1.x",
        "step       250",
        "trained on builtin:tiny (hash 22f5f28244)",
        "init text  robot",
        "made by    ti-tui",
        "the typical token of builtin:tiny",
        "fits       yes: builtin:tiny is SD 1.x, width 768",
        "web UI     yes: type zorbot in prompts",
        "ComfyUI    yes: type embedding:zorbot in prompts",
        'diffusers  yes: pipe.load_textual_inversion(path, token="zorbot")',
        "InvokeAI   yes: type <zorbot> in prompts",
    ):
        assert expected in safetensors_report, expected
    assert "format     classic web UI .pt (string_to_param)" in result.stdout
    assert "format     diffusers {token: tensor}" in result.stdout
    assert "InvokeAI   no: in this layout it reads only single-vector files" in result.stdout


def test_inspect_reports_a_bad_file_and_goes_on(tmp_path):
    good = our_files(tmp_path)[0]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 10)
    result = ti_tui_in_process("inspect", str(bad), str(good))
    assert result.returncode == 2
    assert "problem    " in result.stdout and "not a safetensors file" in result.stdout
    assert "vectors    2 x width 768" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_files_other_tools_cannot_load_are_called_out(tmp_path):
    torch.save({"string_to_param": {"*": torch.ones(1, 768)}}, tmp_path / "bare.pt")
    verdicts = {verdict.tool: verdict for verdict in tool_verdicts(read_embedding(tmp_path / "bare.pt"))}
    assert not verdicts["diffusers"].loads and "'name'" in verdicts["diffusers"].how
    assert not verdicts["InvokeAI"].loads and "string_to_token" in verdicts["InvokeAI"].how
    assert not verdicts["web UI"].loads and ".format_version" in verdicts["web UI"].how
    assert verdicts["ComfyUI"].loads

    save_file({"clip_l": torch.ones(1, 768), "clip_g": torch.ones(1, 1280)}, tmp_path / "xl.safetensors")
    assert all("only with SDXL models" in verdict.how for verdict in tool_verdicts(read_embedding(tmp_path / "xl.safetensors")))


@pytest.mark.slow
def test_broken_or_odd_embeddings_are_called_out(tmp_path):
    vectors = torch.full((2, 768), 0.1)
    vectors[1, 3] = float("nan")
    write_embedding(Embedding(vectors, "diverged"), tmp_path / "diverged.safetensors", "safetensors")
    result = ti_tui_in_process("inspect", str(tmp_path / "diverged.safetensors"))
    assert result.returncode == 2
    assert "problem    the vectors hold NaN or infinite values" in result.stdout
    assert "web UI     no: the vectors hold NaN" in result.stdout

    write_embedding(Embedding(torch.full((300, 768), 0.1), "huge"), tmp_path / "huge.safetensors", "safetensors")
    report = ti_tui_in_process("inspect", str(tmp_path / "huge.safetensors")).stdout
    assert "300 vectors are more than one prompt holds (75 tokens)" in report
    assert "norms      min 2.77, mean 2.77, max 2.77" in report

    save_file({"emb_params": torch.ones(1, 768), "extra": torch.ones(3)}, tmp_path / "extra.safetensors")
    verdicts = {verdict.tool: verdict.loads for verdict in tool_verdicts(read_embedding(tmp_path / "extra.safetensors"))}
    assert verdicts == {"web UI": False, "ComfyUI": False, "diffusers": False, "InvokeAI": True}


def test_an_embedding_of_another_family_is_not_measured_against_the_model(tmp_path, tiny_model_dir):
    write_embedding(Embedding(torch.full((2, 1024), 0.1), "sd2word"), tmp_path / "sd2word.safetensors", "safetensors")
    report = ti_tui_in_process("inspect", str(tmp_path / "sd2word.safetensors"), "--model", "builtin:tiny").stdout
    assert "times the typical token" not in report
    assert "fits       no: sd2word.safetensors has vectors of width 1024 (SD 2.x), but this SD 1.x model needs width 768" in report


def test_an_old_embedding_saved_as_a_parameter_dict_is_read(tmp_path):
    parameters = torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.ones(2, 768))})
    torch.save({"string_to_token": {"*": 265}, "string_to_param": parameters, "name": "old", "step": 5000}, tmp_path / "old.pt")
    read = read_embedding(tmp_path / "old.pt")
    assert (read.embedding.trigger, read.embedding.step, read.embedding.vector_count) == ("old", 5000, 2)
