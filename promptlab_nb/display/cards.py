"""Cards of templates and pipelines, and diffs between versions: HTML and plain text. Every value that
reaches HTML is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any, Protocol


class Versioned(Protocol):
    """What a card reads of a saved definition (the schemas' Template and Pipeline), so that
    formatting imports nothing of the schemas."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def previous_version(self) -> int | None: ...
    @property
    def unchanged(self) -> bool: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def description(self) -> str | None: ...
    @property
    def labels(self) -> list[str]: ...


class TemplateLike(Versioned, Protocol):
    @property
    def body(self) -> str: ...
    @property
    def model(self) -> str | None: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def variables(self) -> list[str]: ...
    @property
    def optional_variables(self) -> list[str]: ...
    @property
    def unchosen_default_model(self) -> str | None: ...


class StepLike(Protocol):
    @property
    def template(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def label(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def output_name(self) -> str: ...
    @property
    def parse(self) -> str | None: ...


class PipelineLike(Versioned, Protocol):
    @property
    def steps(self) -> Sequence[StepLike]: ...
    @property
    def inputs(self) -> list[str]: ...
    @property
    def outputs(self) -> list[str]: ...


class DiffLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def old_version(self) -> int: ...
    @property
    def new_version(self) -> int: ...
    @property
    def body_diff(self) -> str: ...
    @property
    def settings(self) -> dict[str, tuple[Any, Any]]: ...


CARD_STYLE = (
    "border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;padding:8px 12px;"
    "font-family:var(--jp-ui-font-family,sans-serif);max-width:960px"
)
PRE_STYLE = (
    "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;"
    "background:var(--jp-layout-color2,#f5f5f5);padding:6px;border-radius:4px;margin:4px 0"
)


DEFAULT_MODEL_HINT = 'choose one with %config PromptLab.default_model = "provider:model"'


def _version_label(record: Versioned) -> str:
    label = f"v{record.version}"
    if record.unchanged:
        label += " (unchanged)"
    elif record.previous_version:
        label += f" (was v{record.previous_version})"
    if record.labels:
        label += f" [{', '.join(record.labels)}]"
    if record.deleted:
        label += " [deleted]"
    return label


def _joined(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _fields_html(fields: dict[str, Any]) -> str:
    return "".join(
        f"<div><b>{escape(key)}</b>: {escape(_joined(value))}</div>"
        for key, value in fields.items()
        if value not in (None, "", [], {})
    )


def _template_fields(template: TemplateLike) -> dict[str, Any]:
    return {
        "variables": template.variables or ["(none)"],
        "optional": [f"{name} (false when not given)" for name in template.optional_variables],
        "model": template.model or _default_model_label(template.unchosen_default_model),
        "params": ", ".join(f"{key}={value}" for key, value in template.params.items()),
        "description": template.description,
    }


def _default_model_label(unchosen: str | None) -> str:
    if unchosen is None:
        return "(default)"
    return f"{unchosen} (no model configured: {DEFAULT_MODEL_HINT})"


def template_card_html(template: TemplateLike) -> str:
    return (
        f'<div class="promptlab-card" style="{CARD_STYLE}">'
        f"<div><b>template {escape(template.name)}</b> {escape(_version_label(template))}</div>"
        f"{_fields_html(_template_fields(template))}"
        f'<pre style="{PRE_STYLE}">{escape(template.body)}</pre></div>'
    )


def template_card_text(template: TemplateLike) -> str:
    fields = "\n".join(
        f"  {key}: {', '.join(value) if isinstance(value, list) else value}"
        for key, value in _template_fields(template).items()
        if value
    )
    return f"template {template.name} {_version_label(template)}\n{fields}"


def _step_label(step: StepLike) -> str:
    settings = [step.model] if step.model else []
    settings += [f"{key}={value}" for key, value in step.params.items()]
    pin = step.version or step.label
    return (
        step.template
        + (f"@{pin}" if pin else "")
        + f" -> {step.output_name}"
        + (f" ({', '.join(settings)})" if settings else "")
        + (" [json]" if step.parse else "")
    )


def _pipeline_fields(pipeline: PipelineLike) -> dict[str, Any]:
    return {
        "steps": [_step_label(step) for step in pipeline.steps],
        "inputs": pipeline.inputs or ["(none)"],
        "outputs": pipeline.outputs,
        "description": pipeline.description,
    }


def pipeline_card_html(pipeline: PipelineLike) -> str:
    steps = "".join(f"<li>{escape(step)}</li>" for step in _pipeline_fields(pipeline)["steps"])
    fields = {key: value for key, value in _pipeline_fields(pipeline).items() if key != "steps"}
    return (
        f'<div class="promptlab-card" style="{CARD_STYLE}">'
        f"<div><b>pipeline {escape(pipeline.name)}</b> {escape(_version_label(pipeline))}</div>"
        f"<ol style='margin:4px 0'>{steps}</ol>{_fields_html(fields)}</div>"
    )


def pipeline_card_text(pipeline: PipelineLike) -> str:
    fields = _pipeline_fields(pipeline)
    steps = "\n".join(f"  {position}. {step}" for position, step in enumerate(fields.pop("steps"), start=1))
    rest = "\n".join(
        f"  {key}: {', '.join(value) if isinstance(value, list) else value}" for key, value in fields.items() if value
    )
    return f"pipeline {pipeline.name} {_version_label(pipeline)}\n{steps}\n{rest}"


def _diff_line_html(line: str) -> str:
    colour = {"+": "#1a7f37", "-": "#cf222e", "@": "#8250df"}.get(line[:1])
    style = f' style="color:{colour}"' if colour and not line.startswith(("+++", "---")) else ""
    return f"<span{style}>{escape(line)}</span>"


def diff_html(diff: DiffLike) -> str:
    settings = "".join(
        f"<div><b>{escape(key)}</b>: {escape(repr(old))} &rarr; {escape(repr(new))}</div>"
        for key, (old, new) in diff.settings.items()
    )
    body = "\n".join(_diff_line_html(line) for line in diff.body_diff.splitlines())
    return (
        f'<div class="promptlab-diff" style="{CARD_STYLE}">'
        f"<div><b>{escape(diff.name)}</b> v{diff.old_version} &rarr; v{diff.new_version}</div>{settings}"
        f'<pre style="{PRE_STYLE}">{body or "(no differences in the body)"}</pre></div>'
    )
