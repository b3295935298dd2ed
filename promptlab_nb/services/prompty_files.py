"""Prompty files (``.prompty``: YAML front matter, then a body with role lines) as templates, both ways.

Both layouts import: the newer one (``model: {id, provider, options}``, ``inputs`` or ``inputSchema``
with ``kind: thread`` for a conversation) and the older one (``model: {api, configuration,
parameters}``, ``inputs`` and ``sample``). The body is Jinja2 with the role lines templates already
use; a conversation history, written as a thread input or as the loop that writes
``{{ item.role }}:`` lines, becomes a ``{{ history | messages }}`` line, whose messages are inserted
whole (data cannot forge a role). Model options become params; defaults and the sample become the
example variables. Export writes the newer layout, which imports back to the same template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from promptlab_nb.core.errors import InvalidFile
from promptlab_nb.engine.templating import ROLES
from promptlab_nb.services.marked_yaml import read_text
from promptlab_nb.services.template_drafts import TemplateDraft

PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "google": "gemini",
    "vertex": "gemini",
    "ollama": "ollama",
    "mock": "mock",
    "openai-compatible": "openai-compatible",
}
SERVED_BY_OPENAI = ("azure", "azure_openai", "foundry")
MODEL_PREFIXES = {"gpt-": "openai", "o1": "openai", "o3": "openai", "o4": "openai", "claude": "anthropic"}
MODEL_PREFIXES["gemini"] = "gemini"
OPTION_NAMES = {
    "temperature": "temperature",
    "maxOutputTokens": "max_tokens",
    "maxTokens": "max_tokens",
    "topP": "top_p",
    "topK": "top_k",
    "frequencyPenalty": "frequency_penalty",
    "presencePenalty": "presence_penalty",
    "seed": "seed",
    "stopSequences": "stop",
}
PARAM_OPTIONS = {param: option for option, param in OPTION_NAMES.items() if option != "maxTokens"}
NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.\-]+")
_DELIMITER = re.compile(r"^[ \t]*(?:---|\+\+\+)[ \t]*\r?$", re.MULTILINE)
_ROLE_MARKER = re.compile(
    r"^[ \t]*#?[ \t]*(system|user|assistant)[ \t]*(\[[^\]\n]*\])?[ \t]*:[ \t]*\r?$", re.IGNORECASE | re.MULTILINE
)
_HISTORY_LOOP = re.compile(
    r"^[ \t]*\{%-?\s*for\s+(?P<item>\w+)\s+in\s+(?P<thread>\w+)\s*-?%\}\s*"
    r"\{\{-?\s*(?P=item)\.role\s*-?\}\}:\s*\{\{-?\s*(?P=item)\.content\s*-?\}\}\s*"
    r"\{%-?\s*endfor\s*-?%\}[ \t]*\r?$",
    re.MULTILINE,
)
_THREAD_LINE = re.compile(r"^[ \t]*\{\{-?\s*(?P<thread>\w+)\s*\|\s*messages\s*-?\}\}[ \t]*\r?$", re.MULTILINE)


@dataclass(frozen=True)
class PromptyImport:
    """A template read from a .prompty file, and what in the file has no counterpart (one line each)."""

    template: TemplateDraft
    warnings: list[str] = field(default_factory=list)


def read_prompty(path: Path) -> PromptyImport:
    return parse_prompty(read_text(path), path)


def parse_prompty(text: str, path: Path) -> PromptyImport:
    front, body, body_line = _split_front_matter(text, path)
    warnings: list[str] = []
    threads = _thread_inputs(front)
    draft = TemplateDraft(
        name=_template_name(front.get("name"), path),
        body=_template_body(body, threads, path, body_line, warnings),
        model=_model_spec(front.get("model"), path, warnings),
        params=_params(front.get("model")),
        description=front.get("description") or None,
        examples=_examples(front, threads),
    )
    _check_format(front, path)
    warnings += [f"{path.name}: {key} is not imported (templates hold no {key})" for key in ("tools",) if key in front]
    return PromptyImport(draft, warnings)


def _split_front_matter(text: str, path: Path) -> tuple[dict[str, Any], str, int]:
    """The front matter as a mapping, the body, and the body's first line number."""
    opening = _DELIMITER.match(text.lstrip("\r\n\t "))
    if opening is None:
        return {}, text, 1
    start = text.index(opening.group(0)) + len(opening.group(0))
    closing = _DELIMITER.search(text, start)
    if closing is None:
        raise InvalidFile(str(path), "the front matter opened with --- is never closed with ---", 1, 1)
    front_line = text.count("\n", 0, start) + 1
    try:
        front = yaml.safe_load(text[start : closing.start()]) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = (mark.line + front_line, mark.column + 1) if mark else ()
        raise InvalidFile(str(path), f"the front matter is not valid YAML: {error.problem}", *where) from None
    if not isinstance(front, dict):
        raise InvalidFile(str(path), "the front matter must be a YAML mapping (name, model, inputs, ...)", front_line)
    body_start = closing.end() + 1
    return front, text[body_start:], text.count("\n", 0, body_start) + 1


