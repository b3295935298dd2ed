"""promptfoo configs (``promptfooconfig.yaml``) as experiment files.

What maps: ``prompts`` (strings, ``file://`` text files, with ``---`` between prompts, and chat-format
JSON), ``providers`` (``openai:``, ``openai:chat:``, ``anthropic:messages:``, ``vertex:`` and
``google:`` to gemini, ``ollama:chat:``, ``echo`` to ``mock:echo``, and ``{id, config}`` with
temperature, max_tokens and the like), ``tests`` (inline, a ``file://`` CSV with ``__expected``
columns, vars whose lists expand to every combination) and ``defaultTest``, and the assertions of
``promptlab_nb.evaluation.assertions`` with their ``not-`` forms, ``weight`` and ``threshold``.

Each test becomes a data row holding its own assertions; each distinct assertion is an evaluator
``assert:LABEL`` and the evaluator ``test`` gives promptfoo's verdict; the threshold ``test >= 1``
fails the run when a test fails, as ``promptfoo eval`` does. Nunjucks ``{{ var }}`` is
Jinja already; ``| dump`` becomes ``| tojson``. What cannot be mapped is reported, one warning line
per kind.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptlab_nb.core.config import PromptLab
from promptlab_nb.core.errors import InvalidFile
from promptlab_nb.evaluation.assertions import (
    ASSERTION_TYPES,
    ASSERTIONS_KEY,
    SPEC_PREFIX,
    TEST_THRESHOLD_KEY,
    TEST_VERDICT,
    assertion_label,
)
from promptlab_nb.services.experiment_files import ExperimentFile, experiment_from_document
from promptlab_nb.services.marked_yaml import MarkedDocument, PathPart, load_marked, read_text

PROVIDER_PREFIXES = (
    ("openai:chat:", "openai"),
    ("openai:responses:", "openai"),
    ("openai:", "openai"),
    ("anthropic:messages:", "anthropic"),
    ("anthropic:", "anthropic"),
    ("vertex:chat:", "gemini"),
    ("vertex:", "gemini"),
    ("google:", "gemini"),
    ("ollama:chat:", "ollama"),
    ("ollama:", "ollama"),
)
UNSUPPORTED_PROVIDER_PREFIXES = ("openai:completion:", "ollama:completion:", "openai:embedding:")
PROVIDER_PARAMS = (
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
)
CSV_ASSERTION = re.compile(r"^(?P<type>(?:not-)?[a-z][a-z-]*)(?:\((?P<threshold>[\d.]+)\))?:(?P<value>.*)$", re.DOTALL)
NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_.\-]+")
TEXT_PROMPT_SUFFIXES = (".txt", ".md", ".j2", ".jinja", ".njk", ".nunjucks", ".prompt")
_NUNJUCKS_DUMP = re.compile(r"\|\s*dump\b")
ALL_TESTS_PASS = f"{TEST_VERDICT} >= 1"
"""As ``promptfoo eval``, a run fails when a test fails."""


@dataclass
class PromptfooConversion:
    """A promptfoo config converted: the experiment file's content, and one warning line per kind of
    thing that could not be mapped."""

    path: Path
    document: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def yaml_text(self) -> str:
        header = f"# Converted from {self.path.name} by promptlab import promptfoo.\n"
        return header + yaml.dump(self.document, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True, width=1000)

    def summary(self) -> str:
        document = self.document
        counts = {
            "templates": len(document["templates"]),
            "models": len(document.get("models", [])),
            "rows": len(document["data"]),
            "evaluators": len(document.get("evaluators", [])),
        }
        return ", ".join(f"{count} {noun if count != 1 else noun[:-1]}" for noun, count in counts.items() if count)


class _LiteralDumper(yaml.SafeDumper):
    """Multi-line texts (prompt bodies) as ``|`` blocks, and shared values written out, not as aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text_representer(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text and not text.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_LiteralDumper.add_representer(str, _text_representer)


def read_promptfoo_config(path: Path, settings: PromptLab | None = None) -> ExperimentFile:
    """The experiment a promptfoo config describes, ready to run."""
    conversion = convert_promptfoo_config(path, settings)
    document = MarkedDocument(path, conversion.document, None)
    return experiment_from_document(document, settings, conversion.warnings)


def convert_promptfoo_config(
    path: Path, settings: PromptLab | None = None, output_folder: Path | None = None
) -> PromptfooConversion:
    """Convert ``path``; file references are read now, so the experiment file stands on its own."""
    source = load_marked(path)
    if not isinstance(source.data, dict):
        raise source.error([], "a promptfoo config is a YAML mapping with prompts, providers and tests")
    converter = _Converter(source)
    document = converter.document()
    return PromptfooConversion(path, document, converter.warning_lines())


class _Converter:
    def __init__(self, source: MarkedDocument):
        self.source = source
        self.config: dict[str, Any] = source.data
        self.base = source.path.parent
        self.unmapped: dict[str, list[str]] = defaultdict(list)
        self.sandbox = ImmutableSandboxedEnvironment()

    def warn(self, kind: str, item: str) -> None:
        self.unmapped[kind].append(item)

    def warning_lines(self) -> list[str]:
        return [
            f"{self.source.path.name}: {kind} not imported: {', '.join(dict.fromkeys(items))}"
            for kind, items in self.unmapped.items()
        ]

    def document(self) -> dict[str, Any]:
        prompts = self.prompts()
        providers = self.providers()
        rows = self.rows()
        document: dict[str, Any] = {"name": self.experiment_name()}
        if self.config.get("description"):
            document["description"] = str(self.config["description"])
        document.update(self.targets(prompts, providers))
        document["data"] = rows
        document["evaluators"] = self.evaluators(rows)
        document["thresholds"] = [ALL_TESTS_PASS]
        return document

    def experiment_name(self) -> str:
        described = NAME_CHARACTERS.sub("-", str(self.config.get("description") or "")).strip("-._")
        return (described or self.source.path.stem)[:150]

    def prompts(self) -> list[tuple[str, str]]:
        """(name, body) of every prompt."""
        listed = self.config.get("prompts")
        if listed is None:
            raise self.source.error([], "the config has no prompts")
        items = listed if isinstance(listed, list) else [listed]
        prompts: list[tuple[str, str]] = []
        for index, item in enumerate(items):
            where: list[PathPart] = ["prompts", index] if isinstance(listed, list) else ["prompts"]
            prompts += self.prompt(item, where, len(prompts))
        if not prompts:
            raise self.source.error(["prompts"], "the config has no prompts")
        return prompts

    def prompt(self, item: Any, where: list[PathPart], count: int) -> list[tuple[str, str]]:
        label = None
        if isinstance(item, dict):
            label = item.get("label")
            item = item.get("raw") or item.get("id")
        if not isinstance(item, str):
            raise self.source.error(where, "a prompt is a text, file://PATH or {raw|id, label}")
        if not item.startswith("file://"):
            return [(_name(label) or f"prompt-{count + 1}", _body(item))]
        path = self.base / item.removeprefix("file://")
        if not path.is_file():
            raise self.source.error(where, f"no prompt file at {path}")
        text = read_text(path)
        if path.suffix.lower() == ".json":
            return [(_name(label) or _name(path.stem) or f"prompt-{count + 1}", _chat_body(text, path))]
        if path.suffix.lower() not in TEXT_PROMPT_SUFFIXES:
            self.warn("prompt files (only text and chat JSON prompts)", path.name)
            return []
        pieces = [piece.strip("\n") for piece in re.split(r"^---$", text, flags=re.MULTILINE) if piece.strip()]
        stem = _name(label) or _name(path.stem) or f"prompt-{count + 1}"
        if len(pieces) == 1:
            return [(stem, _body(pieces[0]))]
        return [(f"{stem}-{position}", _body(piece)) for position, piece in enumerate(pieces, start=1)]

    def providers(self) -> list[tuple[str, dict[str, Any]]]:
        """(model spec, params) of every provider."""
        listed = self.config.get("providers")
        if listed is None:
            raise self.source.error([], "the config has no providers")
        items = listed if isinstance(listed, list) else [listed]
        found = []
        for index, item in enumerate(items):
            where: list[PathPart] = ["providers", index] if isinstance(listed, list) else ["providers"]
            found.append(self.provider(item, where))
        return found

    def provider(self, item: Any, where: list[PathPart]) -> tuple[str, dict[str, Any]]:
        config: dict[str, Any] = {}
        if isinstance(item, dict) and "id" not in item and len(item) == 1:
            ((item, options),) = item.items()
            config = (options or {}).get("config") or {}
        elif isinstance(item, dict):
            config = item.get("config") or {}
            item = item.get("id")
        if not isinstance(item, str):
            raise self.source.error(where, "a provider is an id such as openai:gpt-4o-mini, or {id, config}")
        return self.model_spec(item, where), self.params(config)

    def model_spec(self, provider_id: str, where: list[PathPart]) -> str:
        if provider_id == "echo":
            return "mock:echo"
        if provider_id.startswith(UNSUPPORTED_PROVIDER_PREFIXES):
            raise self.source.error(where, f"provider {provider_id!r} is not a chat model promptlab can run")
        for prefix, provider in PROVIDER_PREFIXES:
            if provider_id.startswith(prefix) and provider_id[len(prefix) :]:
                return f"{provider}:{provider_id[len(prefix) :]}"
        known = ", ".join(prefix for prefix, _ in PROVIDER_PREFIXES)
        raise self.source.error(where, f"unknown provider {provider_id!r}; promptlab maps echo and {known}")

    def params(self, config: dict[str, Any]) -> dict[str, Any]:
        params = {key: value for key, value in config.items() if key in PROVIDER_PARAMS}
        for key in config:
            if key not in PROVIDER_PARAMS:
                self.warn("provider config keys", key)
        return params

    def targets(self, prompts: list[tuple[str, str]], providers: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        """One template per prompt and the providers as models, or, when the providers' configs differ,
        one template per prompt and provider carrying that provider's model and params."""
        configs = [params for _, params in providers]
        if all(params == configs[0] for params in configs):
            targets: dict[str, Any] = {"templates": [{"name": name, "body": body} for name, body in prompts]}
            targets["models"] = [model for model, _ in providers]
            if configs[0]:
                targets["params"] = [configs[0]]
            return targets
        templates = [
            {"name": f"{name}.{_name(model)}", "body": body, "model": model, **({"params": params} if params else {})}
            for name, body in prompts
            for model, params in providers
        ]
        return {"templates": templates}

    def rows(self) -> list[dict[str, Any]]:
        default = self.config.get("defaultTest") or {}
        if not isinstance(default, dict):
            raise self.source.error(["defaultTest"], "defaultTest is a mapping with vars and assert")
        tests = self.tests()
        if not tests:
            tests = [{}]
        rows = []
        for index, test in enumerate(tests):
            for variables in _expanded({**(default.get("vars") or {}), **(test.get("vars") or {})}):
                rows.append(self.row(test, default, self.loaded_vars(variables), index))
        return rows

    def tests(self) -> list[dict[str, Any]]:
        listed = self.config.get("tests") or []
        items = listed if isinstance(listed, list) else [listed]
        tests: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            where: list[PathPart] = ["tests", index] if isinstance(listed, list) else ["tests"]
            if isinstance(item, str):
                tests += self.tests_from_file(item, where)
            elif isinstance(item, dict):
                tests.append(item)
            else:
                raise self.source.error(where, "a test is a mapping with vars and assert, or file://tests.csv")
        return tests

    def tests_from_file(self, reference: str, where: list[PathPart]) -> list[dict[str, Any]]:
        path = self.base / reference.removeprefix("file://")
        if not reference.startswith("file://") or not path.is_file():
            raise self.source.error(where, f"no tests file at {path}")
        if path.suffix.lower() == ".csv":
            return [self.csv_test(record) for record in csv.DictReader(read_text(path).splitlines())]
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            loaded = yaml.safe_load(read_text(path))
            return [test for test in (loaded if isinstance(loaded, list) else [loaded]) if isinstance(test, dict)]
        raise self.source.error(where, f"{path.name}: tests load from .csv, .yaml or .json files")

    def csv_test(self, record: dict[str, str]) -> dict[str, Any]:
        test: dict[str, Any] = {"vars": {}, "assert": []}
        for column, value in record.items():
            if column.startswith("__expected"):
                if value:
                    test["assert"].append(_csv_assertion(value))
            elif column == "__description":
                test["description"] = value
            elif column == "__threshold":
                test["threshold"] = float(value) if value else None
            elif column.startswith("__"):
                self.warn("CSV columns", column)
            else:
                test["vars"][column] = value
        return test

    def loaded_vars(self, variables: dict[str, Any]) -> dict[str, Any]:
        loaded = {}
        for name, value in variables.items():
            if isinstance(value, str) and value.startswith("file://"):
                path = self.base / value.removeprefix("file://")
                if path.is_file() and path.suffix.lower() in (*TEXT_PROMPT_SUFFIXES, ".json", ".yaml", ".csv"):
                    value = read_text(path)
                else:
                    self.warn("file:// vars (only text files)", value)
            loaded[name] = value
        return loaded

    def row(
        self, test: dict[str, Any], default: dict[str, Any], variables: dict[str, Any], index: int
    ) -> dict[str, Any]:
        items = [*(default.get("assert") or []), *(test.get("assert") or [])]
        assertions = self.assertions(items, variables, index)
        row = {**variables, ASSERTIONS_KEY: assertions}
        threshold = test.get("threshold", default.get("threshold"))
        if threshold is not None:
            row[TEST_THRESHOLD_KEY] = float(threshold)
        for key in ("options", "metadata", "provider", "providerOutput"):
            if key in test:
                self.warn("test keys", key)
        return row

    def assertions(self, items: Iterable[Any], variables: dict[str, Any], index: int) -> list[dict[str, Any]]:
        converted: list[dict[str, Any]] = []
        labels: set[str] = set()
        for item in items:
            kind = str(item.get("type", "")) if isinstance(item, dict) else ""
            if kind.removeprefix("not-") not in ASSERTION_TYPES:
                self.warn("assertion types (promptlab cannot run them; the test verdict leaves them out)", kind or "?")
                continue
            for key in ("transform", "metric", "provider", "rubricPrompt", "config"):
                if key in item:
                    self.warn("assertion keys", key)
            value = self.rendered(item.get("value"), variables)
            threshold = item.get("threshold")
            label = assertion_label(kind, value, None if threshold is None else float(threshold))
            label = _unique(label, labels)
            entry: dict[str, Any] = {"label": label, "type": kind}
            if value is not None:
                entry["value"] = value
            if item.get("weight") is not None:
                entry["weight"] = float(item["weight"])
            if threshold is not None:
                entry["threshold"] = float(threshold)
            converted.append(entry)
        return converted

    def rendered(self, value: Any, variables: dict[str, Any]) -> Any:
        """Assertion values are templates over the test's vars, as promptfoo renders them."""
        if isinstance(value, str):
            if value.startswith("file://"):
                return self.file_value(value)
            return self.sandbox.from_string(_jinja(value)).render(variables) if "{" in value else value
        if isinstance(value, list):
            return [self.rendered(item, variables) if isinstance(item, str) else item for item in value]
        return value

    def file_value(self, reference: str) -> Any:
        path = self.base / reference.removeprefix("file://")
        if not path.is_file():
            self.warn("file:// assertion values (missing files)", reference)
            return reference
        text = read_text(path)
        return yaml.safe_load(text) if path.suffix.lower() in (".json", ".yaml", ".yml") else text

    def evaluators(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        labels = dict.fromkeys(item["label"] for row in rows for item in row[ASSERTIONS_KEY])
        return [*(SPEC_PREFIX + label for label in labels), TEST_VERDICT]


def _expanded(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo runs a test once per combination of its list-valued vars."""
    names = list(variables)
    choices = [value if isinstance(value, list) else [value] for value in variables.values()]
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*choices)]


def _csv_assertion(text: str) -> dict[str, Any]:
    """promptfoo's ``__expected`` strings: ``type:value``, ``type(threshold):value``, ``is-json``; any
    other text is the expected output (equals)."""
    text = text.strip()
    if text.removeprefix("not-") in ("is-json", "contains-json"):
        return {"type": text}
    found = CSV_ASSERTION.match(text)
    kind = (
        {"grade": "llm-rubric", "fn": "javascript", "eval": "javascript"}.get(found["type"], found["type"])
        if found
        else ""
    )
    if found is None or kind.removeprefix("not-") not in (*ASSERTION_TYPES, "javascript", "python"):
        return {"type": "equals", "value": text}
    assertion: dict[str, Any] = {"type": kind, "value": found["value"].strip()}
    if found["threshold"]:
        assertion["threshold"] = float(found["threshold"])
    return assertion


def _unique(label: str, taken: set[str]) -> str:
    candidate, copy = label, 2
    while candidate in taken:
        candidate, copy = f"{label} #{copy}", copy + 1
    taken.add(candidate)
    return candidate


def _name(text: Any) -> str:
    return NAME_CHARACTERS.sub("-", str(text or "")).strip("-._")[:120]


def _jinja(text: str) -> str:
    return _NUNJUCKS_DUMP.sub("| tojson", text)


def _body(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            return _messages_body(json.loads(stripped))
        except (json.JSONDecodeError, TypeError, KeyError):
            pass
    return _jinja(text)


def _chat_body(text: str, path: Path) -> str:
    try:
        return _messages_body(json.loads(text))
    except (json.JSONDecodeError, TypeError, KeyError):
        raise InvalidFile(str(path), 'a chat prompt is a JSON list of {"role", "content"} messages') from None


def _messages_body(messages: Any) -> str:
    if not isinstance(messages, list) or not messages:
        raise TypeError("not a list of messages")
    parts = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role not in ("system", "user", "assistant") or not isinstance(content, str):
            raise TypeError("not a chat message")
        parts.append(f"{role}:\n{_jinja(content)}")
    return "\n".join(parts)
