import warnings
from datetime import UTC, datetime, timedelta

import jwt
import jwt.warnings
import pytest

from modelyard.auth.exceptions import InvalidToken
from modelyard.auth.security import Security, generate_api_key, split_api_key
from modelyard.config import AuthSettings
from tests.conftest import TEST_SECRET
from tests.helpers import access_claims


@pytest.fixture
def security() -> Security:
    return Security(
        TEST_SECRET, AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    )


def test_passwords_are_argon2id_and_verify(security: Security) -> None:
    hashed = security.hash_password("test123")
    assert hashed.startswith("$argon2id$")
    assert "test123" not in hashed
    assert security.verify_password(hashed, "test123")
    assert not security.verify_password(hashed, "test124")
    assert not security.verify_password("not a hash", "test123")


def test_token_round_trip(security: Security) -> None:
    token, expires_in = security.issue_access_token(42)
    assert expires_in == 30 * 60
    assert security.read_access_token(token) == 42
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def _hs512(claims: dict[str, object]) -> str:
    # Signed with the real secret: only the algorithm is wrong.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, TEST_SECRET, algorithm="HS512")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            jwt.encode(access_claims(), TEST_SECRET + "x", algorithm="HS256"), id="other-key"
        ),
        pytest.param(
            jwt.encode(access_claims(exp=datetime.now(UTC) - timedelta(seconds=5)), TEST_SECRET),
            id="expired",
        ),
        pytest.param(jwt.encode(access_claims(), None, algorithm="none"), id="alg-none"),
        pytest.param(jwt.encode(access_claims(exp=None), TEST_SECRET), id="no-exp"),
        pytest.param(jwt.encode(access_claims(iat=None), TEST_SECRET), id="no-iat"),
        pytest.param(jwt.encode(access_claims(sub=None), TEST_SECRET), id="no-sub"),
        pytest.param(jwt.encode(access_claims(typ="refresh"), TEST_SECRET), id="not-access"),
        pytest.param(jwt.encode(access_claims(sub="abc"), TEST_SECRET), id="sub-not-id"),
        pytest.param(_hs512(access_claims()), id="other-hmac-algorithm"),
        pytest.param("not.a.jwt", id="garbage"),
    ],
)
def test_bad_tokens_are_refused(security: Security, token: str) -> None:
    with pytest.raises(InvalidToken):
        security.read_access_token(token)


def test_api_keys_are_random_and_carry_their_prefix() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first.key != second.key and first.prefix != second.prefix
    assert split_api_key(first.key) == first.prefix
    assert first.digest != first.key and len(first.digest) == 64
    assert split_api_key("eyJhbGciOi.xx.yy") is None
    assert split_api_key("mdy_short_x") is None
