"""Settings: a traitlets Configurable, so ``%config PromptLab.<name> = ...`` works in IPython."""

from __future__ import annotations

import os

from traitlets import Bool, Dict, Float, Int, Unicode, default, observe, validate
from traitlets.config import Configurable

from promptlab_nb.core.errors import InvalidModelSpec
from promptlab_nb.core.masking import SecretDict, SecretUnicode

MAX_TEMPLATE_CHARS = 100_000
MAX_RENDERED_CHARS = 1_000_000


class PromptLab(Configurable):
    """promptlab_nb settings. Environment variables PROMPTLAB_URL and PROMPTLAB_MODEL set the defaults."""

    db_url = SecretUnicode(
        config=True,
        help="Store URL: a DuckDB file (duckdb:///path) or PostgreSQL (postgresql+psycopg://...). "
        "Default: $PROMPTLAB_URL, else ./promptlab.duckdb.",
    )
    default_model = Unicode(
        config=True,
        help="Model used when a template names none, as provider:model. Default: $PROMPTLAB_MODEL, else mock:echo.",
    )
    concurrency = Int(16, config=True, help="Most provider calls in flight at once, over all providers.")
    provider_concurrency = Dict(
        value_trait=Int(),
        config=True,
        help='Most calls in flight per provider, e.g. {"openai": 50, "ollama": 2}.',
    )
    rate_limits = Dict(
        config=True,
        help='Per provider {"rpm": requests per minute, "tpm": tokens per minute}, e.g. {"openai": {"rpm": 500}}.',
    )
    cache = Bool(True, config=True, help="Reuse stored responses for identical calls.")
    progress = Bool(True, config=True, help="Show a progress bar (done, errors, cache hits, cost) while runs go.")
    cost_limit = Float(
        5.0,
        config=True,
        help="An experiment estimated above this many dollars is refused unless confirmed. 0 disables the check.",
    )
    timeout = Float(120.0, config=True, help="Seconds before one provider call is abandoned and retried.")
    max_retries = Int(4, config=True, help="Retries of a call after a rate limit, timeout or server error.")
    max_retry_wait = Float(
        120.0,
        config=True,
        help="Most seconds to wait when a provider asks to retry later (Retry-After); "
        "a longer requested wait fails the call with the time to come back.",
    )
    lock_timeout = Float(30.0, config=True, help="Seconds to wait for a DuckDB store that another process holds.")
    claim_stale_after = Float(
        120.0,
        config=True,
        help="Seconds without a heartbeat after which a session running an experiment counts as gone, "
        "so another session may resume it.",
    )
    registry_ttl = Float(
        5.0,
        config=True,
        help="Seconds a template read by label or as latest (lab.templates.get) is served from this process's "
        "cache; a label moved elsewhere shows after this long. A pinned version is cached for good. 0 disables.",
    )
    display_rows = Int(20, config=True, help="Rows shown in tables and widgets before paging.")
    max_template_chars = Int(MAX_TEMPLATE_CHARS, config=True, help="Longest template body accepted, in characters.")
    max_rendered_chars = Int(
        MAX_RENDERED_CHARS,
        config=True,
        help="Longest prompt a template may render, in characters; also bounds * on text and lists in a template.",
    )
    providers = SecretDict(
        config=True,
        help='Options per provider, e.g. {"openai-compatible": {"base_url": "http://localhost:8000/v1"}}. '
        "Prefer environment variables for API keys.",
    )

    @default("db_url")
    def _db_url_from_environment(self) -> str:
        return os.environ.get("PROMPTLAB_URL", "")

    @default("default_model")
    def _model_from_environment(self) -> str:
        return os.environ.get("PROMPTLAB_MODEL", "mock:echo")

    _default_model_assigned = False

    @observe("default_model")
    def _remember_default_model_assigned(self, change) -> None:
        self._default_model_assigned = True

    @property
    def default_model_chosen(self) -> bool:
        """False while default_model is the built-in mock:echo: set by neither %config, $PROMPTLAB_MODEL nor code."""
        configured = "default_model" in self.config.get("PromptLab", {})
        return self._default_model_assigned or configured or "PROMPTLAB_MODEL" in os.environ

    @validate("default_model")
    def _check_model_spec(self, proposal):
        value = proposal["value"]
        if ":" not in value:
            raise InvalidModelSpec(f"default_model {value!r} must be provider:model, e.g. openai:gpt-4o-mini.")
        return value

    @validate("concurrency", "display_rows", "max_retries", "max_template_chars", "max_rendered_chars")
    def _check_not_negative(self, proposal):
        if proposal["value"] < (0 if proposal["trait"].name == "max_retries" else 1):
            raise ValueError(f"{proposal['trait'].name} must be a positive number.")
        return proposal["value"]

    @validate("registry_ttl")
    def _check_ttl_not_negative(self, proposal):
        if proposal["value"] < 0:
            raise ValueError("registry_ttl must be 0 (no cache) or a positive number of seconds.")
        return proposal["value"]

    def __repr__(self) -> str:
        """Every setting with its value, keys and passwords masked."""
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in sorted(self.trait_names(config=True)))
        return f"<PromptLab {values}>"
