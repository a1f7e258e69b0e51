"""Broker faults on the three-node cluster (RF 3, min ISR 2), under a steady load of commands through
the HTTP API, with the relays and a consumer group of two processes running as in production.

Each ends with every stored event published and in the read models exactly once, and
`carecoord verify` clean; each prints its figures (also in the closing summary).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from carecoord.relay import PRODUCER_DEFAULTS, KafkaPublisher
from carecoord.topics import service_topics
from tests.support.cluster import (
    Cluster,
    Figures,
    Load,
    Probe,
    Sampler,
    System,
    drain_and_check,
    open_episodes,
    running_system,
    start_everything,
    warm_up,
)

pytestmark = pytest.mark.cluster


def test_leader_of_most_partitions_killed_then_restarted_nothing_lost_nothing_twice(
    cluster: Cluster, pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    with running_system(cluster, pg_url, tmp_path, "kill") as system:
        start_everything(system)
        with Sampler(system) as sampler:
            load = Load(system, clock=sampler.now)
            open_episodes(system, load)
            load.start()
            try:
                warm_up(system)
                leaders = cluster.leaders(service_topics(system.prefix))
                victim = leaders.most_common(1)[0][0]
                killed_at = sampler.now()
                cluster.kill(victim)
                time.sleep(20)
                system.check_alive()
                restarted_at = sampler.now()
                cluster.start(victim)
                back_at = sampler.now()
                time.sleep(5)
            finally:
                load.stop()
            drain_and_check(system, load, sampler, figures)
            figures.publishing_stall_s = sampler.publishing_stall(killed_at)
            figures.consuming_stall_s = sampler.consuming_stall(killed_at)
            figures.extra.update(
                killed=f"node {victim} (led {leaders[victim]} of {sum(leaders.values())} partitions)",
                restart_took_s=round(back_at - restarted_at, 1),
                referrals_answers_while_down=dict(load.statuses(killed_at, restarted_at, "referral")),
                deliveries_answers_while_down=dict(load.statuses(killed_at, restarted_at, "delivery")),
            )
        assert figures.sent > 0
        assert 500 not in figures.refused, load.outcomes
        cluster.wait_in_sync(system.topics)


def test_two_of_three_brokers_stopped_publishing_stops_commands_still_accepted_then_everything_flows(
    cluster: Cluster, pg_url: str, tmp_path: Path, figures: Figures
) -> None:
    with running_system(cluster, pg_url, tmp_path, "minisr") as system:
        start_everything(system)
        probe = Probe(system)
        with Sampler(system) as sampler:
            load = Load(system, clock=sampler.now)
            open_episodes(system, load)
            load.start()
            try:
                warm_up(system)
                stopping_at = sampler.now()
                # One after the other, each a clean shutdown: the controller quorum (2 of 3) moves
                # the leadership to node 1 and takes the stopped nodes out of the in-sync replicas,
                # down to node 1 alone: below min.insync.replicas=2. (Stopped together, the quorum
                # goes before it has done so, and partitions are left without a leader instead.)
                cluster.stop(3)
                cluster.stop(2)
                stopped_at = sampler.now()
                time.sleep(1)  # acknowledgements already on their way
                published, (stored, _) = probe.published(), probe.stored()
                # min.insync.replicas=2 with one replica left: the producer (acks=all) is refused.
                refused = prove_acks_all_refused(cluster, system)
                time.sleep(10)
                system.check_alive()
                published_after, (stored_after, _) = probe.published(), probe.stored()
                restarted_at = sampler.now()
                cluster.start(2, 3)
                assert 1 in cluster.leaders(service_topics(system.prefix))
                back_at = sampler.now()
                time.sleep(5)
            finally:
                load.stop()
            assert published_after == published, (
                "the relays recorded positions the brokers did not acknowledge"
            )
            assert stored_after > stored, "the services stopped accepting commands"
            drain_and_check(system, load, sampler, figures)
            figures.publishing_stall_s = sampler.publishing_stall(stopping_at)
            figures.consuming_stall_s = sampler.consuming_stall(stopping_at)
            not_enough = system.log("relay").read_text().count("NotEnoughReplicasError")
            figures.extra.update(
                stopping_took_s=round(stopped_at - stopping_at, 1),
                stopped_for_s=round(restarted_at - stopped_at, 1),
                restart_took_s=round(back_at - restarted_at, 1),
                accepted_while_one_broker_left=stored_after - stored,
                relay_refused_not_enough_replicas=not_enough,
                direct_acks_all_publish=refused,
                referrals_answers_while_down=dict(load.statuses(stopping_at, back_at, "referral")),
                deliveries_answers_while_down=dict(load.statuses(stopping_at, back_at, "delivery")),
            )
        probe.close()
        assert not_enough > 0, "the relay's producer was never refused for want of in-sync replicas"
        assert 500 not in figures.refused, load.outcomes
        cluster.wait_in_sync(system.topics)


def prove_acks_all_refused(cluster: Cluster, system: System, wait_s: float = 20.0) -> str:
    """The relay's own producer settings (acks=all, idempotent), with short timeouts: not acknowledged.

    Refused (kafka-python's timeout, after NotEnoughReplicas retries), or waiting: a new idempotent
    producer needs a producer id, which a broker without a controller quorum may be unable to
    allocate (two of three nodes down), and kafka-python then waits without a timeout. Waited for
    `wait_s` at most, in a thread of its own."""
    import threading

    from carecoord.relay import OutboxRecord

    assert PRODUCER_DEFAULTS["acks"] == "all" and PRODUCER_DEFAULTS["enable_idempotence"] is True
    outcome: list[str] = []

    def publish() -> None:
        publisher = KafkaPublisher(
            cluster.bootstrap,
            system.topics[0],
            client_id="carecoord-min-isr-probe",
            linger_ms=0,
            request_timeout_ms=3000,
            delivery_timeout_ms=5000,
            max_block_ms=5000,
        )
        try:
            publisher.publish([OutboxRecord(0, b"probe", b"{}", [])])
            outcome.append("acknowledged")
        except Exception as error:  # kafka-python's error class varies
            outcome.append(f"refused ({type(error).__name__})")
        finally:
            publisher.close(timeout=1)

    thread = threading.Thread(target=publish, name="min-isr-probe", daemon=True)
    thread.start()
    thread.join(wait_s)
    found = outcome[0] if outcome else f"not acknowledged within {wait_s:.0f}s"
    assert found != "acknowledged", "a write was acknowledged with one in-sync replica"
    return found
