"""Dzengi gateway latency against the local testnet over loopback; prints the figures.

Tick-to-order: from the moment a WebSocket frame's bytes arrive at the client (timestamped when
the socket read returns, through a stream wrapper) to the moment the order request's bytes are
handed to the socket (timestamped at the order connection's ``send_all``, through a stream
wrapper). In between: trio-websocket's frame decoding, the gateway's reader (JSON, dispatch,
parse to a :class:`~engine.Quote`), the sink, one hop through a memory channel to an order task
(as in the live runner), building the :class:`~engine.Order`, the gateway's ``submit_order``
(params, signature, rate-limit scopes) and the HTTP/1.1 lane.

The testnet runs in a **separate process** (the venue is remote: its work must not share the
client's thread), with one instrument, a synthetic market stepping every 2 ms and order limits raised. One order
is in flight at a time: the first quote after the previous order's answer triggers the next order,
a LIMIT IOC far below the market (it expires at once, so the book stays the same size).

Also printed: the REST order round trip (``submit_order`` call → report), p50/p99.

Run: ``python tests/benchmarks/bench_dzengi_latency.py [--events N] [--busy-poll]`` (default 10000).
``--busy-poll`` keeps the client's event loop spinning between frames (no idle sleep: on a
virtual machine an idle CPU is descheduled and comes back with cold caches). ``--floor`` also
prints this machine's floor for the same kind of path with no work in it (socket read → one trio
hop → socket write), to read the figures against.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine import DataKind, Order, OrderType, Quote, Side, TimeInForce  # noqa: E402
from venues.dzengi.gateway import DzengiConfig, DzengiGateway  # noqa: E402

ACCOUNTS = """
[[accounts]]
name = "bench"
api_key = "bench-api-key-0001"
secret = "bench-secret-0001"
balances = { USD = "100000000", BTC = "1000" }
"""


# ---------------------------------------------------------------------------------------------
# the testnet process
# ---------------------------------------------------------------------------------------------


def serve(accounts: str, step_ms: int) -> None:
    """Child process: a testnet with raised limits; prints its URLs, serves until killed."""
    from venues._testnet.market import MarketSettings
    from venues.dzengi.testnet import DzengiTestnetOptions, default_instruments, open_dzengi_testnet

    async def main() -> None:
        options = DzengiTestnetOptions(orders_per_second=1_000_000, orders_per_day=1_000_000_000,
                                       request_weight_per_minute=1_000_000_000)
        market = MarketSettings(seed=3, step_interval_s=step_ms / 1000, history_minutes=5, taker_probability=0.0)
        btc_usd = [i for i in default_instruments() if i.symbol == "BTC/USD"]
        async with open_dzengi_testnet(accounts, seed=3, options=options, market=market,
                                       instruments=btc_usd) as testnet:
            print(testnet.url, testnet.ws_url, flush=True)
            await trio.sleep_forever()

    trio.run(main)


def serve_raw(period_ms: int) -> None:
    """Child process for ``--floor``: push 150-byte messages on one socket, swallow the other."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(listener.getsockname()[1], flush=True)
    push, _ = listener.accept()
    sink, _ = listener.accept()
    sink.setblocking(False)
    message = b"x" * 150
    while True:
        push.send(message)
        time.sleep(period_ms / 1000)
        try:
            while sink.recv(65536):
                pass
        except BlockingIOError:
            pass


async def measure_floor(port: int, events: int) -> list[int]:
    """The bare floor of this machine: socket read → one trio hop → socket write, nothing else."""
    push = await trio.open_tcp_stream("127.0.0.1", port)
    out = await trio.open_tcp_stream("127.0.0.1", port)
    send, receive = trio.open_memory_channel[int](16)
    latencies: list[int] = []

    async def reader() -> None:
        while True:
            await push.receive_some(65536)
            send.send_nowait(time.perf_counter_ns())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        async for arrived in receive:
            latencies.append(time.perf_counter_ns() - arrived)
            await out.send_all(b"y" * 300)
            if len(latencies) >= events:
                break
        nursery.cancel_scope.cancel()
    return latencies


# ---------------------------------------------------------------------------------------------
# timestamping streams
# ---------------------------------------------------------------------------------------------


