"""SIGNED requests to the Binance simulator: the §2.7 test vectors (recomputed here with
stdlib hmac and cryptography), one-byte mutations, the API key header and the §2.3
timing rule, through the ASGI app in memory."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import attrs
import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)

from ddmm.sim.binance.app import build_binance_app
from ddmm.sim.binance.config import ApiKey, BinanceSimConfig
from ddmm.sim.binance.engine import BinanceEngine
from ddmm.sim.binance.faults import BinanceFaults
from ddmm.sim.binance.server import trio_clock_ms

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ED_KEY = "b" * 64
FIX_PEM = (b"-----BEGIN PRIVATE KEY-----\n"
           b"MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n"
           b"-----END PRIVATE KEY-----\n")
H1 = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
      "&timestamp=1499827319559")
H1_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
H2 = ("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
      "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
H2_SIG = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
H3_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
H3_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
H3_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
E2_SIG = ("WfzGnDebxAC6/SQQ8IgxO2A8zV0I3v3OTWs0IkFAqkrVzaUtwtzJI7VQf3QCKbPbYawE7LohsWhJm55b7ZPBA"
          "Q==")
E3 = ("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=1&price=0.2"
      "&timestamp=1668481559918&recvWindow=5000")
E3_SIG = ("inDT086KVIP8vgUfw5sV3VTkescWztiAGlf4x8FLKHM4NInsn0c1kYVLoGMO8cyjfR6vmTku2YQE0gtfVVlf"
          "Cw==")
H_TIME = 1499827319559
E3_TIME = 1668481559918


def fix_private_key() -> Ed25519PrivateKey:
    key = load_pem_private_key(FIX_PEM, password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def config() -> BinanceSimConfig:
    public = fix_private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return BinanceSimConfig(api_keys=(ApiKey(api_key=API_KEY, hmac_secret=SECRET),
                                      ApiKey(api_key=ED_KEY, ed25519_public_key=public)))


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@asynccontextmanager
async def client(now_ms: Clock | None = None, *, api_key: str = API_KEY,
                 faults: BinanceFaults | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = build_binance_app(BinanceEngine(config()), config(), now_ms=now_ms or Clock(H_TIME),
                            faults=faults)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim",
                                 headers={"X-MBX-APIKEY": api_key}) as http:
        yield http


def hmac_hex(payload: str) -> str:
    return hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


def test_the_vectors_recompute_with_stdlib_and_cryptography() -> None:
    assert hmac_hex(H1) == H1_SIG
    assert hmac_hex(H2) == H2_SIG
    assert hmac_hex(H3_QUERY + H3_BODY) == H3_SIG
    assert base64.b64encode(fix_private_key().sign(H1.encode())).decode() == E2_SIG
    assert base64.b64encode(fix_private_key().sign(E3.encode())).decode() == E3_SIG


async def answer(http: httpx.AsyncClient, query: str, body: str = "",
                 api_key: str = API_KEY) -> tuple[int, int]:
    headers = {"X-MBX-APIKEY": api_key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = await http.post(f"/api/v3/order?{query}", content=body, headers=headers)
    return response.status_code, response.json()["code"]


# A valid signature gets past the check to the symbol, which the simulator does not list:
# -1121 means "signature accepted", -1022 "signature refused".
ACCEPTED, REFUSED = (400, -1121), (400, -1022)


async def test_hmac_vectors_pass_and_one_byte_mutations_fail() -> None:
    async with client() as http:
        assert await answer(http, f"{H1}&signature={H1_SIG}") == ACCEPTED
        assert await answer(http, f"{H1}&signature={H1_SIG.upper()}") == ACCEPTED
        assert await answer(http, f"{H2}&signature={H2_SIG}") == ACCEPTED
        assert await answer(http, H3_QUERY, f"{H3_BODY}&signature={H3_SIG}") == ACCEPTED
        assert await answer(http, f"{H1}&signature={H1_SIG}"[:-1] + "0") == REFUSED
        assert await answer(http, f"{H1.replace('price=0.1', 'price=0.2')}&signature={H1_SIG}"
                            ) == REFUSED
        # The same bytes split with an `&` at the seam are a different payload.
        assert await answer(http, H3_QUERY + "&", f"{H3_BODY}&signature={H3_SIG}") == REFUSED


async def test_ed25519_vectors_pass_percent_encoded_and_fail_when_mutated() -> None:
    async with client() as http:
        assert await answer(http, f"{H1}&signature={quote(E2_SIG, safe='')}", api_key=ED_KEY
                            ) == ACCEPTED
        bad = E2_SIG[:10] + ("A" if E2_SIG[10] != "A" else "B") + E2_SIG[11:]
        assert await answer(http, f"{H1}&signature={quote(bad, safe='')}", api_key=ED_KEY
                            ) == REFUSED
        # The HMAC key's signature is not the Ed25519 key's.
        assert await answer(http, f"{H1}&signature={H1_SIG}", api_key=ED_KEY) == REFUSED
    async with client(Clock(E3_TIME)) as http:
        assert await answer(http, f"{E3}&signature={quote(E3_SIG, safe='')}", api_key=ED_KEY
                            ) == ACCEPTED


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({}, 401, -2014),
    ({"X-MBX-APIKEY": "short"}, 401, -2014),
    ({"X-MBX-APIKEY": "c" * 64}, 401, -2015),
])
async def test_api_key_header_is_checked_before_the_signature(
        headers: dict[str, str], status: int, code: int) -> None:
    app = build_binance_app(BinanceEngine(config()), config(), now_ms=Clock(H_TIME))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://sim") as http:
        response = await http.get(f"/api/v3/account?timestamp={H_TIME}&signature=00",
                                  headers=headers)
    assert (response.status_code, response.json()["code"]) == (status, code)


def signed(pairs: str) -> str:
    return f"{pairs}&signature={hmac_hex(pairs)}"


@pytest.mark.parametrize(("server_ms", "pairs", "code", "msg"), [
    (H_TIME - 1000, f"timestamp={H_TIME}", -1021,
     "Timestamp for this request was 1000ms ahead of the server's time."),
    (H_TIME + 5001, f"timestamp={H_TIME}", -1021,
     "Timestamp for this request is outside of the recvWindow."),
    (H_TIME + 201, f"recvWindow=200.5&timestamp={H_TIME}", -1021,
     "Timestamp for this request is outside of the recvWindow."),
    (H_TIME, f"recvWindow=60001&timestamp={H_TIME}", -1102,
     "'recvWindow' contains unexpected value. Cannot be greater than 60000."),
    (H_TIME, "recvWindow=5000", -1102,
     "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."),
])
async def test_timing_rule_refuses_with_the_docs_messages(
        server_ms: int, pairs: str, code: int, msg: str) -> None:
    async with client(Clock(server_ms)) as http:
        response = await http.get(f"/api/v3/account?{signed(pairs)}")
    assert response.status_code == 400
    assert response.json() == {"code": code, "msg": msg}


@pytest.mark.parametrize(("server_ms", "pairs"), [
    (H_TIME - 999, f"timestamp={H_TIME}"),
    (H_TIME + 5000, f"timestamp={H_TIME}"),
    (H_TIME + 200, f"recvWindow=200.5&timestamp={H_TIME}"),
    (H_TIME + 60_000, f"recvWindow=60000&timestamp={H_TIME}"),
    (H_TIME, f"timestamp={H_TIME * 1000 + 999}"),  # microseconds
])
async def test_timing_rule_accepts_its_edges(server_ms: int, pairs: str) -> None:
    async with client(Clock(server_ms)) as http:
        response = await http.get(f"/api/v3/account?{signed(pairs)}")
    assert response.status_code == 200, response.text


async def test_the_window_is_checked_again_after_the_engine_delay(
        autojump_clock: trio.testing.MockClock) -> None:
    """Latency 2 s, window 1 s: the first check passes, the second (just before the
    engine) fails, and the order is never placed."""
    cfg = attrs.evolve(config(), latency_s=2.0)
    engine = BinanceEngine(cfg)
    app = build_binance_app(engine, cfg, now_ms=trio_clock_ms(H_TIME))
    order = signed("symbol=ADAUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=100"
                   f"&price=0.4000&recvWindow=1000&timestamp={H_TIME}")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim",
                                 headers={"X-MBX-APIKEY": API_KEY}) as http:
        response = await http.post(f"/api/v3/order?{order}")
        assert response.json() == {
            "code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        assert trio.current_time() == pytest.approx(2.0)
        assert engine.order_by_id(1) is None
        slow_ok = signed("symbol=ADAUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=100"
                         f"&price=0.4000&recvWindow=5000&timestamp={trio_clock_ms(H_TIME)()}")
        response = await http.post(f"/api/v3/order?{slow_ok}")
    assert response.status_code == 200
    assert response.json()["transactTime"] == H_TIME + 4000
