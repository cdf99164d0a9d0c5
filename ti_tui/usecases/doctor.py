"""What this machine and a project have, and what is wrong, as a report each front end shows its way."""

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ti_tui import __version__
from ti_tui.errors import UserError
from ti_tui.findings import Finding, Fix, errors
from ti_tui.project import Project
from ti_tui.sd.device import CPU_BF16_VARIABLE, ComputeDevice, detect_devices, device_setting_problem
from ti_tui.settings import BUILTIN_TINY, ProjectSettings
from ti_tui.usecases.summary import ProjectSummary, summarize_project

# A UNet this large is a real model (SD 1.5's has 860M parameters), which a CPU trains in hours.
FULL_SIZE_UNET_PARAMETERS = 300_000_000
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


@dataclass
class ReportSection:
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)  # (label, value)
    lines: list[str] = field(default_factory=list)  # sentences after the facts


@dataclass
class DoctorReport:
    sections: list[ReportSection]
    findings: list[Finding]  # the verdict
    listed_above: list[Finding] = field(default_factory=list)  # those a section lists already (the images')

    @property
    def blocks_training(self) -> bool:
        return bool(errors(self.findings))


def diagnose(project_path: Path | None) -> DoctorReport:
    """This machine (Python, libraries, compute devices) and, given one, the project and its images."""
    sections = [
        ReportSection(f"ti-tui {__version__} doctor"),
        ReportSection(
            "System",
            [
                ("Python", f"{platform.python_version()} ({sys.executable})"),
                ("Platform", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ],
        ),
        ReportSection("Libraries", [(library, _installed_version(library)) for library in LIBRARIES]),
    ]
    findings: list[Finding] = []
    listed_above: list[Finding] = []
    compute = ReportSection("Compute")
    sections.append(compute)
    devices: list[ComputeDevice] | None = None
    try:
        devices = detect_devices()
        compute.facts = [(device.name, _describe_device(device)) for device in devices]
    except ImportError as error:
        compute.facts = [("torch", f"cannot be imported ({error})")]
        findings.append(Finding("error", f"torch cannot be imported: {error}.", "Reinstall it: pip install torch."))
    except UserError as error:
        compute.lines = [str(error)]
        findings.append(Finding("error", str(error)))

    if project_path is not None:
        try:
            project = Project.open(project_path)
        except UserError as error:
            sections.append(ReportSection("Project", lines=[str(error)]))
            findings.append(Finding("error", "the project cannot be opened (see above)", fix=error.fix))
        else:
            summary = summarize_project(project)
            sections.append(_project_section(summary))
            findings += summary.problems
            images, image_findings = _image_section(project)
            sections.append(images)
            findings += image_findings
            listed_above = image_findings
            findings += _damaged_runs(project)
            if devices is not None:
                findings += _device_problems(project.settings, devices, project.root)
    return DoctorReport(sections, sorted(findings, key=lambda finding: finding.severity != "error"), listed_above)


def _project_section(summary: ProjectSummary) -> ReportSection:
    return ReportSection(
        f"Project {summary.name} ({summary.root})",
        [
            ("Model", summary.model_text),
            ("", summary.model.detail),
            ("Tokenizer", summary.tokenizer.detail),
            ("Images", f"{summary.image_count} in {summary.images_dir}, {summary.captioned_count} with captions"),
            *(("Note", notice) for notice in summary.notices),
        ],
    )


def _image_section(project: Project) -> tuple[ReportSection, list[Finding]]:
    """The image checks; the count of images is already among the project's own problems."""
    from ti_tui.usecases.images import check_project_images, training_size

    try:
        report = check_project_images(project)
    except UserError as error:
        return ReportSection("Images", lines=[f"not checked: {error}"]), []
    findings = [finding for finding in report.findings if finding.check != "count"]
    lines = [f"{finding.severity}: {finding}" for finding in findings] or ["No problems found in the images."]
    title = f"Images ({len(report.facts)} readable, checked for training at {training_size(project)} px)"
    return ReportSection(title, lines=lines), findings


def _damaged_runs(project: Project) -> list[Finding]:
    """Runs whose run.json cannot be read: no list shows what they were, and nothing can resume them."""
    from ti_tui.runs.status import run_facts
    from ti_tui.usecases.training import list_runs

    findings = []
    for run in list_runs(project):
        try:
            run_facts(run)
        except UserError as error:
            findings.append(Finding("warning", f"{error}.", check="run", subjects=(run.id,)))
    return findings


def _device_problems(settings: ProjectSettings, devices: list[ComputeDevice], project_root: Path) -> list[Finding]:
    """Whether the device the project asks for exists, and whether training will be painfully slow."""
    names = [device.name for device in devices]
    problem = device_setting_problem(settings.model.device, names)
    if problem:
        return [Finding("error", problem, fix=Fix("edit-setting", "model.device"), check="device")]
    if settings.model.base != BUILTIN_TINY and (settings.model.device == "cpu" or names == ["cpu"]) and _full_size(settings, project_root):
        return [Finding("warning", "Training runs on the CPU: a full-size model takes hours here; a GPU makes it minutes.", check="device")]
    return []


def _full_size(settings: ProjectSettings, project_root: Path) -> bool:
    """Whether the model is one of the real ones, which a CPU trains slowly; a small test model is not.
    One that cannot be read is said elsewhere, and taken for a full-size one here."""
    from ti_tui.sd.size import model_size
    from ti_tui.sd.source import classify_model_source

    try:
        return model_size(classify_model_source(settings.model.base, project_root)).unet_parameters >= FULL_SIZE_UNET_PARAMETERS
    except (UserError, OSError):
        return True


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
        text += "; bf16 " + (
            "native (precision auto trains in bf16)" if device.supports_bf16 else "emulated (precision auto trains in fp32)"
        )
        if os.environ.get(CPU_BF16_VARIABLE):
            text += f", as {CPU_BF16_VARIABLE} says"
    return text


def _installed_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
