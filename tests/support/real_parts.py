"""Skip a test whose real part is missing, except in CI, where that is a failure."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

_TRUTHY = {"1", "true", "yes", "on"}


def in_ci() -> bool:
    """Tell whether the suite runs in CI (env CI set to true)."""
    return os.environ.get("CI", "").strip().lower() in _TRUTHY


def missing(what: str) -> NoReturn:
    """Skip the current test because `what` is missing, or fail it when running in CI."""
    reason = f"real part missing: {what}"
    if in_ci():
        # In CI a skip would let a test that never ran look like a pass.
        pytest.fail(f"{reason} (CI=true: a missing real part fails the test)", pytrace=False)
    pytest.skip(reason)


def require(condition: bool, what: str) -> None:
    """Skip (or in CI fail) the current test unless `condition`; `what` names the part."""
    if not condition:
        missing(what)


def require_executable(*names: str) -> str:
    """Return the path of the first of `names` found on PATH, else skip (or in CI fail) the test."""
    for name in names:
        if path := shutil.which(name):
            return path
    missing(f"executable {' or '.join(names)} on PATH")
