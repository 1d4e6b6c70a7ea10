"""The ops port's page and its guard (SPEC §17): assets from the package, open reads,
POSTs that need the token once one is set, and no serving off loopback without one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import pytest
import trio

from ddmm.config.load import load_config
from ddmm.config.secret import Secret
from ddmm.errors import ConfigError
from ddmm.ops import server
from ddmm.ops.metrics import BotMetrics

TOKEN = "s3cret-ops-token-0123456789"


@asynccontextmanager
async def serving(calls: list[str], token: Secret | None = None
                  ) -> AsyncIterator[httpx.AsyncClient]:
    async def stop() -> None:
        calls.append("stop")

    async def resume() -> None:
        calls.append("resume")

    app = server.create_app(lambda: {"risk": "normal"}, BotMetrics(), stop=stop,
                            resume=resume, token=token)
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(server.run, "127.0.0.1", 0, app))
        with trio.fail_after(10):
            async with httpx.AsyncClient(base_url=url) as client:
                yield client
        nursery.cancel_scope.cancel()


async def test_the_page_its_script_and_style_come_from_the_package() -> None:
    async with serving([]) as client:
        page = await client.get("/")
        script = await client.get("/app.js")
        style = await client.get("/app.css")
    assert page.status_code == script.status_code == style.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    assert '<script src="/app.js"' in page.text and "/api/state" in script.text
    for text in (page.text, script.text, style.text):
        assert "http://" not in text and "https://" not in text  # nothing from elsewhere
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_on_loopback_without_a_token_the_posts_are_accepted() -> None:
    calls: list[str] = []
    async with serving(calls) as client:
        assert (await client.post("/stop")).status_code == 200
        assert (await client.post("/resume")).status_code == 200
    assert calls == ["stop", "resume"]


async def test_with_a_token_a_missing_or_wrong_one_is_refused_and_the_right_one_accepted(
        capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []
    async with serving(calls, Secret(TOKEN)) as client:
        missing = await client.post("/stop")
        wrong = await client.post("/stop", headers={"Authorization": "Bearer not-the-token"})
        basic = await client.post("/resume", headers={"Authorization": f"Basic {TOKEN}"})
        assert (await client.get("/api/state")).status_code == 200  # reads stay open
        assert (await client.get("/")).status_code == 200
        right = await client.post("/stop", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (missing.status_code, wrong.status_code, basic.status_code) == (401, 403, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200 and calls == ["stop"]
    assert TOKEN not in capsys.readouterr().out  # refusals are logged, the token never


async def test_a_post_from_another_sites_page_is_refused_even_with_the_token() -> None:
    calls: list[str] = []
    async with serving(calls, Secret(TOKEN)) as client:
        foreign = await client.post("/stop", headers={"Authorization": f"Bearer {TOKEN}",
                                                      "Origin": "https://evil.example"})
        own = await client.post("/stop", headers={"Authorization": f"Bearer {TOKEN}",
                                                  "Origin": str(client.base_url).rstrip("/")})
    assert foreign.status_code == 403 and own.status_code == 200 and calls == ["stop"]


async def test_without_a_token_a_post_must_name_a_loopback_host() -> None:
    calls: list[str] = []
    async with serving(calls) as client:
        rebound = await client.post("/stop", headers={"Host": "evil.example:8787"})
        local = await client.post("/stop", headers={"Host": "localhost:8787"})
        v6 = await client.post("/stop", headers={"Host": "[::1]:8787"})
    assert (rebound.status_code, local.status_code, v6.status_code) == (403, 200, 200)
    assert calls == ["stop", "stop"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "ops.example.org"])
def test_off_loopback_without_a_token_is_a_config_error_naming_ops_token(host: str) -> None:
    with pytest.raises(ConfigError, match=r"ops\.token: required when ops\.host"):
        load_config(environ={"DDMM_OPS__HOST": host}, dotenv=None)


def test_off_loopback_with_a_token_from_the_environment_loads_and_never_shows_it() -> None:
    config = load_config(environ={"DDMM_OPS__HOST": "0.0.0.0", "DDMM_OPS__TOKEN": TOKEN},
                         dotenv=None)
    assert config.ops.token is not None and config.ops.token.reveal() == TOKEN
    assert TOKEN not in repr(config) and TOKEN not in str(config.ops)
    assert config.ops.secret_values() == [TOKEN]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_token(host: str) -> None:
    assert load_config(environ={"DDMM_OPS__HOST": host}, dotenv=None).ops.token is None


def test_a_short_token_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"ops\.token: must be at least 16 characters"):
        load_config(environ={"DDMM_OPS__HOST": "0.0.0.0", "DDMM_OPS__TOKEN": "short"},
                    dotenv=None)


async def test_the_server_refuses_to_serve_an_unguarded_app_off_loopback() -> None:
    async def nothing() -> None:
        return None

    app: Any = server.create_app(dict, BotMetrics(), stop=nothing, resume=nothing)
    with pytest.raises(ConfigError, match=r"ops\.token"):
        await server.run("0.0.0.0", 0, app)
