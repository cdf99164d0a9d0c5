"""`ti-tui doctor`: what this machine and a project have, and what is wrong, in words."""

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import TextIO

from ti_tui import __version__
from ti_tui.errors import UserError
from ti_tui.project.model import BUILTIN_TINY, ProjectSettings
from ti_tui.project.project import Project
from ti_tui.project.summary import ProjectSummary, summarize_project
from ti_tui.sd.device import CPU_BF16_VARIABLE, ComputeDevice, detect_devices, device_setting_problem

LIBRARIES = (
    "torch",
    "diffusers",
    "transformers",
    "accelerate",
    "safetensors",
    "textual",
    "pillow",
    "tomlkit",
    "pydantic",
    "huggingface-hub",
)
LABEL_WIDTH = 17


def run_doctor(project_path: Path | None, out: TextIO) -> int:
    """Print the report; returns 1 when something blocks training, else 0."""
    write = _Writer(out)
    write.heading(f"ti-tui {__version__} doctor")
    write.heading("System")
    write.fact("Python", f"{platform.python_version()} ({sys.executable})")
    write.fact("Platform", f"{platform.system()} {platform.release()} {platform.machine()}")
    write.heading("Libraries")
    for library in LIBRARIES:
        write.fact(library, _installed_version(library))
    write.heading("Compute")
    blocking: list[str] = []
    warnings: list[str] = []
    devices: list[ComputeDevice] | None = None
    try:
        devices = detect_devices()
        for device in devices:
            write.fact(device.name, _describe_device(device))
    except ImportError as error:
        write.fact("torch", f"cannot be imported ({error})")
        blocking.append(f"torch cannot be imported: {error}. Reinstall it: pip install torch")
    except UserError as error:
        write.line(f"  {error}")
        blocking.append(str(error))

    if project_path is not None:
        try:
            project = Project.open(project_path)
        except UserError as error:
            write.heading("Project")
            write.line(f"  {error}".replace("\n", "\n  "))
            blocking.append("the project cannot be opened (see above)")
        else:
            summary = summarize_project(project)
            _write_project(write, summary)
            blocking += [problem.text for problem in summary.errors]
            warnings += [problem.text for problem in summary.problems if problem.severity == "warning"]
            dataset_blocking, dataset_warnings = _write_dataset(write, project)
            blocking += dataset_blocking
            warnings += dataset_warnings
            if devices is not None:
                device_blocking, device_warnings = _device_problems(project.settings, devices)
                blocking += device_blocking
                warnings += device_warnings

    write.heading("Verdict")
    for text in blocking:
        write.line(f"  problem: {text}")
    for text in warnings:
        write.line(f"  warning: {text}")
    if not blocking:
        write.line("  No problems found." if not warnings else "  Nothing blocks training.")
    return 1 if blocking else 0


def _write_project(write: "_Writer", summary: ProjectSummary) -> None:
    write.heading(f"Project {summary.name} ({summary.root})")
    write.fact("Model", summary.model_text)
    write.fact("", summary.model.detail)
    write.fact("Tokenizer", summary.tokenizer.detail)
    write.fact("Images", f"{summary.image_count} in {summary.images_dir}, {summary.captioned_count} with captions")
    for notice in summary.notices:
        write.fact("Note", notice)


def _write_dataset(write: "_Writer", project: Project) -> tuple[list[str], list[str]]:
    """The image checks; the count of images is already in the project's own problems."""
    from ti_tui.dataset.workflow import check_project_images, training_size

    try:
        report = check_project_images(project)
    except UserError as error:
        write.heading("Images")
        write.line(f"  not checked: {error}")
        return [], []  # the project's own problems already name what is wrong with its images
    write.heading(f"Images ({len(report.facts)} readable, checked for training at {training_size(project)} px)")
    findings = [finding for finding in report.findings if finding.check != "count"]
    for finding in findings:
        write.line(f"  {finding.severity}: {finding}")
    if not findings:
        write.line("  No problems found in the images.")
    return (
        [str(finding) for finding in findings if finding.severity == "error"],
        [str(finding) for finding in findings if finding.severity == "warning"],
    )


def _device_problems(settings: ProjectSettings, devices: list[ComputeDevice]) -> tuple[list[str], list[str]]:
    """Whether the device the project asks for exists, and whether training will be painfully slow."""
    names = [device.name for device in devices]
    problem = device_setting_problem(settings.model.device, names)
    if problem:
        return [problem], []
    if settings.model.base != BUILTIN_TINY and (settings.model.device == "cpu" or names == ["cpu"]):
        return [], ["Training runs on the CPU: expect hours for an SD 1.5 model; a GPU makes it minutes."]
    return [], []


def _describe_device(device: ComputeDevice) -> str:
    text = device.description
    if device.total_memory:
        if device.free_memory is not None:
            text += f"; {device.free_memory / 2**30:.1f} GiB free of {device.total_memory / 2**30:.1f} GiB"
        else:
            text += f"; {device.total_memory / 2**30:.1f} GiB memory"
    if device.name.startswith("cuda"):
        text += "; bf16 " + ("supported" if device.supports_bf16 else "not supported (fp16 will be used)")
    if device.name == "cpu":
        text += "; bf16 " + ("native (precision auto trains in bf16)" if device.supports_bf16 else "emulated (precision auto trains in fp32)")
        if os.environ.get(CPU_BF16_VARIABLE):
            text += f", as {CPU_BF16_VARIABLE} says"
    return text


def _installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


class _Writer:
    def __init__(self, out: TextIO):
        self.out = out
        self.started = False

    def heading(self, text: str) -> None:
        if self.started:
            self.out.write("\n")
        self.started = True
        self.out.write(f"{text}\n")

    def fact(self, label: str, value: str) -> None:
        self.out.write(f"  {label.ljust(LABEL_WIDTH)}{value}\n")

    def line(self, text: str) -> None:
        self.out.write(f"{text}\n")