class StampedStream(trio.abc.Stream):
    """Passes everything through; remembers when bytes last arrived and when a send began."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last_recv_ns = 0
        self.order_writes: list[int] = []
        "When each order request (a POST) was handed to the socket."

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data = await self.inner.receive_some(max_bytes)
        self.last_recv_ns = time.perf_counter_ns()
        return bytes(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        now = time.perf_counter_ns()  # the bytes go to the kernel right after this
        if data[:5] == b"POST ":  # not the lane's keep-alive GETs
            self.order_writes.append(now)
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


class BenchSink:
    """Quotes go to the order task through a channel (one hop, as in the live runner)."""

    def __init__(self, send: trio.MemorySendChannel[tuple[Quote, int]]) -> None:
        self.send = send
        self.armed = False
        self.ws: StampedStream | None = None

    def send_market(self, event: Any) -> None:
        if self.armed and type(event) is Quote:
            self.armed = False
            assert self.ws is not None
            self.send.send_nowait((event, self.ws.last_recv_ns))

    def send_execution(self, event: Any) -> None:
        pass


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


async def busy_poll() -> None:
    """Keep the event loop (and its CPU) awake: no idle sleeps between frames (see --busy-poll)."""
    while True:
        await trio.sleep(0)


async def run_client(url: str, ws_url: str, events: int, busy: bool) -> None:
    send, receive = trio.open_memory_channel[tuple[Quote, int]](16)
    sink = BenchSink(send)
    ws_streams: list[StampedStream] = []
    http_streams: list[StampedStream] = []

    def wrap_ws(stream: Any) -> StampedStream:
        s = StampedStream(stream)
        ws_streams.append(s)
        sink.ws = s
        return s

    def wrap_http(stream: Any) -> StampedStream:
        s = StampedStream(stream)
        http_streams.append(s)
        return s

    config = DzengiConfig(base_url=url, ws_url=ws_url, api_key="bench-api-key-0001", secret="bench-secret-0001",
                          orders_per_s=1_000_000, request_weight_per_min=1_000_000_000)
    tick_to_write: list[int] = []
    round_trip: list[int] = []
    async with trio.open_nursery() as nursery, \
            DzengiGateway.open(config, sink, ws_stream_wrapper=wrap_ws, http_stream_wrapper=wrap_http) as gateway:
        if busy:
            nursery.start_soon(busy_poll)
        inst = gateway.instrument("BTC/USD")
        await gateway.subscribe(DataKind.QUOTES, inst)
        qty_raw = inst.size_raw(Decimal("0.001"))
        warmup = min(500, events // 10)
        n = 0
        gc.collect()
        print(f"measuring {events} events (+{warmup} warm-up) ...", flush=True)
        sink.armed = True
        while n < events + warmup:
            quote, arrived_ns = await receive.receive()
            order = Order(f"b{n}", inst, Side.BUY, OrderType.LIMIT, qty_raw, price_raw=quote.bid_raw // 2,
                          time_in_force=TimeInForce.IOC)
            t0 = time.perf_counter_ns()
            sends_before = sum(len(s.order_writes) for s in http_streams)
            await gateway.submit_order(order)
            t1 = time.perf_counter_ns()
            written = [t for s in http_streams for t in s.order_writes]
            if len(written) != sends_before + 1:
                raise RuntimeError("expected exactly one write per order")
            write_ns = max(written)
            if n >= warmup:
                tick_to_write.append(write_ns - arrived_ns)
                round_trip.append(t1 - t0)
            n += 1
            sink.armed = True
        stats = gateway.statistics()
        nursery.cancel_scope.cancel()
    print()
    print(f"tick-to-order (frame bytes in -> order bytes out), {len(tick_to_write)} events:")
    print(f"  p50 {percentile(tick_to_write, 0.50):8.1f} us   (target <= 200 us)")
    print(f"  p99 {percentile(tick_to_write, 0.99):8.1f} us   (target <= 1000 us)")
    print(f"  max {percentile(tick_to_write, 1.0):8.1f} us")
    print(f"REST order round trip on loopback (submit_order -> report), {len(round_trip)} orders:")
    print(f"  p50 {percentile(round_trip, 0.50):8.1f} us")
    print(f"  p99 {percentile(round_trip, 0.99):8.1f} us")
    print(f"order connections opened: {stats.order_connections_opened}, ws frames: {stats.stream.messages}, "
          f"malformed: {stats.malformed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--step-ms", type=int, default=2, help="synthetic market step period of the testnet")
    parser.add_argument("--busy-poll", action="store_true",
                        help="keep the client's event loop spinning instead of sleeping between frames")
    parser.add_argument("--floor", action="store_true",
                        help="also measure this machine's floor: socket read -> one trio hop -> socket write")
    parser.add_argument("--serve", nargs=2, metavar=("ACCOUNTS", "STEP_MS"), help=argparse.SUPPRESS)
    parser.add_argument("--serve-raw", type=int, metavar="PERIOD_MS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if args.serve_raw:
        serve_raw(args.serve_raw)
        return
    with tempfile.TemporaryDirectory() as tmp:
        accounts = Path(tmp) / "accounts.toml"
        accounts.write_text(ACCOUNTS)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(accounts), str(args.step_ms)],
                                 stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
        try:
            assert child.stdout is not None
            line = child.stdout.readline().split()
            if len(line) != 2:
                raise SystemExit("the testnet did not start")
            url, ws_url = line
            print(f"testnet (pid {child.pid}) at {url}; market step {args.step_ms} ms; "
                  f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
                  f"{'; busy-polling' if args.busy_poll else ''}")
            trio.run(run_client, url, ws_url, args.events, args.busy_poll)
        finally:
            child.terminate()
            child.wait(10)
    if args.floor:
        raw = subprocess.Popen([sys.executable, __file__, "--serve-raw", str(args.step_ms)], stdout=subprocess.PIPE,
                               text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=str(ROOT))
        try:
            assert raw.stdout is not None
            floor = trio.run(measure_floor, int(raw.stdout.readline()), min(args.events, 5000))
        finally:
            raw.terminate()
            raw.wait(10)
        print(f"machine floor (socket read -> one trio hop -> socket write), {len(floor)} events:")
        print(f"  p50 {percentile(floor, 0.50):8.1f} us")
        print(f"  p99 {percentile(floor, 0.99):8.1f} us")


if __name__ == "__main__":
    main()
