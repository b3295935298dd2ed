"""Cards of templates and pipelines, and diffs between versions: HTML and plain text. Every value that
reaches HTML is escaped. In IPython they are how these definitions display (``show_cards_in``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from html import escape
from typing import Any

from promptlab_nb.schemas.definitions import Definition, DefinitionDiff, Pipeline, PipelineStep, Template

CARD_STYLE = (
    "border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;padding:8px 12px;"
    "font-family:var(--jp-ui-font-family,sans-serif);max-width:960px"
)
PRE_STYLE = (
    "white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;"
    "background:var(--jp-layout-color2,#f5f5f5);padding:6px;border-radius:4px;margin:4px 0"
)


DEFAULT_MODEL_HINT = 'choose one with %config PromptLab.default_model = "provider:model"'


def _version_label(record: Definition) -> str:
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


def _template_fields(template: Template) -> dict[str, Any]:
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


def template_card_html(template: Template) -> str:
    return (
        f'<div class="promptlab-card" style="{CARD_STYLE}">'
        f"<div><b>template {escape(template.name)}</b> {escape(_version_label(template))}</div>"
        f"{_fields_html(_template_fields(template))}"
        f'<pre style="{PRE_STYLE}">{escape(template.body)}</pre></div>'
    )


def template_card_text(template: Template) -> str:
    fields = "\n".join(
        f"  {key}: {', '.join(value) if isinstance(value, list) else value}"
        for key, value in _template_fields(template).items()
        if value
    )
    return f"template {template.name} {_version_label(template)}\n{fields}"


def _step_label(step: PipelineStep) -> str:
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


def _pipeline_fields(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "steps": [_step_label(step) for step in pipeline.steps],
        "inputs": pipeline.inputs or ["(none)"],
        "outputs": pipeline.outputs,
        "description": pipeline.description,
    }


def pipeline_card_html(pipeline: Pipeline) -> str:
    steps = "".join(f"<li>{escape(step)}</li>" for step in _pipeline_fields(pipeline)["steps"])
    fields = {key: value for key, value in _pipeline_fields(pipeline).items() if key != "steps"}
    return (
        f'<div class="promptlab-card" style="{CARD_STYLE}">'
        f"<div><b>pipeline {escape(pipeline.name)}</b> {escape(_version_label(pipeline))}</div>"
        f"<ol style='margin:4px 0'>{steps}</ol>{_fields_html(fields)}</div>"
    )


def pipeline_card_text(pipeline: Pipeline) -> str:
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


def diff_html(diff: DefinitionDiff) -> str:
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


CARDS: dict[type, tuple[Callable[[Any], str], Callable[[Any], str]]] = {
    Template: (template_card_html, template_card_text),
    Pipeline: (pipeline_card_html, pipeline_card_text),
    DefinitionDiff: (diff_html, str),
}


def card_html(definition: Template | Pipeline) -> str:
    return CARDS[type(definition)][0](definition)


def card_text(definition: Template | Pipeline) -> str:
    return CARDS[type(definition)][1](definition)


def show_cards_in(shell: Any) -> None:
    """``shell`` displays templates, pipelines and diffs as their cards, as HTML and as text."""
    formatters = shell.display_formatter.formatters
    for kind, (as_html, as_text) in CARDS.items():
        formatters["text/html"].for_type(kind, as_html)
        formatters["text/plain"].for_type(kind, _pretty_printer(as_text))


def show_cards_in_running_shell() -> None:
    """Cards in the IPython shell this process runs in, if any (IPython is not imported for a check)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        show_cards_in(shell)


def _pretty_printer(as_text: Callable[[Any], str]) -> Callable[[Any, Any, bool], None]:
    def pretty(value: Any, printer: Any, cycle: bool) -> None:
        printer.text(as_text(value))

    return pretty
