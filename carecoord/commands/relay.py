"""`carecoord relay [SERVICE...]`: publish each service's stored events to its Kafka topic (the outbox).

Kafka mode only: needs CARECOORD_POSTGRES_URL (the stores, and where positions are recorded) and
CARECOORD_KAFKA_BOOTSTRAP (or --bootstrap). One relay thread per service named (all five by
default); in production, one process per service. SIGTERM or Ctrl-C: the batch in hand is finished
and recorded, then the relay stops. Exit status: 0 done, 2 configuration, 3 another relay of that
service is running, 1 anything else.
"""

from __future__ import annotations

import argparse

from carecoord.commands._metrics_options import add_metrics_arguments, serve_metrics
from carecoord.config import kafka_bootstrap
from events import SERVICE_NAMES

EXIT_CONFIG = 2
EXIT_ALREADY_RUNNING = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "services",
        nargs="*",
        metavar="SERVICE",
        help=f"services to relay (default all: {' '.join(SERVICE_NAMES)})",
    )
    parser.add_argument(
        "--bootstrap",
        default=kafka_bootstrap(),
        help="Kafka bootstrap servers (default $CARECOORD_KAFKA_BOOTSTRAP)",
    )
    parser.add_argument(
        "--topic-prefix",
        default=None,
        help="put in front of every topic name (default $CARECOORD_TOPIC_PREFIX, else none)",
    )
    parser.add_argument("--once", action="store_true", help="publish everything stored so far, then exit")
    parser.add_argument(
        "--batch-size", type=int, default=5000, help="events per batch: sent, acknowledged, recorded (5000)"
    )
    parser.add_argument(
        "--partitions", type=int, default=6, help="partitions of a topic the relay has to create (6)"
    )
    parser.add_argument(
        "--wait-for-lock",
        action="store_true",
        help="when another relay of the service runs, wait (standby) instead of exiting with status 3",
    )
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    add_metrics_arguments(parser)
    # Fault-injection tests only: sleep between the acknowledgements and recording the position.
    parser.add_argument("--pause-before-record", type=float, default=0.0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading
    import time

    from carecoord.config import ConfigError, Settings
    from carecoord.relay import (
        LOCK_HELD,
        RelayAlreadyRunning,
        RelayError,
        ServiceRelay,
        build_relay,
        require_kafka_mode,
    )
    from carecoord.topics import topic_for

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("carecoord.relay")
    names = list(dict.fromkeys(args.services or SERVICE_NAMES))
    unknown = [name for name in names if name not in SERVICE_NAMES]
    if unknown:
        print(f"carecoord relay: unknown service {', '.join(unknown)}; one of: {' '.join(SERVICE_NAMES)}")
        return EXIT_CONFIG
    if args.batch_size < 1:
        print("carecoord relay: --batch-size must be at least 1")
        return EXIT_CONFIG
    try:
        settings = Settings.from_env()
        pg, bootstrap = require_kafka_mode(settings, args.bootstrap)
    except (ConfigError, RelayError) as error:
        print(f"carecoord relay: {error}")
        return EXIT_CONFIG

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("relay: %s received, finishing the batch in hand", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    metrics_server = serve_metrics(args)

    relays: list[ServiceRelay] = []
    try:
        for name in names:
            while True:
                try:
                    relay = build_relay(
                        name,
                        settings,
                        pg,
                        bootstrap,
                        topic_for(name, args.topic_prefix),
                        batch_size=args.batch_size,
                        partitions=args.partitions,
                        pause_before_record_s=args.pause_before_record,
                    )
                    break
                except RelayAlreadyRunning as error:
                    if not args.wait_for_lock or stop.is_set():
                        print(f"carecoord relay: {error}")
                        return EXIT_ALREADY_RUNNING
                    log.info("%s; waiting for it to stop", error)
                    LOCK_HELD.labels(name).set(0)
                    stop.wait(2.0)
            relays.append(relay)
            relay.start()

        errors: list[BaseException] = []

        def follow(relay: ServiceRelay) -> None:
            try:
                relay.run(stop, once=args.once)
            except BaseException as error:  # anything unexpected: stop every relay of this process
                errors.append(error)
                stop.set()

        started = time.monotonic()
        threads = [threading.Thread(target=follow, args=(r,), name=f"relay-{r.service}") for r in relays]
        for thread in threads:
            thread.start()
        # Joined with a timeout so that the main thread keeps receiving signals.
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=0.5)
        elapsed = time.monotonic() - started
        for relay in relays:
            log.info(
                "relay for %s: %d events in %d batches (%.0f/s), position %d, %d failed attempts",
                relay.service,
                relay.stats.published,
                relay.stats.batches,
                relay.stats.published / elapsed if elapsed else 0.0,
                relay.stats.position,
                relay.stats.failures,
            )
        if errors:
            print(f"carecoord relay: {errors[0]}")
            return 1
        return 0
    except RelayError as error:
        print(f"carecoord relay: {error}")
        return 1
    finally:
        for relay in relays:
            relay.close()
        if metrics_server is not None:
            metrics_server.shutdown()
