"""Where the client finds its server and key: arguments, then the environment, then a profile.

Profiles live in a TOML file the CLI's ``login`` writes (mode 0600, as it holds keys):
``$MODELYARD_CONFIG``, else ``$XDG_CONFIG_HOME/modelyard/config.toml``, else
``~/.config/modelyard/config.toml``. The profile is ``profile=``, else ``$MODELYARD_PROFILE``,
else ``default``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from modelyard_client.errors import ModelyardClientError

__all__ = [
    "DEFAULT_PROFILE",
    "ClientConfig",
    "ConfigMissing",
    "config_path",
    "read_profiles",
    "resolve",
    "write_profile",
]

DEFAULT_PROFILE = "default"


class ConfigMissing(ModelyardClientError):
    """No server URL from any source."""


@dataclass(frozen=True)
class ClientConfig:
    url: str
    api_key: str | None
    profile: str | None


def config_path() -> Path:
    explicit = os.environ.get("MODELYARD_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "modelyard" / "config.toml"


def read_profiles(path: Path | None = None) -> dict[str, dict[str, str]]:
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelyardClientError(f"{path}: not a TOML file: {exc}") from exc
    return {
        name: {key: str(value) for key, value in section.items()}
        for name, section in document.items()
        if isinstance(section, dict)
    }


def write_profile(name: str, url: str, api_key: str | None, path: Path | None = None) -> Path:
    """Add or replace one profile, keeping the others; the file is the user's alone (0600)."""
    path = path or config_path()
    profiles = read_profiles(path)
    profiles[name] = {"url": url, **({"api_key": api_key} if api_key else {})}
    lines: list[str] = []
    for profile, values in profiles.items():
        lines.append(f"[{_toml_string(profile)}]")
        lines.extend(
            f"{_toml_string(key)} = {_toml_string(value)}" for key, value in values.items()
        )
        lines.append("")
    # Encoded before the file is truncated: text UTF-8 cannot hold must not cost the old profiles.
    try:
        content = "\n".join(lines).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ModelyardClientError(f"a profile value is not valid text: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Created 0600 before a byte of the key is written; an older file is narrowed too.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    return path


# TOML basic strings take any character literally but these; control characters are escaped.
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string (also a quoted key). Not JSON: its surrogate-pair escapes
    for characters outside the BMP are not Unicode scalar values, which TOML refuses."""
    escaped = "".join(
        _TOML_ESCAPES.get(char)
        or (f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char)
        for char in text
    )
    return f'"{escaped}"'


def _same_server(url: str, other: str) -> bool:
    return url.rstrip("/") == other.rstrip("/")


def resolve(
    url: str | None = None, api_key: str | None = None, profile: str | None = None
) -> ClientConfig:
    """Each value from the first source that has it: argument, environment, profile.

    The profile's key goes only to the profile's server: with a URL from elsewhere that is not
    the profile's, the key must come from the argument or ``MODELYARD_API_KEY``. An empty
    ``api_key`` means "no key" (``modelyard login`` signs in without one)."""
    chosen = profile or os.environ.get("MODELYARD_PROFILE")
    values = read_profiles().get(chosen or DEFAULT_PROFILE, {})
    if chosen and not values:
        raise ConfigMissing(f"no profile {chosen!r} in {config_path()}")
    final_url = url or os.environ.get("MODELYARD_URL") or values.get("url")
    if not final_url:
        raise ConfigMissing("no server URL: pass url=, set MODELYARD_URL, or run `modelyard login`")
    profile_url = values.get("url")
    profile_key = (
        values.get("api_key") if profile_url and _same_server(final_url, profile_url) else None
    )
    if api_key is not None:
        final_key = api_key or None
    else:
        final_key = os.environ.get("MODELYARD_API_KEY") or profile_key
    return ClientConfig(final_url.rstrip("/"), final_key, chosen or DEFAULT_PROFILE)
