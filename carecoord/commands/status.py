"""`carecoord status`: how far behind a running deployment is (Kafka mode), and a health check.

Prints each service's outbox lag (stored minus published), each partition's consumer lag (log end
minus the position stored with the read models), the dead letters count and the read models'
positions. Needs CARECOORD_POSTGRES_URL (the services' stores and the relays' positions) and a
Kafka bootstrap; the read models' PostgreSQL is --postgres-url (default $CARECOORD_READ_MODEL_URL,
else $CARECOORD_POSTGRES_URL). Exit status: 0 every lag within --max-lag (or no --max-lag), 1 a lag
(or, with --max-dead-letters, the dead letters) above it, 2 configuration, 3 Kafka or PostgreSQL
not reachable.
"""

from __future__ import annotations

import argparse
import json

from carecoord.commands._kafka_options import add_connection_arguments

EXIT_OVER = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--max-lag",
        type=int,
        default=None,
        metavar="N",
        help="exit with status 1 when an outbox lag or a partition's consumer lag is above N",
    )
    parser.add_argument(
        "--max-dead-letters",
        type=int,
        default=None,
        metavar="N",
        help="exit with status 1 when more than N dead letters are stored",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from carecoord.config import ConfigError, Settings
    from carecoord.lag import (
        dead_letter_count,
        end_offsets,
        outbox_lags,
        partition_lags,
        stored_positions,
    )
    from carecoord.topics import service_topics, topic_for
    from events import SERVICE_NAMES
    from projections.readmodels.postgres import PostgresReadModelStore

    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"carecoord status: {error}")
        return EXIT_CONFIG
    if settings.postgres is None or not args.postgres_url:
        print(
            "carecoord status: needs CARECOORD_POSTGRES_URL (the services' stores and the relays' "
            "positions) and the read models' PostgreSQL (--postgres-url)"
        )
        return EXIT_CONFIG
    topics: dict[str, str] = {name: topic_for(name, args.topic_prefix) for name in SERVICE_NAMES}
    try:
        outbox = outbox_lags(settings, settings.postgres, topics)
        store = PostgresReadModelStore(args.postgres_url, args.prefix)
        try:
            positions = stored_positions(store)
            dead_letters = dead_letter_count(store)
        finally:
            store.close()
        partitions = partition_lags(end_offsets(args.bootstrap, service_topics(args.topic_prefix)), positions)
    except Exception as error:  # PostgreSQL or Kafka away: a health check must say so, not crash
        print(f"carecoord status: cannot read the deployment's state: {type(error).__name__}: {error}")
        return EXIT_UNREACHABLE

    over = [f"outbox of {o.service}: lag {o.lag}" for o in outbox if _over(o.lag, args.max_lag)]
    over += [f"{p.topic}:{p.partition}: lag {p.lag}" for p in partitions if _over(p.lag, args.max_lag)]
    if _over(dead_letters, args.max_dead_letters):
        over.append(f"{dead_letters} dead letters")
    if args.json:
        print(
            json.dumps(
                {
                    "outbox": [asdict(o) for o in outbox],
                    "partitions": [asdict(p) for p in partitions],
                    "dead_letters": dead_letters,
                    "positions": [
                        {"consumer": c, "stream": s, "position": n} for (c, s), n in sorted(positions.items())
                    ],
                    "over": over,
                },
                indent=2,
            )
        )
    else:
        print("outbox (per service: last stored notification id, relay's recorded position, lag)")
        for o in outbox:
            print(f"  {o.service:<14} stored {o.stored:>10}  published {o.published:>10}  lag {o.lag:>8}")
        print("consumer lag (per partition: log end offset, position stored with the read models, lag)")
        for p in partitions:
            where = f"{p.topic}:{p.partition}"
            print(f"  {where:<40} end {p.end:>10}  committed {p.committed:>10}  lag {p.lag:>8}")
        if not partitions:
            print("  (no partition: are the topics created?)")
        print(f"dead letters: {dead_letters}")
        print("read models' positions (consumer, stream, position)")
        for (consumer, stream), position in sorted(positions.items()):
            print(f"  {consumer:<10} {stream:<40} {position:>10}")
        total_outbox = sum(o.lag for o in outbox)
        total_consumer = sum(p.lag for p in partitions)
        print(f"total: outbox lag {total_outbox}, consumer lag {total_consumer}")
    if over:
        print(f"carecoord status: over the threshold: {'; '.join(over)}")
        return EXIT_OVER
    return 0


def _over(value: int, limit: int | None) -> bool:
    return limit is not None and value > limit
