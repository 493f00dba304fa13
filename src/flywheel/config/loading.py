"""Loading the settings: the environment over an optional .env file over the defaults.

Every value is validated on its own first, then the checks across fields run on the valid ones,
so that one ConfigError lists every problem at once.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

from flywheel.config.checks import cross_field_problems
from flywheel.config.fields import printable, problem_line
from flywheel.errors import ConfigError

Source = Literal["default", ".env", "environment", "argument"]
DEFAULT_ENV_FILE = Path(".env")


def raw_values(
    model: type[BaseSettings], env_file: Path | None
) -> dict[str, tuple[object, Source]]:
    """`{field: (text, where it came from)}` from the environment over `env_file` (if given)."""
    raw: dict[str, tuple[object, Source]] = {}
    if env_file is not None:
        for name, value in read_env_file(model, env_file).items():
            raw[name] = (value, ".env")
    for name, value in EnvSettingsSource(model)().items():
        if name in model.model_fields:
            raw[name] = (value, "environment")
    return raw


def validated_values(model: type[BaseSettings], raw: Mapping[str, object]) -> dict[str, Any]:
    """The validated value of each field in `raw`; ConfigError listing every problem."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in raw:
            if info.is_required():
                problems.append(
                    f"{name.upper()}: is required but not set; set it in .env or the "
                    f"environment to {info.description}"
                )
            else:
                values[name] = info.get_default(call_default_factory=True)
            continue
        try:
            values[name] = _field_adapter(model, name).validate_python(raw[name])
        except ValidationError as exc:
            problems.append(problem_line(model, name, raw[name], exc))
    # Checks across fields run on the fields that are valid, so they are reported together
    # with the field problems instead of after the operator fixes those.
    problems.extend(cross_field_problems(values))
    if problems:
        raise ConfigError(problems)
    return {name: values[name] for name in raw if name in values}


@functools.cache
def _field_adapter(model: type[BaseSettings], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def read_env_file(model: type[BaseSettings], env_file: Path) -> dict[str, object]:
    """The fields `env_file` sets; ConfigError when it is missing or unreadable."""
    if not env_file.is_file():
        raise ConfigError(
            [
                f"env file: does not exist or is not a file (got '{printable(str(env_file))}'); "
                "create it from .env.example (cp .env.example .env) or pass another --env-file"
            ]
        )
    try:
        values = DotEnvSettingsSource(model, env_file=env_file)()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            [
                f"env file: cannot be read ({reason}) (got '{printable(str(env_file))}'); "
                "make it readable by this user"
            ]
        ) from None
    return {name: value for name, value in values.items() if name in model.model_fields}


def resolve_env_file(explicit: Path | None) -> Path | None:
    """The env file to read: the one asked for, else ./.env when it exists, else none."""
    if explicit is not None:
        return explicit
    return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None
