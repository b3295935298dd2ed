"""What the batch tests share: the fake providers' models and options, the capital question, and the
cost of one answer of the fakes (12 tokens in, 7 out) at each provider's batch price."""

from __future__ import annotations

MODELS = {
    "openai": "openai:gpt-4o-mini",
    "anthropic": "anthropic:claude-haiku-4-5",
    "gemini": "gemini:gemini-2.5-flash",
}
QUESTION = "What is the capital of {{ country }}?"
BATCH_COST = {
    "openai": (12 * 0.075 + 7 * 0.30) / 1_000_000,
    "anthropic": (12 * 0.50 + 7 * 2.50) / 1_000_000,
    "gemini": (12 * 0.15 + 7 * 1.25) / 1_000_000,
}


def provider_options(fake_server) -> dict:
    return {
        "openai": {"api_key": "sk-test-openai", "base_url": fake_server.openai_base_url},
        "anthropic": {"api_key": "sk-ant-test", "base_url": fake_server.url},
        "gemini": {"api_key": "gm-test-key", "base_url": fake_server.url},
    }


def countries(count: int) -> list[dict[str, str]]:
    return [{"country": f"country {index}"} for index in range(count)]


def on_the_fakes(lab, fake_server):
    """``lab`` calling the fake servers without retries, with a capital template per provider."""
    lab.settings.providers = provider_options(fake_server)
    lab.settings.max_retries = 0
    for provider, model in MODELS.items():
        lab.templates.save(f"capital_{provider}", QUESTION, model=model)
    return lab
