"""Rich output: HTML cards and plain-text forms. Every value that reaches HTML is escaped."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptlab_nb.schemas.definitions import DefinitionDiff, Pipeline, PipelineStep, Template

CARD_STYLE = (
    "border:1px solid var(--jp-border-color1,#ccc);border-radius:6px;padding:8px 12px;"
    "font-family:var(--jp-ui-font-family,sans-serif);max-width:960px"
)
PRE_STYLE = "white-space:pre-wrap;background:var(--jp-layout-color2,#f5f5f5);padding:6px;border-radius:4px;margin:4px 0"


def _version_label(record: Any) -> str:
    label = f"v{record.version}"
    if record.unchanged:
        label += " (unchanged)"
    elif record.previous_version:
        label += f" (was v{record.previous_version})"
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
        "model": template.model or "(default)",
        "params": ", ".join(f"{key}={value}" for key, value in template.params.items()),
        "description": template.description,
    }


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
    return (
        step.template
        + (f"@{step.version}" if step.version else "")
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


TABLE_STYLE = "<style>.promptlab-table td{white-space:pre-wrap;vertical-align:top;max-width:420px}</style>"


def experiment_header_text(
    name: str, status: str, variants: int, rows: int, repeats: int, counts: dict[str, int]
) -> str:
    done = ", ".join(f"{count} {state}" for state, count in sorted(counts.items())) or "no runs yet"
    counts_text = f"{_plural(variants, 'variant')} x {_plural(rows, 'row')} x {_plural(repeats, 'repeat')}"
    return f"experiment {name}: {counts_text}, {status} ({done})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def frame_html(frame, rows: int) -> str:
    shown = frame.head(rows)
    more = f"<div>… {len(frame) - rows} more rows</div>" if len(frame) > rows else ""
    return shown.to_html(escape=True, classes="promptlab-table", na_rep="", border=0) + more


def experiment_html(header: str, summary, outputs, rows: int) -> str:
    parts = [f'<div class="promptlab-experiment" style="{CARD_STYLE}">{TABLE_STYLE}<div><b>{escape(header)}</b></div>']
    if summary is not None:
        parts.append("<div><b>summary</b></div>" + frame_html(summary, rows))
    if outputs is not None:
        parts.append("<div><b>outputs</b></div>" + frame_html(outputs, rows))
    return "".join(parts) + "</div>"
