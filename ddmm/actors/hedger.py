"""Hedger actor: offsets every recorded DeltaDeFi fill on Binance spot, exactly once
(SPEC §16, issue 15).

Role: learn the fills the executor records, net them with what earlier hedges left
(`ddmm.hedging.plan`), and send one IOC limit order at a time at the Binance touch ±
`max_slippage_bps` once the net is worth an order.
Owns: the venue's symbol filters, the retry backoff, and when each unsettled hedge may
next be queried. Everything else — the items left to hedge, the intents, the Binance
fills, the fills cursor — is in the database (`persistence.hedge_queries`).
Mailbox: `HedgerMsg` — `FillsChanged` (a fill was recorded; one pending message covers
any number of fills, so the wiring may drop the rest). It also wakes when a retry or a
query falls due.
Out: Binance orders; intents, their settlement and the Binance fills to the database; a
`HedgeStatus` slot (status line, `/metrics`, the account's risk check) and the sides the
quoter must pause (`PerSide[bool]` slot); `notify()` after each change so the account
re-checks risk at once; a `hedge_failing` / `hedge_failing_cleared` risk event per run of
failures.

Exactly once. An intent is stored, covering its items, before its order is sent, under a
client id derived from those items (`hedge_client_order_id`, with an attempt number so a
retry of the same items never reuses an id). An answer settles it in one transaction
with its fills (once each, by trade id) and what it left unhedged. With no answer — a
timeout, a 5XX, a crash — the intent stays `pending` and is settled by querying Binance
by its client id, never by sending again; the order is void only when Binance does not
know it after the request could no longer be accepted (its `recvWindow` has passed).
Only one hedge is in flight at a time, and nothing new is sent while one is unsettled.
Restart: permanent; `load` treats every pending intent as unknown and queries it first;
once they are settled, the account's open orders and recent trades on Binance are
compared with ours (`_reconcile`).
Shutdown budget: immediate (each step is stored before the next request).
The Binance calls it makes, and their answers as records, are in `ddmm.actors.hedge_calls`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from decimal import Decimal

import structlog
import trio

from ddmm.actors.account_inbox import FillsChanged
from ddmm.actors.hedge_calls import (
    HedgeVenueClient,
    binance_fill,
    describe,
    intent_view,
    retry_after,
    venue_rules,
)
from ddmm.domain.market import BookTick
from ddmm.domain.money import BPS
from ddmm.domain.quotes import PerSide
from ddmm.domain.records import FillRecord, HedgeIntentRecord, RiskEventRecord
from ddmm.exchange.binance.client_order_id import hedge_client_order_id
from ddmm.exchange.binance.errors import (
    BinanceError,
    BinanceOrderNotFound,
    ExecutionUnknown,
)
from ddmm.hedging.exposure import HedgeStatus
from ddmm.hedging.plan import VenueRules, net_ada, plan_hedge
from ddmm.persistence.actor import Persistence
from ddmm.runtime.backoff import Backoff
from ddmm.runtime.latest import LatestValue

HedgerMsg = FillsChanged

UNKNOWN_MARGIN_MS = 2000
"""Added to `recvWindow` before "Binance does not know this order" is believed: covers
the error of our estimate of Binance's clock."""
QUERY_INTERVAL_S = 1.0
"""How often an unsettled hedge is queried (a query weighs 4 of the minute's 6000)."""
RECONCILE_TRADES = 500
"""The account's most recent Binance trades compared with ours at start-up."""
RECHECK_S = 1.0
"""How often ADA left unhedged (a partial fill's rest, a net too small or waiting for a
fresh book) is planned again without a new fill: the book moves, so may the plan."""

log = structlog.get_logger(actor="hedger")


