"""The process group of `carecoord project`: N consumer processes, members of one consumer group.

`run_group` runs a ProjectionConsumer (subscriber.py) in this process and in `processes - 1` others
forked from it; Kafka shares the partitions among them (and among the members other commands on
other machines add, up to the partitions per topic). The processes wait for each other at a
barrier before joining the group, pass SIGTERM on, die with the process that started them (even
when it is killed), and end without the interpreter's teardown once all is committed and closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import Any

from projections.kafka.app import ConsumerSettings
from projections.kafka.subscriber import ProjectionConsumer
from runtime.processes import die_with_parent, exit_now

log = logging.getLogger("carecoord.project")


def tune_garbage_collector() -> None:
    """For a consumer process: collect less often.

    A consumer keeps tens of thousands of parsed events in its cache, and with the default
    thresholds the collector walks them again and again: a quarter of catch-up time, measured.
    Batches make no reference cycles worth chasing sooner.
    """
    gc.set_threshold(100_000, 50, 100)


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


def run_group(
    settings: ConsumerSettings,
    processes: int = 1,
    targets: Mapping[str, int] | None = None,
    timeout: float | None = None,
) -> int:
    """`carecoord project`: this process and `processes - 1` others, consumers in one group.

    Each is a whole ProjectionConsumer (its own Kafka consumer, PostgreSQL connection and cache);
    Kafka shares the partitions among them, the advisory locks and the per-stream position locks
    keep two that touch one episode or patient from interleaving. With `targets`, every process
    runs until all of them are stored (by whichever process) and exits; otherwise until
    SIGINT/SIGTERM, which this process passes on to the others. The others die with this one
    (even on SIGKILL). Returns 0 when every process ended well.
    """
    import multiprocessing

    # Forked, the others start at once with everything imported (spawned, each imported for a
    # second or more while the first waited at the barrier); only while this process has no
    # other thread, since a fork copies no thread but every lock one might hold.
    forkable = sys.platform.startswith("linux") and threading.active_count() == 1
    context: Any = multiprocessing.get_context("fork" if forkable else "spawn")
    ready = context.Barrier(processes) if processes > 1 else None
    others = [
        context.Process(
            target=_consumer_process,
            args=(
                settings,
                dict(targets) if targets is not None else None,
                timeout,
                os.getpid(),
                n,
                ready,
                processes,
            ),
            name=f"carecoord-project-{n}",
            daemon=True,
        )
        for n in range(1, processes)
    ]
    for process in others:
        process.start()
    status = 0
    try:
        status = _consume(settings, targets, timeout, 0, ready, processes)
    finally:
        for process in others:
            if targets is None and process.is_alive():
                process.terminate()  # SIGTERM: FastStream stops the consumer cleanly
        for process in others:
            process.join(None if targets is not None and status == 0 else 30)
            if process.is_alive():
                process.kill()
                process.join()
            if process.exitcode != 0:
                log.error("%s ended with status %s", process.name, process.exitcode)
                status = status or 1
    # Let the barrier's semaphores go now, so exiting without teardown leaves none behind.
    others.clear()
    ready = None
    gc.collect()
    return status


def _consume(
    settings: ConsumerSettings,
    targets: Mapping[str, int] | None,
    timeout: float | None,
    n: int,
    ready: Any = None,
    members: int = 1,
) -> int:
    async def main() -> None:
        consumer = ProjectionConsumer(settings)
        consumer.members = members
        if ready is not None:
            consumer.before_start = lambda: _wait_for_the_others(ready)
        if targets is None:
            await consumer.run()
            return
        await consumer.run_until(targets, timeout)
        print(
            f"carecoord project [{n}]: caught up ({consumer.events} records in {consumer.batches} batches; "
            f"{consumer.deferred} episode deferrals, {consumer.drained} pending episodes drained, "
            f"{consumer.recomputed} episodes recomputed in batches; "
            f"{consumer.written.skipped} recomputed episodes unchanged)",
            flush=True,
        )

    try:
        asyncio.run(main())
    except TimeoutError as error:
        print(f"carecoord project [{n}]: {error}", flush=True)
        return 1
    except KeyboardInterrupt:
        pass
    except BaseException:
        if ready is not None:
            ready.abort()  # the others need not wait for this one at the barrier
        raise
    return 0


def _consumer_process(
    settings: ConsumerSettings,
    targets: Mapping[str, int] | None,
    timeout: float | None,
    parent: int,
    n: int,
    ready: Any,
    members: int,
) -> None:
    die_with_parent(parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_garbage_collector()
    exit_now(_consume(settings, targets, timeout, n, ready, members))


def _wait_for_the_others(ready: Any) -> None:
    """Until every process of the group is ready to join (a minute at most: then on regardless)."""
    try:
        ready.wait(60)
    except threading.BrokenBarrierError:
        log.warning("not every consumer process got ready within a minute; joining the group anyway")
