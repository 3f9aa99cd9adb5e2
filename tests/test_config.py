"""Settings resolution, config objects, and secrets kept out of reprs."""

from __future__ import annotations

import pytest

from tests.helpers import BASE, CREDS
from zyntro_async import ConfigurationError, Limits, Timeout, ZyntroClient
from zyntro_async._config import DEFAULT_BASE_URL, ENV_VARS, resolve_settings

ENV = {
    "ZYNTRO_API_KEY": "env-key-SECRET",
    "ZYNTRO_DEVELOPER_SECRET": "env-dev-SECRET",
    "ZYNTRO_ORG_ID": "env-org",
    "ZYNTRO_MEMBER_ID": "env-member",
}


def resolve(environ: dict[str, str] | None = None, **given: str | None) -> object:
    args: dict[str, str | None] = dict.fromkeys(
        ("api_key", "developer_secret", "org_id", "member_id", "base_url")
    )
    args.update(given)
    return resolve_settings(**args, environ=environ or {})  # type: ignore[arg-type]


def test_every_setting_falls_back_to_its_variable() -> None:
    settings = resolve_settings(
        api_key=None,
        developer_secret=None,
        org_id=None,
        member_id=None,
        base_url=None,
        environ={**ENV, "ZYNTRO_BASE_URL": "https://eu.zyntro.example/crm"},
    )
    assert settings.credentials.api_key == "env-key-SECRET"
    assert settings.credentials.member_id == "env-member"
    assert settings.base_url == "https://eu.zyntro.example/crm/"


def test_arguments_win_over_variables() -> None:
    settings = resolve_settings(
        api_key="arg-key",
        developer_secret=None,
        org_id="arg-org",
        member_id=None,
        base_url=None,
        environ=ENV,
    )
    assert settings.credentials.api_key == "arg-key"
    assert settings.credentials.org_id == "arg-org"
    assert settings.base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize("name", ["api_key", "developer_secret", "org_id", "member_id"])
def test_a_missing_setting_names_itself_and_its_variable_never_a_value(name: str) -> None:
    env = {k: v for k, v in ENV.items() if k != ENV_VARS[name]}
    with pytest.raises(ConfigurationError) as info:
        resolve(environ=env)
    message = str(info.value)
    assert name in message
    assert ENV_VARS[name] in message
    assert all(value not in message for value in ENV.values())


def test_client_construction_fails_early_without_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigurationError, match="ZYNTRO_API_KEY"):
        ZyntroClient()


def test_empty_values_are_missing() -> None:
    with pytest.raises(ConfigurationError, match="ZYNTRO_ORG_ID"):
        resolve(environ={**ENV, "ZYNTRO_ORG_ID": ""})


@pytest.mark.parametrize("name", ["api_key", "developer_secret", "org_id", "member_id"])
def test_a_zero_setting_is_refused_as_the_api_would_call_it_missing(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve(environ={**ENV, ENV_VARS[name]: " 0\n"})
    assert name in str(info.value)
    assert ENV_VARS[name] in str(info.value)


@pytest.mark.parametrize("name", ["api_key", "developer_secret", "org_id", "member_id"])
def test_a_setting_that_is_not_utf8_is_refused_before_any_request(name: str) -> None:
    # A request body is UTF-8: a lone surrogate could not be written, and a client that
    # built would only fail deep in the JSON encoder on its first request.
    value = "k3y\udc80-abc"
    with pytest.raises(ConfigurationError) as info:
        ZyntroClient(**{**CREDS, name: value}, base_url=BASE)
    assert name in str(info.value)
    assert "UTF-8" in str(info.value)
    assert value not in str(info.value)


def test_repr_hides_secrets() -> None:
    client = ZyntroClient(**CREDS, base_url=BASE)
    text = repr(client) + str(client)  # what its attributes show: test_secrets.py
    assert CREDS["api_key"] not in text
    assert CREDS["developer_secret"] not in text
    assert "org-1111" in text


@pytest.mark.parametrize(
    "url",
    ["ftp://x/", "not a url", "https://x/crm/?q=1", "https://user:pw@x/crm/", "http:///crm"],
)
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        ZyntroClient(**CREDS, base_url=url)


def test_plain_http_only_to_loopback_unless_allowed() -> None:
    for ok in ("http://127.0.0.1:8080/crm/", "http://localhost/crm/", "http://[::1]:1/crm/"):
        ZyntroClient(**CREDS, base_url=ok)
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        ZyntroClient(**CREDS, base_url="http://crm.example.com/crm/")
    client = ZyntroClient(**CREDS, base_url="http://crm.example.com/crm/", allow_insecure_http=True)
    assert client.base_url == "http://crm.example.com/crm/"


def test_timeout_and_limits_validate() -> None:
    assert Timeout(connect=1, read=None).read is None
    with pytest.raises(ConfigurationError, match="read"):
        Timeout(read=0)
    with pytest.raises(ConfigurationError, match="total"):
        Timeout(total=float("nan"))
    with pytest.raises(ConfigurationError, match="max_connections"):
        Limits(max_connections=0)
