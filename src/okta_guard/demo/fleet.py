"""``okta-guard demo --fleet``: worker processes sharing one service token through Redis.

Starts the mock Okta issuer on loopback and a throw-away ``redis-server`` (or uses
``--redis URL``), then runs the same fleet twice - ``workers`` processes with
``threads`` threads each, all needing a token at once, then again after every token
has expired - first with each process on its own, then with
``TokenClient(..., store=RedisStore(...))``, and prints the token requests Okta
received side by side.  Finally it reads every value the fleet left in Redis and
checks that none holds a usable token.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import TextIO

__all__ = ["FleetRun", "run_fleet_demo"]


@dataclass(frozen=True)
class FleetRun:
    """What one configuration of the fleet cost."""

    label: str
    requests: tuple[int, ...]  # token requests Okta received, per round
    tokens: tuple[int, ...]  # distinct tokens the callers got, per round
    slowest_ms: float
    errors: int


def _run(
    label: str, okta: object, secret: str, redis_url: str | None, workers: int, threads: int
) -> tuple[FleetRun, str, set[str]]:
    from okta_guard.demo.fleet_workers import Fleet, Job
    from okta_guard.testing import MockIssuer

    assert isinstance(okta, MockIssuer)
    namespace = f"okta-guard-demo-{uuid.uuid4().hex[:8]}"
    job = Job(okta.issuer, "fleet-svc", secret, ("orders:read",), redis_url, namespace, threads, 2)
    requests: list[int] = []
    tokens: list[int] = []
    slowest = 0.0
    errors = 0
    seen: set[str] = set()
    with Fleet(job, workers) as fleet:
        for number in range(2):
            before = okta.count("token")
            outcomes = fleet.run_round(number)
            requests.append(okta.count("token") - before)
            got = {t for t, _ in outcomes if not t.startswith("error")}
            seen |= got
            tokens.append(len(got))
            errors += sum(1 for t, _ in outcomes if t.startswith("error"))
            slowest = max(slowest, *(elapsed for _, elapsed in outcomes))
            fleet.advance(7200)  # every process's token has expired
    run = FleetRun(label, tuple(requests), tuple(tokens), slowest * 1000, errors)
    return run, namespace, seen


def _plaintext_check(redis_url: str, namespace: str, tokens: set[str]) -> tuple[int, bool]:
    """How many values the fleet stored, and whether none holds a token or part of one."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    values = [client.get(k) or b"" for k in client.scan_iter(match=f"{namespace}:*")]
    client.close()
    parts = {p.encode() for t in tokens for p in (t, *t.split("."))}
    return len(values), not any(p in v for p in parts for v in values)


def run_fleet_demo(
    out: TextIO, *, workers: int = 4, threads: int = 25, redis_url: str | None = None
) -> int:
    """Run the fleet demo, print the comparison; 0 when the store made one request per round."""
    from okta_guard.demo.local_redis import LocalRedis
    from okta_guard.testing import MockIssuer

    local: LocalRedis | None = None
    if redis_url is None:
        local = LocalRedis().start()
        redis_url = local.url
    secret = secrets.token_urlsafe(32)
    try:
        with MockIssuer() as okta:
            okta.register_client("fleet-svc", secret, scopes=["orders:read"])
            where = "a throw-away redis-server" if local is not None else "--redis"
            out.write(
                f"okta-guard demo --fleet: {workers} worker processes x {threads} threads, one "
                f"service app\nmock Okta at {okta.issuer}, Redis from {where}\n\n"
            )
            out.flush()
            alone, _, _ = _run("each process alone", okta, secret, None, workers, threads)
            shared, namespace, tokens = _run(
                "RedisStore (shared)", okta, secret, redis_url, workers, threads
            )
            stored, clean = _plaintext_check(redis_url, namespace, tokens)
    finally:
        if local is not None:
            local.stop()
    header = f"{'':22} {'token requests to Okta':>24} {'distinct tokens':>17} {'slowest':>9}"
    out.write(header + "\n")
    out.write(f"{'':22} {'at start':>11} {'at expiry':>12} {'':>17} {'caller':>9}\n")
    for run in (alone, shared):
        out.write(
            f"{run.label:22} {run.requests[0]:>11} {run.requests[1]:>12} "
            f"{'/'.join(map(str, run.tokens)):>17} {run.slowest_ms:>7.0f} ms\n"
        )
    callers = workers * threads
    out.write(
        f"\n{callers} callers per round. Without a store every process asks Okta (its own "
        "single flight);\nwith the store the fleet asks once and the others read the token "
        "from Redis.\n"
    )
    out.write(
        f"Redis holds {stored} value(s) for the fleet, AES-GCM sealed: "
        f"{'no token in clear' if clean else 'A TOKEN IN CLEAR'}.\n"
    )
    ok = shared.requests == (1, 1) and shared.errors == 0 and alone.errors == 0 and clean
    out.write("\nAll as expected.\n" if ok else "\nUNEXPECTED: see the table above.\n")
    return 0 if ok else 1
