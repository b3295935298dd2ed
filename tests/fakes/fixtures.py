"""pytest fixtures: one fake server per test session, with a fresh script for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.server import FakeServer


@pytest.fixture(scope="session")
def running_fake_server() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def fake_server(running_fake_server: FakeServer) -> FakeServer:
    running_fake_server.reset()
    return running_fake_server
