"""Worker processes for the fleet tests: the demo's fleet machinery, plus a lock holder
that hangs (the test kills it)."""

from __future__ import annotations

from okta_guard.demo.fleet_workers import Fleet, Job, run_worker, worker_context

__all__ = ["Fleet", "Job", "run_hanging_leader", "run_worker", "worker_context"]


def run_hanging_leader(job: Job, lock_ttl: float) -> None:
    """Take the fleet lock as the leader and block in the token request (the parent kills us)."""
    from okta_guard import StoreSettings, TokenClient
    from okta_guard.redis import RedisStore

    assert job.redis_url is not None
    client = TokenClient(
        job.issuer,
        job.client_id,
        job.secret,
        scopes=job.scopes,
        store=RedisStore(job.redis_url, namespace=job.namespace),
        store_settings=StoreSettings(lock_ttl=lock_ttl),
        timeout=60.0,
    )
    client.get_token()