class Hedger:
    """The hedger's venue view and timers; `run` is the actor loop."""

    def __init__(self, *, db: Persistence, client: HedgeVenueClient, symbol: str,
                 ticks: LatestValue[BookTick], is_stale: Callable[[], bool],
                 max_slippage_bps: Decimal, probe_ada: Decimal, clock_ms: Callable[[], int],
                 backoff: Backoff,
                 status: LatestValue[HedgeStatus], pause: LatestValue[PerSide[bool]],
                 notify: Callable[[], None] = lambda: None,
                 fault: Callable[[str], None] = lambda point: None) -> None:
        self._db = db
        self._client = client
        self._symbol = symbol
        self._ticks = ticks
        self._is_stale = is_stale
        self._max_slippage_bps = max_slippage_bps
        self._probe_ada = probe_ada
        """What the account must be able to offset either way for a failure to clear
        without a hedge (`hedge.max_unhedged_ada`)."""
        self._assets = ("", "")
        """(base, quote) of the hedge symbol, from its filters (`_ensure_rules`)."""
        self._clock_ms = clock_ms
        self._backoff = backoff
        self._status = status
        self._pause = pause
        self._notify = notify
        self._fault = fault
        """Crash drills' kill points: `hedge_intent_stored` (stored, not sent) and
        `hedge_answer_read` (answered, not settled)."""
        self.rules: VenueRules | None = None
        self._retry_at = 0.0
        """Trio time before which nothing is sent (a failure's backoff, a ban)."""
        self._unknown_since: dict[str, int] = {}
        """Unsettled hedges → the Binance time (ms) after which their request was surely
        signed, so `+ recvWindow` it can no longer be accepted."""
        self._failing_since_ms: int | None = None
        self._last_error: str | None = None
        self._done = 0
        self._reconciled = False

    async def load(self) -> None:
        """Start the fills cursor and treat every pending intent as unknown: a crashed
        hedger may have sent it a moment ago."""
        await self._db.learn_fills_to_hedge(self._clock_ms())
        pending = await self._db.hedge_intents("pending")
        now = self._client.now_ms()
        self._unknown_since = {intent.client_order_id: now for intent in pending}
        log.info("hedger_started", symbol=self._symbol, unsettled=len(pending))
        await self._publish()

    def seconds_to_due(self) -> float:
        """How long until `step` has something to do without a new fill."""
        retry_in = self._retry_at - trio.current_time()
        if self._unknown_since:
            return max(QUERY_INTERVAL_S, retry_in)
        status = self._status.peek()
        if status is not None and status.unhedged_ada != 0:
            return max(RECHECK_S, retry_in)
        if self._failing_since_ms is not None:
            return max(0.0, retry_in)  # the venue is probed again after each backoff
        return retry_in if retry_in > 0 else math.inf

    async def step(self) -> None:
        """Settle what is unsettled, else hedge what is due; publish the result. Nothing
        goes to Binance before a failure's backoff has passed."""
        await self._db.learn_fills_to_hedge(self._clock_ms())
        if trio.current_time() >= self._retry_at:
            if self._unknown_since:
                await self._settle_unknown()
            else:
                if not self._reconciled:
                    await self._reconcile()
                sent = await self._hedge_due()
                if not sent and self._failing_since_ms is not None:
                    await self._probe()
        await self._publish()

    async def _reconcile(self) -> None:
        """Once our own orders are all settled after a start: compare the account's open
        orders and recent trades on Binance with ours. A hedge never rests (IOC), so an
        open order, or a trade not in our records, is someone else's (an operator
        trading by hand on the hedge account): logged loudly, not touched."""
        try:
            resting = await self._client.open_orders(self._symbol)
            trades = await self._client.my_trades(self._symbol, limit=RECONCILE_TRADES)
        except BinanceError as exc:
            # Informational: hedging goes on, and the next step tries again.
            log.warning("binance_reconcile_failed", error=describe(exc))
            return
        known = await self._db.known_hedge_trades(str(t.trade_id) for t in trades)
        foreign = [t for t in trades if str(t.trade_id) not in known]
        self._reconciled = True
        if resting or foreign:
            log.warning("binance_account_not_ours", open_orders=len(resting),
                        foreign_trades=len(foreign),
                        foreign_net_ada=str(sum((t.qty if t.is_buyer else -t.qty
                                                 for t in foreign), Decimal(0))))
        else:
            log.info("binance_reconciled", recent_trades=len(trades))

    # --- sending ------------------------------------------------------------------------

    async def _hedge_due(self) -> bool:
        """Send the hedge the unhedged items call for, if any: whether one was sent."""
        book = self._ticks.peek()
        if book is None or self._is_stale():
            return False  # never price a hedge off a stale book; the fills wait
        if not await self._ensure_rules():
            return True  # a request went out, and failed
        assert self.rules is not None
        order = plan_hedge(await self._db.unhedged_items(), bid=book.bid, ask=book.ask,
                           rules=self.rules, max_slippage_bps=self._max_slippage_bps)
        if order is None:
            return False
        prefix = hedge_client_order_id(order.covers).removesuffix("0")
        client_order_id = f"{prefix}{await self._db.hedge_attempts(prefix)}"
        now = self._clock_ms()
        intent = HedgeIntentRecord(client_order_id=client_order_id, symbol=self._symbol,
                                   side=order.side, qty=order.qty,
                                   limit_price=order.limit_price, created_ms=now,
                                   updated_ms=now)
        await self._db.open_hedge_intent(intent, order.covers)
        log.info("hedge_intent_stored", client_order_id=client_order_id, side=order.side,
                 qty=str(order.qty), limit_price=str(order.limit_price),
                 covers=len(order.covers))
        await self._publish()  # the quoter pauses the adding side before the order leaves
        self._fault("hedge_intent_stored")
        await self._send(intent)
        return True

    async def _ensure_rules(self) -> bool:
        """Fetch the symbol's filters once; False (a failure reported) when Binance
        would not say."""
        if self.rules is not None:
            return True
        try:
            filters = await self._client.exchange_info(self._symbol)
        except BinanceError as exc:
            await self._failed(f"exchange_info: {describe(exc)}", retry_after(exc))
            return False
        self.rules = venue_rules(filters)
        self._assets = (filters.base_asset, filters.quote_asset)
        return True

    async def _probe(self) -> None:
        """While hedging is failing and no hedge is due, ask Binance whether the next one
        could go: the account answers, may trade, and holds enough of each asset to
        offset `probe_ada` either way at the current ask. Only a yes clears the failure
        (a venue that has come back, or been topped up); anything else keeps it, so a
        failure with nothing left to hedge still ends in a halt if it lasts."""
        if not await self._ensure_rules():
            return
        try:
            account = await self._client.account()
        except BinanceError as exc:
            await self._failed(f"account: {describe(exc)}", retry_after(exc))
            return
        book = self._ticks.peek()
        base, quote = self._assets
        short = []
        if not account.can_trade:
            short.append("the API key may not trade")
        have_base, have_quote = account.balance(base).free, account.balance(quote).free
        if have_base < self._probe_ada:
            short.append(f"{have_base.normalize():f} {base} free < {self._probe_ada}")
        if book is not None:
            cost = self._probe_ada * book.ask * (1 + self._max_slippage_bps / BPS)
            if have_quote < cost:
                short.append(f"{have_quote.normalize():f} {quote} free < {cost:.2f}")
        if short:
            await self._failed("account cannot hedge max_unhedged_ada: " + "; ".join(short))
        else:
            await self._succeeded("Binance answers and the account can hedge again")

    async def _send(self, intent: HedgeIntentRecord) -> None:
        try:
            placed = await self._client.place_ioc(self._symbol, intent.side, intent.qty,
                                                  intent.limit_price, intent.client_order_id)
        except ExecutionUnknown as exc:
            since = exc.not_after_ms - self._client.recv_window_ms if exc.not_after_ms \
                else self._client.now_ms()
            self._unknown_since[intent.client_order_id] = since
            await self._failed(f"place: {describe(exc)}")
            return
        except BinanceError as exc:
            # A typed refusal: Binance did not execute it; its items wait for a new attempt.
            await self._db.void_hedge_intent(intent.client_order_id, reason=describe(exc),
                                             now_ms=self._clock_ms())
            await self._failed(f"place: {describe(exc)}", retry_after(exc))
            return
        self._fault("hedge_answer_read")
        fills = [binance_fill(intent, placed.order_id, f.trade_id, f.price, f.qty,
                              f.commission, f.commission_asset, placed.transact_time_ms)
                 for f in placed.fills]
        await self._settle(intent.client_order_id, placed.executed_qty, placed.order_id,
                           fills, placed.status)

    # --- settling -----------------------------------------------------------------------

    async def _settle_unknown(self) -> None:
        for client_order_id, since in list(self._unknown_since.items()):
            try:
                state = await self._client.query_order(self._symbol, client_order_id)
            except BinanceOrderNotFound as exc:
                if self._client.now_ms() > since + self._client.recv_window_ms \
                        + UNKNOWN_MARGIN_MS:
                    await self._db.void_hedge_intent(
                        client_order_id, now_ms=self._clock_ms(),
                        reason="unknown to Binance after its recvWindow")
                    del self._unknown_since[client_order_id]
                    log.warning("hedge_void_never_arrived", client_order_id=client_order_id)
                else:
                    log.info("hedge_not_found_yet", client_order_id=client_order_id,
                             error=describe(exc))
                continue
            except BinanceError as exc:
                await self._failed(f"query: {describe(exc)}", retry_after(exc))
                return
            if not state.is_final:
                continue  # an IOC ends at once; look again next time
            try:
                trades = await self._client.my_trades(self._symbol, order_id=state.order_id)
            except BinanceError as exc:
                await self._failed(f"my_trades: {describe(exc)}", retry_after(exc))
                return
            intent = intent_view(client_order_id, state)
            fills = [binance_fill(intent, t.order_id, t.trade_id, t.price, t.qty,
                                  t.commission, t.commission_asset, t.time_ms)
                     for t in trades]
            await self._settle(client_order_id, state.executed_qty, state.order_id, fills,
                               state.status)
            del self._unknown_since[client_order_id]

    async def _settle(self, client_order_id: str, executed_qty: Decimal, order_id: int,
                      fills: list[FillRecord], status: str) -> None:
        rest = await self._db.settle_hedge_intent(
            client_order_id, executed_qty=executed_qty, exchange_order_id=order_id,
            fills=fills, reason=status, now_ms=self._clock_ms())
        self._done += 1
        log.info("hedge_settled", client_order_id=client_order_id, status=status,
                 executed_qty=str(executed_qty), fills=len(fills),
                 left_unhedged=None if rest is None else str(rest.signed_ada))
        await self._succeeded("a hedge was settled")

    # --- failures -----------------------------------------------------------------------

    async def _failed(self, reason: str, retry_after_s: float | None = None) -> None:
        """Back off (at least `retry_after_s`, when Binance says) and report the failure
        once per run of failures."""
        delay = self._backoff.next_delay()
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        self._retry_at = trio.current_time() + delay
        self._last_error = reason
        log.warning("hedge_failed", error=reason, retry_in_s=round(delay, 3))
        if self._failing_since_ms is None:
            self._failing_since_ms = self._clock_ms()
            await self._db.record_risk_event(RiskEventRecord(
                ts_ms=self._failing_since_ms, kind="hedge_failing", reason=reason))

    async def _succeeded(self, reason: str) -> None:
        self._backoff.reset()
        self._retry_at = 0.0
        if self._failing_since_ms is not None:
            self._failing_since_ms = None
            self._last_error = None
            await self._db.record_risk_event(RiskEventRecord(
                ts_ms=self._clock_ms(), kind="hedge_failing_cleared", reason=reason))

    # --- publishing ---------------------------------------------------------------------

    async def _publish(self) -> None:
        in_flight = await self._db.hedge_items_in_flight()
        status = HedgeStatus(
            unhedged_ada=net_ada(await self._db.unhedged_items()),
            in_flight_ada=net_ada(in_flight), pending_hedges=len(self._unknown_since)
            + (1 if in_flight and not self._unknown_since else 0),
            failing_since_ms=self._failing_since_ms, last_error=self._last_error,
            hedges_done=self._done)
        if status != self._status.peek():
            self._status.publish(status)
            self._notify()
        paused = status.paused_sides()
        if paused != self._pause.peek():
            self._pause.publish(paused)


def default_backoff(initial_s: float, max_s: float, seed: int) -> Backoff:
    return Backoff(initial_s, max_s, rng=random.Random(f"{seed}-hedger"))


async def run(hedger: Hedger, inbox: trio.MemoryReceiveChannel[HedgerMsg], *,
              task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Load, then step on every new-fills message and whenever something falls due."""
    await hedger.load()
    task_status.started()
    while True:
        with trio.move_on_after(hedger.seconds_to_due()):
            await inbox.receive()
        await hedger.step()
