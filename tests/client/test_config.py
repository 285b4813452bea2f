"""Where the client finds its server: arguments, then the environment, then a profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard_client import Client
from modelyard_client.config import ConfigMissing, read_profiles, resolve, write_profile


def test_arguments_beat_the_environment_which_beats_the_profile(
    own_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile("default", "http://profile:1", "key-from-profile")
    write_profile("other", "http://other:2", "key-from-other")
    assert resolve() == resolve(profile="default")
    assert (resolve().url, resolve().api_key) == ("http://profile:1", "key-from-profile")
    assert resolve(profile="other").url == "http://other:2"
    monkeypatch.setenv("MODELYARD_PROFILE", "other")
    assert resolve().api_key == "key-from-other"
    monkeypatch.setenv("MODELYARD_URL", "http://env:3/")
    monkeypatch.setenv("MODELYARD_API_KEY", "key-from-env")
    assert (resolve().url, resolve().api_key) == ("http://env:3", "key-from-env")
    assert resolve("http://arg:4", "key-from-arg").api_key == "key-from-arg"
    with Client() as client:
        assert client.url == "http://env:3" and client.api_key == "key-from-env"


def test_the_profile_file_is_the_users_alone_and_keeps_other_profiles(own_config: Path) -> None:
    write_profile("default", "http://a:1", "first")
    write_profile("work", 'http://b:2/"quoted"', "second")
    write_profile("default", "http://a:1", "replaced")
    assert own_config.stat().st_mode & 0o777 == 0o600
    assert own_config.parent.stat().st_mode & 0o077 == 0
    profiles = read_profiles()
    assert profiles["default"]["api_key"] == "replaced"
    assert profiles["work"]["url"] == 'http://b:2/"quoted"'


def test_no_server_anywhere_is_one_clear_error(own_config: Path) -> None:
    with pytest.raises(ConfigMissing, match="MODELYARD_URL"):
        resolve()
    with pytest.raises(ConfigMissing, match="no profile 'nope'"):
        resolve(profile="nope")


def test_any_text_in_a_name_or_value_round_trips_through_the_file(own_config: Path) -> None:
    awkward = 'caf😀 tab\there\nnew line "quoted" back\\slash \x00\x1f\x7f é'
    write_profile("caf😀", "http://a:1/caf😀", "key\twith\ttabs\nand a newline")
    write_profile(awkward, awkward, awkward)
    write_profile("default", "http://b:2", "plain")
    profiles = read_profiles()
    assert profiles["caf😀"] == {
        "url": "http://a:1/caf😀",
        "api_key": "key\twith\ttabs\nand a newline",
    }
    assert profiles[awkward] == {"url": awkward, "api_key": awkward}
    assert profiles["default"]["api_key"] == "plain"
