"""Audit endpoints on every core: past about a thousand certificate and key files, worker
processes forked from this one (the trust store, the options and the files read so far come
with the fork) each take a share of the endpoints, and this process takes one too.

The report is the same as a serial run's: each endpoint's result goes back to its place.
Endpoints that name the same files go to the same share, so a chain named by many
endpoints is still judged once."""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from mailtls.models import Endpoint

if TYPE_CHECKING:
    from mailtls.audit import Auditor, EndpointResult

# What the forked workers audit: set just before the pool starts, read in the children.
_job: tuple[Auditor, Sequence[Endpoint]] | None = None


def audit_endpoints(endpoints: Sequence[Endpoint], auditor: Auditor) -> list[EndpointResult]:
    """Each endpoint's chains and findings, in the order of `endpoints`."""
    workers = pool_size(endpoints, auditor.options.pool_from)
    if workers < 2:
        return [auditor.endpoint(e) for e in endpoints]
    # Imported here: 22 ms that an audit of a few files does not pay.
    from concurrent.futures.process import BrokenProcessPool

    results: dict[int, EndpointResult] = {}
    # No fork (a process limit, memory) or a worker killed: what is left is done here.
    with suppress(OSError, BrokenProcessPool):
        _run(endpoints, auditor, _shares(endpoints, workers), results)
    return [results[i] if i in results else auditor.endpoint(e) for i, e in enumerate(endpoints)]


def _run(
    endpoints: Sequence[Endpoint],
    auditor: Auditor,
    shares: list[list[int]],
    results: dict[int, EndpointResult],
) -> None:
    """This process audits the first share while workers audit the others."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _job
    _job = (auditor, endpoints)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(shares) - 1, mp_context=context) as pool:
            futures = [pool.submit(_audit_share, share) for share in shares[1:]]
            results.update((i, auditor.endpoint(endpoints[i])) for i in shares[0])
            for share, future in zip(shares[1:], futures, strict=True):
                results.update(zip(share, future.result(), strict=True))
    finally:
        _job = None


def pool_size(endpoints: Sequence[Endpoint], pool_from: int | None) -> int:
    """How many processes to audit with: 1 below `pool_from` files, or where there is
    one core, or no fork (a fresh interpreter per worker costs more than it saves)."""
    if pool_from is None or not hasattr(os, "fork"):
        return 1
    if pool_from and len({f for e in endpoints for f in e.files()}) < pool_from:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, len(endpoints))


def _shares(endpoints: Sequence[Endpoint], count: int) -> list[list[int]]:
    """Endpoint indexes in `count` shares of about the same size; endpoints whose first file
    (in name order) is the same stay together."""
    share_of: dict[str, int] = {}
    shares: list[list[int]] = [[] for _ in range(count)]
    for index, endpoint in enumerate(endpoints):
        files = endpoint.files()
        key = min(files) if files else endpoint.id
        share = share_of.setdefault(key, len(share_of) % count)
        shares[share].append(index)
    return shares


def _audit_share(share: list[int]) -> list[EndpointResult]:
    assert _job is not None, "a worker runs only inside audit_endpoints"
    auditor, endpoints = _job
    return [auditor.endpoint(endpoints[i]) for i in share]
