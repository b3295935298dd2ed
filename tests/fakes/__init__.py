"""Loopback servers that speak the OpenAI, Anthropic and Gemini wire formats, for tests and the benchmark."""

from fakes.script import FAILURE_KINDS, Script
from fakes.server import FakeServer

__all__ = ["FAILURE_KINDS", "FakeServer", "Script"]