def _check_format(front: dict[str, Any], path: Path) -> None:
    template = front.get("template")
    format_kind = template if isinstance(template, str) else (template or {}).get("format", "jinja2")
    if isinstance(format_kind, dict):
        format_kind = format_kind.get("kind", "jinja2")
    if str(format_kind).lower() not in ("jinja2", "jinja"):
        raise InvalidFile(str(path), f"the template format {format_kind!r} cannot be imported; only jinja2 templates")


def _template_name(name: Any, path: Path) -> str:
    cleaned = NAME_CHARACTERS.sub("-", str(name or path.stem)).strip("-._")
    return cleaned[:200] or "prompty"


def _input_properties(front: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> property, from ``inputSchema.properties`` or ``inputs`` (a list of named properties, or a
    mapping whose values are properties or bare defaults)."""
    schema = front.get("inputSchema")
    declared = schema.get("properties") if isinstance(schema, dict) else front.get("inputs")
    if isinstance(declared, list):
        return {str(item["name"]): item for item in declared if isinstance(item, dict) and "name" in item}
    if isinstance(declared, dict):
        return {str(name): value if _is_property(value) else {"default": value} for name, value in declared.items()}
    return {}


def _is_property(value: Any) -> bool:
    return isinstance(value, dict) and bool({"kind", "type", "default", "sample", "example"} & value.keys())


def _thread_inputs(front: dict[str, Any]) -> set[str]:
    return {
        name
        for name, prop in _input_properties(front).items()
        if str(prop.get("kind") or prop.get("type") or "").lower() == "thread"
    }


def _examples(front: dict[str, Any], threads: set[str]) -> dict[str, Any]:
    examples = {}
    for name, prop in _input_properties(front).items():
        for key in ("default", "example", "sample"):
            if key in prop and not (name in threads and prop[key] in ({}, None)):
                examples[name] = prop[key]
    sample = front.get("sample")
    if isinstance(sample, dict):
        examples.update({str(name): value for name, value in sample.items()})
    return examples


def _template_body(body: str, threads: set[str], path: Path, first_line: int, warnings: list[str]) -> str:
    body = _HISTORY_LOOP.sub(lambda found: f"{{{{ {found['thread']} | messages }}}}", body)
    for thread in threads:
        body = re.sub(
            rf"^[ \t]*\{{\{{-?\s*{thread}\s*-?\}}\}}[ \t]*\r?$", f"{{{{ {thread} | messages }}}}", body, flags=re.M
        )
    dropped: set[str] = set()

    def plain_marker(found: re.Match[str]) -> str:
        if found.group(2):
            dropped.add(found.group(2))
        return f"{found.group(1).lower()}:"

    body = _ROLE_MARKER.sub(plain_marker, body).strip("\r\n")
    if dropped:
        warnings.append(f"{path.name}: role attributes {', '.join(sorted(dropped))} are not imported")
    return _with_leading_role(body)


def _with_leading_role(body: str) -> str:
    """Prompty reads text before the first role line as a system message, templates as a user message;
    a lone leading ``user:`` line says what a template body without role lines means already."""
    markers = list(re.finditer(r"^(system|user|assistant):\r?$", body, re.MULTILINE))
    if not markers:
        return f"system:\n{body}" if body.strip() else body
    if body[: markers[0].start()].strip():
        return f"system:\n{body}"
    if len(markers) == 1 and markers[0].group(1) == "user" and not _THREAD_LINE.search(body):
        return body[markers[0].end() :].lstrip("\r\n")
    return body


def _model_spec(model: Any, path: Path, warnings: list[str]) -> str | None:
    if model is None:
        return None
    if isinstance(model, str):
        model = {"id": model}
    if not isinstance(model, dict):
        return None
    configuration = model.get("configuration") or model.get("connection") or {}
    configuration = configuration if isinstance(configuration, dict) else {}
    model_id = model.get("id") or next(
        (configuration[key] for key in ("name", "model", "azure_deployment") if configuration.get(key)), None
    )
    provider = str(model.get("provider") or configuration.get("type") or "").lower()
    if not model_id:
        return None
    if provider in SERVED_BY_OPENAI:
        warnings.append(f"{path.name}: model {model_id!r} of {provider} runs as openai:{model_id} (set its base_url)")
        provider = "openai"
    known = PROVIDERS.get(provider) or _provider_of(str(model_id))
    if known is None:
        warnings.append(f"{path.name}: no provider is known for model {model_id!r}; the default model answers it")
        return None
    return f"{known}:{model_id}"


def _provider_of(model_id: str) -> str | None:
    return next((provider for prefix, provider in MODEL_PREFIXES.items() if model_id.startswith(prefix)), None)


def _params(model: Any) -> dict[str, Any]:
    if not isinstance(model, dict):
        return {}
    if isinstance(model.get("parameters"), dict):
        return dict(model["parameters"])
    options: dict[str, Any] = model["options"] if isinstance(model.get("options"), dict) else {}
    params = {OPTION_NAMES[key]: value for key, value in options.items() if key in OPTION_NAMES}
    extra = options.get("additionalProperties")
    return {**params, **(extra if isinstance(extra, dict) else {})}


def prompty_text(template: TemplateDraft) -> str:
    """The template as a .prompty file of the newer layout."""
    front: dict[str, Any] = {"name": template.name}
    if template.description:
        front["description"] = template.description
    model = _model_section(template)
    if model:
        front["model"] = model
    inputs = _inputs_section(template)
    if inputs:
        front["inputs"] = inputs
    front["template"] = {"format": {"kind": "jinja2"}, "parser": {"kind": "prompty"}}
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{header}---\n{_prompty_body(template.body)}\n"


def _model_section(template: TemplateDraft) -> dict[str, Any]:
    section: dict[str, Any] = {}
    if template.model:
        provider, _, model_id = template.model.partition(":")
        section.update(id=model_id, provider=provider)
    options = {PARAM_OPTIONS[key]: value for key, value in template.params.items() if key in PARAM_OPTIONS}
    extra = {key: value for key, value in template.params.items() if key not in PARAM_OPTIONS}
    if extra:
        options["additionalProperties"] = extra
    if options:
        section["options"] = options
    return section


def _inputs_section(template: TemplateDraft) -> list[dict[str, Any]]:
    from promptlab_nb.engine.templating import compile_template

    threads = set(_THREAD_LINE.findall(template.body))
    names = dict.fromkeys([*compile_template(template.body, template.name).variables, *template.examples])
    inputs = []
    for name in names:
        item: dict[str, Any] = {
            "name": name,
            "kind": "thread" if name in threads else _kind_of(template.examples.get(name)),
        }
        if name in template.examples:
            item["default"] = template.examples[name]
        inputs.append(item)
    return inputs


def _kind_of(value: Any) -> str:
    kinds = ((bool, "boolean"), (int, "integer"), (float, "float"), (list, "array"), (Mapping, "object"))
    return next((kind for kind_type, kind in kinds if isinstance(value, kind_type)), "string")


def _prompty_body(body: str) -> str:
    """Role lines as Prompty reads them: a body without one is a user message; a thread line becomes the
    thread input written on its own line."""
    body = _THREAD_LINE.sub(lambda found: f"{{{{{found['thread']}}}}}", body)
    if not re.match(rf"^\s*({'|'.join(ROLES)})\s*:\s*$", body.split("\n", 1)[0], re.IGNORECASE):
        body = f"user:\n{body}"
    return body.rstrip("\n")
