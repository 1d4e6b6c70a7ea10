"""The web dashboard in a real headless browser (SPEC §17): Debian's chromium, driven by
its chromedriver through selenium, loads `GET /` from an ops server whose state changes
on every poll, and the charts must draw and then grow, with nothing fetched from
anywhere but the ops server.

The server runs in its own thread with its own Trio loop on the real clock (selenium
blocks); every wait is bounded. `DDMM_DASHBOARD_SCREENSHOT=/tmp/dashboard.png` keeps the
screenshot somewhere a person can look at it.
"""

from __future__ import annotations

import math
import os
import queue
import shutil
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from ddmm.ops import server
from ddmm.ops.metrics import BotMetrics

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="no headless browser: apt-get install chromium chromium-driver"),
]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")

PAGE_PATHS = {"/", "/app.js", "/app.css", "/api/state"}
CHARTS = ("chart-price", "chart-inventory", "chart-pnl")


class ChangingBot:
    """A fake `/api/state` whose figures move on every poll, as a quoting bot's do."""

    def __init__(self) -> None:
        self.polls = 0
        self.paths: list[str] = []

    async def state(self) -> dict[str, Any]:
        self.polls += 1
        n = self.polls
        mid = 0.45 + 0.0006 * math.sin(n / 2)
        position = 150 * (n // 3) * (-1) ** (n // 9)
        bid, ask = mid - 0.00005, mid + 0.00005
        status = {
            "mode": "paper", "risk": "normal", "halts": [], "feed_age_s": 0.08,
            "feed_stale": False, "ticks_per_s": 70 + n % 9, "bid": f"{bid:.4f}",
            "ask": f"{ask:.4f}", "open_bids": 3, "open_asks": 3, "orders_pending": 0,
            "ada": f"{20000 + position:.2f}", "usdm": f"{9000 - position * mid:.6f}",
            "session_position_ada": str(position), "session_fills": n // 3,
            "today_pnl_usdm": f"{0.35 * n - 0.2 * (n % 4):.2f}", "today_fills": n // 3,
            "net_position_ada": str(position // 4), "hedged_position_ada": str(-position * 3 // 4),
            "hedge_unhedged_ada": "12.5", "hedge_in_flight_ada": "0", "hedge_pending": 0,
            "hedges_done": n // 3, "hedge_failing": False, "hedge_last_error": None,
            "actor_restarts": {"market_data": 0, "market_data/feed": 1,
                               "market_data/quoter": 0, "order_path/oms": 0},
        }
        levels = [(f"{mid - 0.0006 - i * 0.0005:.4f}", f"{mid + 0.0006 + i * 0.0005:.4f}")
                  for i in range(3)]
        return {
            "ts_ms": 1_790_000_000_000 + n * 1000, "status": status,
            "book": {"bid": f"{bid:.4f}", "bid_qty": "5031.2", "ask": f"{ask:.4f}",
                     "ask_qty": "3177.4", "mid": f"{mid:.5f}"},
            "ladder": {"bids": [{"layer": i, "price": b, "qty": str(200 * (i + 1))}
                                for i, (b, _) in enumerate(levels)],
                       "asks": [{"layer": i, "price": a, "qty": str(200 * (i + 1))}
                                for i, (_, a) in enumerate(levels)],
                       "gamma": "-0.000056", "hold_reason": None},
            "orders": [{"side": side, "layer": i, "price": level[k], "qty": str(200 * (i + 1)),
                        "filled": "0", "state": "open"}
                       for i, level in enumerate(levels)
                       for k, side in enumerate(("buy", "sell"))],
            "fills": [{"ts_ms": 1_790_000_000_000 + (n - j * 3) * 1000,
                       "side": "buy" if j % 2 else "sell", "price": f"{mid:.4f}",
                       "qty": "150", "markout_bps": {"1s": "-0.8", "5s": "1.6"} if j else {}}
                      for j in range(min(n // 2 + 1, 5))],
        }

    def app(self) -> Any:
        async def nothing() -> None:
            return None

        app = server.create_app(dict, BotMetrics(), stop=nothing, resume=nothing,
                                state=self.state)

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.paths.append(scope["path"])
            await app(scope, receive, send)

        return recording


@pytest.fixture
def bot() -> Iterator[tuple[ChangingBot, str]]:
    """The ops server on 127.0.0.1 in a thread of its own; yields (bot, url)."""
    fake = ChangingBot()
    started: queue.Queue[tuple[str, trio.lowlevel.TrioToken, trio.CancelScope]] = queue.Queue()

    async def serve() -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                url = await nursery.start(partial(server.run, "127.0.0.1", 0, fake.app()))
                started.put((url, trio.lowlevel.current_trio_token(), scope))

    thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    thread.start()
    url, token, scope = started.get(timeout=15)
    try:
        yield fake, url
    finally:
        trio.from_thread.run_sync(scope.cancel, trio_token=token)
        thread.join(timeout=15)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1300", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def points(driver: Any) -> dict[str, int]:
    return {chart: int(driver.find_element("id", chart).get_attribute("data-points") or 0)
            for chart in CHARTS}


def inked_pixels(driver: Any, chart: str) -> int:
    """How many pixels of the canvas are not transparent: a drawn chart has thousands."""
    return int(driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;", chart))


def test_the_dashboard_draws_live_charts_from_the_ops_server_only(
        bot: tuple[ChangingBot, str], browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    fake, url = bot
    browser.get(url + "/")
    wait = WebDriverWait(browser, 30, poll_frequency=0.25)
    wait.until(lambda d: all(n >= 2 for n in points(d).values()))
    first, pnl_before = points(browser), browser.find_element("id", "pnl-latest").text
    for chart in CHARTS:
        assert inked_pixels(browser, chart) > 500, chart

    wait.until(lambda d: points(d)["chart-pnl"] >= first["chart-pnl"] + 4)
    later = points(browser)
    assert all(later[chart] > first[chart] for chart in CHARTS), (first, later)
    assert browser.find_element("id", "pnl-latest").text != pnl_before

    text = browser.find_element("tag name", "body").text
    assert "paper" in text and "reference touch" in text and "net position (ADA)" in text
    assert "1s -0.8, 5s 1.6" in text  # fills with their markouts
    assert browser.find_element("id", "hedging-panel").is_displayed()
    assert "1 restarts" in browser.find_element("id", "restart-summary").text

    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([performance.getEntriesByType('navigation')[0].name])")
    assert resources and all(name.startswith(url + "/") for name in resources), resources
    assert set(fake.paths) <= PAGE_PATHS, set(fake.paths) - PAGE_PATHS
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []  # no script error, no blocked load

    shot = Path(os.environ.get("DDMM_DASHBOARD_SCREENSHOT", tmp_path / "dashboard.png"))
    assert browser.save_screenshot(str(shot))
    print(f"dashboard: {fake.polls} polls, points {later}, screenshot {shot}")
