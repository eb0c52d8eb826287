"""Typed readers for configuration tables: each error names the key and never shows a secret's value."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from social_care.secrets import Secret


def secret_field(section: Mapping[str, Any], key: str, where: str, error: type[ValueError],
                 env: Mapping[str, str] | None = None) -> Secret | None:
    """`key` given directly, or read from the environment variable named by `key_env`; None if neither."""
    env = os.environ if env is None else env
    value = section.get(key)
    env_name = section.get(f"{key}_env")
    if value is not None and env_name is not None:
        raise error(f"{where}: set either '{key}' or '{key}_env', not both")
    if env_name is not None:
        if not isinstance(env_name, str) or not env_name:
            raise error(f"{where}: '{key}_env' must name an environment variable")
        value = env.get(env_name)
        if not value:
            raise error(f"{where}: environment variable {env_name} (from '{key}_env') is not set")
    if value is None:
        return None
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value:
        raise error(f"{where}: '{key}' must be a non-empty string")
    return Secret(value)


def text_field(section: Mapping[str, Any], key: str, where: str, error: type[ValueError]) -> str | None:
    """An optional non-empty string."""
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise error(f"{where}: '{key}' must be a non-empty string")
    return value


def bool_field(section: Mapping[str, Any], key: str, default: bool, where: str, error: type[ValueError]) -> bool:
    """A true/false setting."""
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise error(f"{where}: {key} must be true or false")
    return value


def seconds_field(section: Mapping[str, Any], key: str, default: float, where: str, error: type[ValueError]) -> float:
    """A positive number of seconds."""
    value = section.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise error(f"{where}: {key} must be a positive number of seconds")
    return float(value)
