"""Templates and pipelines as returned to users: detached from the store, safe to keep. Plain data: their
cards are in display/cards.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from promptlab_nb.engine.templating import compile_template
from promptlab_nb.schemas.references import Reference, check_label
from promptlab_nb.schemas.rendering import RenderedPrompt


class Definition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    version_id: str
    description: str | None = None
    content_hash: str
    created_at: datetime
    deleted: bool = False
    unchanged: bool = False
    previous_version: int | None = None
    labels: list[str] = Field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class Template(Definition):
    body: str
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    examples: dict[str, Any] = Field(default_factory=dict)
    _unchosen_default_model: str | None = PrivateAttr(default=None)

    @property
    def unchosen_default_model(self) -> str | None:
        """The built-in model that answers this template because no one chose one (shown on the card)."""
        return self._unchosen_default_model

    def answered_by_unchosen_default(self, model: str) -> Template:
        """This template, its card saying that ``model`` answers it because no model is configured."""
        marked = self.model_copy()
        marked._unchosen_default_model = model
        return marked

    @property
    def variables(self) -> list[str]:
        return compile_template(self.body, self.name).variables

    @property
    def optional_variables(self) -> list[str]:
        """Variables only tested, as in ``{% if formal %}``: when not given they are false."""
        return compile_template(self.body, self.name).optional_variables

    @property
    def roles(self) -> list[str]:
        return compile_template(self.body, self.name).roles

    def render(self, variables: dict[str, Any] | None = None, /, **kwargs: Any) -> RenderedPrompt:
        """The chat messages for these variables (``.messages``), with this version's ``.model`` and
        ``.params``; a variable not given raises MissingVariables naming it."""
        return RenderedPrompt(
            name=self.name,
            version=self.version,
            messages=compile_template(self.body, self.name).render(variables, **kwargs),
            model=self.model,
            params=dict(self.params),
        )


class PipelineStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str
    version: int | None = None
    label: str | None = None
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    parse: Literal["json"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_pinned_version(cls, data: Any) -> Any:
        """``template: name@3`` pins version 3, ``name@production`` the version its label points at."""
        if isinstance(data, dict) and isinstance(data.get("template"), str) and "@" in data["template"]:
            reference = Reference.parse(data["template"])
            pins = {"version": reference.version, "label": reference.label}
            data = {**data, "template": reference.name, **{key: pin for key, pin in pins.items() if pin is not None}}
        return data

    @model_validator(mode="after")
    def _one_pin(self) -> PipelineStep:
        if self.label is not None:
            check_label(self.label)
            if self.version is not None:
                raise ValueError(f"pin {self.template!r} to a version or a label, not both")
        return self

    @property
    def reference(self) -> Reference:
        return Reference(self.template, self.version, self.label)

    @property
    def output_name(self) -> str:
        return self.output or self.template


class Pipeline(Definition):
    steps: list[PipelineStep]
    inputs: list[str] = Field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        return [step.output_name for step in self.steps]


class DefinitionDiff(BaseModel):
    name: str
    old_version: int
    new_version: int
    body_diff: str
    settings: dict[str, tuple[Any, Any]] = Field(default_factory=dict)

    @property
    def unchanged(self) -> bool:
        return not self.body_diff and not self.settings

    def __str__(self) -> str:
        lines = [f"{key}: {old!r} -> {new!r}" for key, (old, new) in self.settings.items()]
        return "\n".join([*lines, self.body_diff]).strip() or "(no differences)"
