"""The live-mode guard (SPEC §14): each refusal is one line naming the setting to change."""

from __future__ import annotations

import pytest

from ddmm.config import Config, load_config
from ddmm.config.live_guard import check_live_start
from ddmm.errors import ConfigError

LIVE_FEED = ["feed.source=live"]
CREDENTIALS = {"DELTADEFI_API_KEY": "k" * 32, "DELTADEFI_TRADING_PASSWORD": "pw"}


def live(*overrides: str) -> Config:
    return load_config(None, overrides=["mode=live", *overrides], environ=CREDENTIALS,
                       dotenv=None)


@pytest.mark.parametrize(("overrides", "mainnet", "setting"), [
    ([], False, "feed.source"),                                     # the shipped replay
    (["feed.source=synthetic"], False, "feed.source"),
    ([*LIVE_FEED, "feed.url=ws://127.0.0.1:9443/ws/adausdt@bookTicker"], False, "feed.url"),
    ([*LIVE_FEED, "feed.url=wss://localhost/ws/adausdt@bookTicker"], False, "feed.url"),
    ([*LIVE_FEED, "feed.url=wss://binance.com.evil.example/ws/x"], False, "feed.url"),
    ([*LIVE_FEED, "exchange.network=mainnet"], False, "exchange.network"),
    (LIVE_FEED, True, "--mainnet"),                                  # flag without mainnet
    ([*LIVE_FEED, "hedge.enabled=true"], False, "hedge.venue"),      # the simulator
    ([*LIVE_FEED, "hedge.enabled=true", "hedge.venue=production"], False, "hedge.venue"),
    ([*LIVE_FEED, "exchange.network=mainnet", "hedge.enabled=true", "hedge.venue=testnet"],
     True, "hedge.venue"),
])
def test_each_unsafe_live_start_is_refused_in_one_line_naming_the_setting(
        overrides: list[str], mainnet: bool, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_live_start(live(*overrides), mainnet_flag=mainnet)
    message = str(caught.value)
    assert message.startswith(setting) and "\n" not in message


@pytest.mark.parametrize(("overrides", "mainnet"), [
    (LIVE_FEED, False),                                                  # staging
    ([*LIVE_FEED, "exchange.network=mainnet"], True),                    # mainnet, confirmed
    ([*LIVE_FEED, "feed.url=wss://data-stream.binance.vision/ws/adausdt@bookTicker"], False),
    ([*LIVE_FEED, "hedge.enabled=true", "hedge.venue=testnet"], False),
    ([*LIVE_FEED, "exchange.network=mainnet", "hedge.enabled=true", "hedge.venue=production"],
     True),
])
def test_the_live_binance_stream_with_a_confirmed_network_is_accepted(
        overrides: list[str], mainnet: bool) -> None:
    check_live_start(live(*overrides), mainnet_flag=mainnet)


def test_the_test_switch_admits_a_local_feed_but_never_a_recording() -> None:
    local = live(*LIVE_FEED, "feed.url=ws://127.0.0.1:9443/ws/adausdt@bookTicker")
    check_live_start(local, mainnet_flag=False, allow_local_feed=True)
    with pytest.raises(ConfigError, match=r"feed\.source"):
        check_live_start(live(), mainnet_flag=False, allow_local_feed=True)


def test_paper_mode_is_untouched_and_mainnet_flag_needs_live() -> None:
    paper = load_config(None, overrides=[], environ={}, dotenv=None)
    check_live_start(paper, mainnet_flag=False)
    with pytest.raises(ConfigError, match="--mainnet"):
        check_live_start(paper, mainnet_flag=True)


def test_shadow_mode_needs_the_live_stream_but_no_mainnet_confirmation() -> None:
    def shadow(*overrides: str) -> Config:
        return load_config(None, overrides=["mode=shadow", *overrides], environ=CREDENTIALS,
                           dotenv=None)

    with pytest.raises(ConfigError, match=r"^feed\.source: shadow mode"):
        check_live_start(shadow(), mainnet_flag=False)
    check_live_start(shadow(*LIVE_FEED, "exchange.network=mainnet"), mainnet_flag=False)
    with pytest.raises(ConfigError, match="places nothing"):
        check_live_start(shadow(*LIVE_FEED), mainnet_flag=True)
