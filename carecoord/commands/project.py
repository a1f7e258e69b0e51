"""`carecoord project`: the projection consumers, Kafka to the read models in PostgreSQL."""

from __future__ import annotations

import argparse
import logging

from carecoord.commands._kafka_options import add_connection_arguments, require_url, through_date


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument(
        "--group-id", default="carecoord-projections", help="Kafka consumer group (carecoord-projections)"
    )
    parser.add_argument(
        "--through",
        type=through_date,
        metavar="YYYY-MM-DD",
        help="the read models' end date (default: today, UTC, at each batch)",
    )
    parser.add_argument("--max-records", type=int, default=5000, help="records per batch at most (5000)")
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once the end offsets seen at start are stored (for catch-up runs and tests)",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="with --until-caught-up: give up after S s"
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from carecoord.topics import deadletter_topic, service_topics
    from projections.kafka_consumer import (
        ConsumerSettings,
        ProjectionConsumer,
        end_offsets,
        today_utc,
        tune_garbage_collector,
    )

    url = require_url(args, "project")
    if url is None:
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_garbage_collector()
    through = args.through
    settings = ConsumerSettings(
        bootstrap=args.bootstrap,
        postgres_url=url,
        topics=service_topics(args.topic_prefix),
        deadletter_topic=deadletter_topic(args.topic_prefix),
        prefix=args.prefix,
        group_id=args.group_id,
        through=(lambda: through) if through else today_utc,
        max_records=args.max_records,
    )

    async def main() -> None:
        consumer = ProjectionConsumer(settings)
        if args.until_caught_up:
            targets = await end_offsets(settings.bootstrap, settings.topics)
            await consumer.run_until(targets, args.timeout)
            print(f"carecoord project: caught up ({consumer.events} records in {consumer.batches} batches)")
        else:
            await consumer.run()

    try:
        asyncio.run(main())
    except TimeoutError as error:
        print(f"carecoord project: {error}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0
