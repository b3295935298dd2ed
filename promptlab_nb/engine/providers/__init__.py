from promptlab_nb.engine.providers.base import ChatRequest, ChatResponse, ModelSpec, Provider
from promptlab_nb.engine.providers.registry import ProviderRegistry, available_providers

__all__ = ["ChatRequest", "ChatResponse", "ModelSpec", "Provider", "ProviderRegistry", "available_providers"]
