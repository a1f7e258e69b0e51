"""PostgreSQL restarted under load (fast shutdown, `pg_ctl -m fast stop`, then start), on a PostgreSQL
of the fault tests' own (CARECOORD_TEST_FAULT_POSTGRES_*; never the shared one), with Kafka on the
three-node cluster.

The relays, the consumers and the API reconnect by themselves (none is restarted); commands sent
while the database is away are refused with 503 and a Retry-After header, never a 500, and store
nothing (a command in flight may also wait for the restart and be accepted; one whose commit reached
the disk as the database stopped may be stored though answered 503, and its retry is then refused
with 409); every command accepted is in the read models exactly once; `carecoord verify` is clean.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cluster import (
    Cluster,
    Figures,
    Load,
    Outcome,
    RestartablePostgres,
    Sampler,
    drain_and_check,
    open_episodes,
    running_system,
    start_everything,
    wait_until,
    warm_up,
)

pytestmark = pytest.mark.cluster

# With PostgreSQL away, an event store tries a query up to 10 times, CARECOORD_POSTGRES_CONNECT_TIMEOUT
# (1 s here; 2 by default) each: a command sent early in the outage gives up after about 9 s and is
# answered 503; one sent later may wait for the restart and succeed. Down long enough for both.
CONNECT_TIMEOUT_S = "1"
DOWN_FOR_S = 14.0


def test_postgres_restarted_under_load_everyone_reconnects_commands_refused_with_503_nothing_lost(
    cluster: Cluster, tmp_path: Path, figures: Figures
) -> None:
    pg = RestartablePostgres.from_env()
    with running_system(cluster, pg.url, tmp_path, "pgrestart") as system:
        system.extra_env["CARECOORD_POSTGRES_CONNECT_TIMEOUT"] = CONNECT_TIMEOUT_S
        start_everything(system)
        with Sampler(system) as sampler:
            load = Load(system, clock=sampler.now)
            open_episodes(system, load)
            load.start()
            try:
                warm_up(system)
                stopping_at = sampler.now()
                pg.script("stop")
                stopped_at = sampler.now()
                time.sleep(DOWN_FOR_S)
                starting_at = sampler.now()
                pg.script("start")
                started_at = sampler.now()

                def answered_again() -> bool:
                    return any(o.status == 200 and o.t >= started_at for o in load.outcomes)

                wait_until(answered_again, 60, "a command accepted after the restart", system)
                recovered_at = min(o.t for o in load.outcomes if o.status == 200 and o.t >= started_at)
                time.sleep(5)
                system.check_alive()  # nobody restarted: every process reconnected by itself
            finally:
                load.stop()

            # Sent before the database had stopped and answered after the stop began: the only
            # commands whose commit may have reached the disk with its acknowledgement lost.
            def in_flight_at_the_stop(outcome: Outcome) -> bool:
                return outcome.t <= stopped_at and outcome.t + outcome.seconds >= stopping_at

            drain_and_check(system, load, sampler, figures, in_doubt=in_flight_at_the_stop)
            # Nothing can be sampled while PostgreSQL is down: from the last progress before the
            # stop to the first after the start.
            figures.publishing_stall_s, relay_back_s = sampler.outage("published", stopping_at, started_at)
            figures.consuming_stall_s, consumers_back_s = sampler.outage("consumed", stopping_at, started_at)
            # Answered while it was down (stopped, not yet starting again): refused, every one.
            down = [o for o in load.outcomes if stopped_at <= o.t + o.seconds < starting_at]
            refused = [o for o in load.outcomes if o.status == 503]
            figures.extra.update(
                database_down_s=round(started_at - stopping_at, 1),
                starting_took_s=round(started_at - starting_at, 1),
                stopping_took_s=round(stopped_at - stopping_at, 1),
                answers_given_while_down=dict(Counter(o.status for o in down)),
                longest_wait_for_a_503_s=round(max((o.seconds for o in refused), default=0.0), 1),
                first_accepted_after_start_s=round(recovered_at - started_at, 2),
                relay_published_again_after_start_s=relay_back_s,
                read_models_grew_again_after_start_s=consumers_back_s,
            )

    statuses = {o.status for o in load.outcomes}
    assert 500 not in statuses, [o for o in load.outcomes if o.status == 500][:3]
    assert statuses <= {200, 503}, [o for o in load.outcomes if o.status not in (200, 503)][:3]
    assert down and all(o.status == 503 for o in down), [o for o in down if o.status != 503][:3]
    assert all(o.retry_after for o in load.outcomes if o.status == 503), "a 503 without Retry-After"
