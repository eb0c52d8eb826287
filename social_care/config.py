"""Settings from an optional TOML file and the environment; secrets stay wrapped."""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from social_care.secrets import Secret
from social_care.settings_fields import seconds_field, secret_field, text_field
from social_care.store.db import DEFAULT_URL

ENV_CONFIG = "SOCIAL_CARE_CONFIG"
ENV_DATABASE_URL = "SOCIAL_CARE_DATABASE_URL"


class ConfigError(ValueError):
    """The configuration file or environment is invalid; the message says where."""


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries: capped exponential backoff with full jitter."""

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_rate_limit_waits: int = 20
    max_retry_after: float = 3600.0


@dataclass(frozen=True)
class AlertSettings:
    """[alerts]: the spike watcher's thresholds, how often it checks, and the optional outgoing webhook."""

    webhook_url: Secret | None = None  # a secret: webhook URLs often carry a token
    sigmas: float = 3.0
    min_count: int = 5
    baseline_days: int = 7
    check_interval: float = 300.0
    enabled: bool = True


@dataclass(frozen=True)
class ConsoleSettings:
    """[console]: where the agents' console listens, how long a sign-in lasts, its default language."""

    port: int | None = None  # None: the service port + 1
    session_ttl: float = 12 * 3600.0
    language: str = "en"
    origins: tuple[str, ...] = ()  # extra host:port values browsers reach the console by (a proxy)
    canned_replies: str | None = None  # TOML file that seeds the canned replies on first start

    def port_for(self, service_port: int) -> int:
        """The console's port next to a service on `service_port`."""
        return self.port if self.port is not None else service_port + 1


# Environment overrides of [console], for a deployment (or a test) that cannot edit its file.
CONSOLE_ENV = {"port": "SOCIAL_CARE_CONSOLE_PORT", "session_ttl": "SOCIAL_CARE_CONSOLE_SESSION_TTL",
               "language": "SOCIAL_CARE_CONSOLE_LANGUAGE", "origins": "SOCIAL_CARE_CONSOLE_ORIGINS",
               "canned_replies": "SOCIAL_CARE_CANNED_REPLIES"}
CONSOLE_LANGUAGES = ("en", "it")


@dataclass(frozen=True)
class Settings:
    """Everything `serve` and `demo` need to run."""

    database_url: str = DEFAULT_URL
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    console: bool = True
    session_secret: Secret | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pipeline_interval: float = 0.5
    outbox_interval: float = 0.5
    channels: tuple[Mapping[str, Any], ...] = ()
    triage: Mapping[str, Any] = field(default_factory=dict)
    business_hours: Mapping[str, Any] = field(default_factory=dict)
    brand: str = "ACME"
    alerts: AlertSettings = field(default_factory=AlertSettings)
    console_settings: ConsoleSettings = field(default_factory=ConsoleSettings)


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{name}] must be a table")
    return value


