"""Fixtures for the pipeline tests: one loaded pipeline shared by every test that needs real models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline import Pipeline, load_pipeline


@pytest.fixture(scope="session")
def real_pipeline() -> Iterator[Pipeline]:
    """The default pipeline with the real OCR models, loaded and warmed once per test session."""
    pipeline = load_pipeline()
    yield pipeline
    pipeline.close()
