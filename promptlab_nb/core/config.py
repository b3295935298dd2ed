"""Settings: a traitlets Configurable, so ``%config PromptLab.<name> = ...`` works in IPython."""

from __future__ import annotations

import os

from traitlets import Bool, Dict, Float, Int, Unicode, default, validate
from traitlets.config import Configurable

from promptlab_nb.core.errors import InvalidModelSpec


class PromptLab(Configurable):
    """promptlab_nb settings. Environment variables PROMPTLAB_URL and PROMPTLAB_MODEL set the defaults."""

    db_url = Unicode(
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
    lock_timeout = Float(30.0, config=True, help="Seconds to wait for a DuckDB store that another process holds.")
    display_rows = Int(20, config=True, help="Rows shown in tables and widgets before paging.")
    providers = Dict(
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

    @validate("default_model")
    def _check_model_spec(self, proposal):
        value = proposal["value"]
        if ":" not in value:
            raise InvalidModelSpec(f"default_model {value!r} must be provider:model, e.g. openai:gpt-4o-mini.")
        return value

    @validate("concurrency", "display_rows", "max_retries")
    def _check_not_negative(self, proposal):
        if proposal["value"] < (0 if proposal["trait"].name == "max_retries" else 1):
            raise ValueError(f"{proposal['trait'].name} must be a positive number.")
        return proposal["value"]