def _typed(section: Mapping[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    value = section.get(key, default)
    if value is default:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key} must be {kind.__name__}, got {value!r}")
    return value


def secret_from(section: Mapping[str, Any], key: str, where: str, env: Mapping[str, str] | None = None) -> Secret | None:
    """Read `key` directly or from the environment variable named by `key_env`."""
    return secret_field(section, key, f"[{where}]", ConfigError, env)


def _business_hours(table: Mapping[str, Any]) -> Mapping[str, Any]:
    """Validate the optional [business_hours] calendar now, so a typo fails at start, not in a report."""
    if table:
        from social_care.metrics.business_hours import BusinessHours, BusinessHoursError

        try:
            BusinessHours.from_dict(table)
        except BusinessHoursError as err:
            raise ConfigError(f"[business_hours] {err}") from err
    return table


def _alerts(section: Mapping[str, Any], env: Mapping[str, str]) -> AlertSettings:
    """Validate [alerts]; every error names the key, never the webhook URL."""
    where = "[alerts]"
    section = dict(section)
    for key, kind in (("check_interval", float), ("min_count", int)):
        # e.g. SOCIAL_CARE_ALERTS_CHECK_INTERVAL=60: tune a deployment (or a test) without editing its file.
        raw = env.get(f"SOCIAL_CARE_ALERTS_{key.upper()}")
        if raw:
            try:
                section[key] = kind(raw)
            except ValueError as err:
                raise ConfigError(f"SOCIAL_CARE_ALERTS_{key.upper()} must be a number") from err
    sigmas = _typed(section, "alerts", "sigmas", float, AlertSettings.sigmas)
    min_count = _typed(section, "alerts", "min_count", int, AlertSettings.min_count)
    days = _typed(section, "alerts", "baseline_days", int, AlertSettings.baseline_days)
    enabled = _typed(section, "alerts", "enabled", bool, AlertSettings.enabled)
    if sigmas < 0:
        raise ConfigError("alerts.sigmas must not be negative")
    if min_count < 1:
        raise ConfigError("alerts.min_count must be at least 1")
    if not 1 <= days <= 60:
        raise ConfigError("alerts.baseline_days must be between 1 and 60")
    url = secret_from(section, "webhook_url", "alerts", env)
    if url is not None and not url.reveal().startswith(("http://", "https://")):
        raise ConfigError(f"{where}: 'webhook_url' must be an http:// or https:// URL")
    return AlertSettings(webhook_url=url, sigmas=sigmas, min_count=min_count, baseline_days=days,
                         check_interval=seconds_field(section, "check_interval", AlertSettings.check_interval, where,
                                                      ConfigError),
                         enabled=enabled)


def _console(section: Mapping[str, Any], env: Mapping[str, str]) -> ConsoleSettings:
    """Validate [console], with the environment overriding the file key by key."""
    section = dict(section)
    unknown = set(section) - set(CONSOLE_ENV)
    if unknown:
        raise ConfigError(f"[console]: unknown key {sorted(unknown)[0]!r} (known: {', '.join(CONSOLE_ENV)})")
    for key, name in CONSOLE_ENV.items():
        raw = env.get(name)
        if not raw:
            continue
        if key == "origins":
            section[key] = [part.strip() for part in raw.split(",") if part.strip()]
        elif key in ("port", "session_ttl"):
            try:
                section[key] = int(raw) if key == "port" else float(raw)
            except ValueError as err:
                raise ConfigError(f"{name} must be a number, got {raw!r}") from err
        else:
            section[key] = raw
    port = _typed(section, "console", "port", int, None)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"console.port must be between 1 and 65535, got {port}")
    language = _typed(section, "console", "language", str, "en").lower()[:2]
    if language not in CONSOLE_LANGUAGES:
        raise ConfigError(f"console.language must be one of {', '.join(CONSOLE_LANGUAGES)}")
    origins = section.get("origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) and o for o in origins):
        raise ConfigError("console.origins must be a list of host:port strings")
    return ConsoleSettings(
        port=port,
        session_ttl=seconds_field(section, "session_ttl", ConsoleSettings.session_ttl, "[console]", ConfigError),
        language=language, origins=tuple(origins),
        canned_replies=text_field(section, "canned_replies", "[console]", ConfigError),
    )


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from a TOML file (or $SOCIAL_CARE_CONFIG) and environment overrides."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_CONFIG)
    data: Mapping[str, Any] = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise ConfigError(f"config file not found: {path}") from err
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: {err}") from err
    service = _section(data, "service")
    database = _section(data, "database")
    outbox = _section(data, "outbox")
    pipeline = _section(data, "pipeline")
    channels = data.get("channels", [])
    if not isinstance(channels, list) or not all(isinstance(c, Mapping) for c in channels):
        raise ConfigError("[[channels]] must be an array of tables")
    seen: set[tuple[str, str]] = set()
    for index, channel in enumerate(channels):
        for required in ("platform", "key"):
            if not isinstance(channel.get(required), str) or not channel[required]:
                raise ConfigError(f"channels[{index}].{required} is required")
        ident = (channel["platform"], channel["key"])
        if ident in seen:
            raise ConfigError(f"channel {ident[0]}:{ident[1]} is configured twice")
        seen.add(ident)
    retry = RetryPolicy(
        max_attempts=_typed(outbox, "outbox", "max_attempts", int, RetryPolicy.max_attempts),
        backoff_base=_typed(outbox, "outbox", "backoff_base", float, RetryPolicy.backoff_base),
        backoff_cap=_typed(outbox, "outbox", "backoff_cap", float, RetryPolicy.backoff_cap),
        max_rate_limit_waits=_typed(outbox, "outbox", "max_rate_limit_waits", int, RetryPolicy.max_rate_limit_waits),
    )
    port = env.get("SOCIAL_CARE_PORT")
    return Settings(
        database_url=env.get(ENV_DATABASE_URL) or _typed(database, "database", "url", str, DEFAULT_URL),
        host=env.get("SOCIAL_CARE_HOST") or _typed(service, "service", "host", str, "127.0.0.1"),
        port=int(port) if port else _typed(service, "service", "port", int, 8080),
        public_url=_typed(service, "service", "public_url", str, None),
        console=_typed(service, "service", "console", bool, True),
        session_secret=secret_from(service, "session_secret", "service", env),
        retry=retry,
        pipeline_interval=_typed(pipeline, "pipeline", "interval", float, 0.5),
        outbox_interval=_typed(outbox, "outbox", "interval", float, 0.5),
        channels=tuple(channels),
        triage=_section(data, "triage"),
        business_hours=_business_hours(_section(data, "business_hours")),
        brand=_typed(service, "service", "brand", str, "ACME"),
        alerts=_alerts(_section(data, "alerts"), env),
        console_settings=_console(_section(data, "console"), env),
    )
