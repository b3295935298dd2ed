"""A template rendered for an application: the chat messages, with the model and params to send them with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptlab_nb.engine.providers.base import Message, ModelSpec


class RenderedPrompt(BaseModel):
    """``messages`` go to any chat SDK as they are (``{"role", "content"}`` dicts); ``model`` is the
    template's ``provider:model`` (None when it names none) and ``params`` its generation params::

        prompt = lab.templates.get("summarize", label="production").render(text=text)
        client.chat.completions.create(model=prompt.model_name, messages=prompt.messages, **prompt.params)
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    messages: list[Message]
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``, to log which version answered."""
        return f"{self.name}@{self.version}"

    @property
    def provider(self) -> str | None:
        """``openai`` for ``openai:gpt-4o-mini``."""
        return ModelSpec.parse(self.model).provider if self.model else None

    @property
    def model_name(self) -> str | None:
        """The provider's own model name: ``gpt-4o-mini`` for ``openai:gpt-4o-mini``."""
        return ModelSpec.parse(self.model).model if self.model else None
