"""Shared pytest set-up: integration tests are marked by folder."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    # Everything under tests/integration starts real processes.
    for item in items:
        if "/tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
