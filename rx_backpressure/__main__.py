"""``rx-backpressure demo``: the fast-producer/slow-consumer scenario, every strategy."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .demo import STRATEGIES, Scenario, as_json, plot, run, table


def _number(kind: type[float] | type[int], low: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not value > low or value != value or value in (float("inf"),):
            raise argparse.ArgumentTypeError(f"{what} must be > {low:g}, got {text!r}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rx-backpressure",
        description="Backpressure strategies for reactivex, side by side.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the fast-producer/slow-consumer scenario with each strategy",
        description=(
            "A producer faster than its consumer, without backpressure and with each "
            "strategy. Runs in virtual time unless --real-time is given."
        ),
    )
    demo.add_argument(
        "--producer-rate",
        type=_number(float, 0, "--producer-rate"),
        default=1000.0,
        help="messages per second produced (default 1000)",
    )
    demo.add_argument(
        "--consumer-rate",
        type=_number(float, 0, "--consumer-rate"),
        default=100.0,
        help="messages per second consumed (default 100)",
    )
    demo.add_argument(
        "--duration",
        type=_number(float, 0, "--duration"),
        default=None,
        help="seconds to run (default 60; 5 with --real-time)",
    )
    demo.add_argument(
        "--capacity",
        type=_number(int, 0, "--capacity"),
        default=1000,
        help="buffer capacity for the bounded strategies (default 1000)",
    )
    demo.add_argument(
        "--strategy",
        action="append",
        choices=list(STRATEGIES),
        default=None,
        help="a strategy to run (repeatable; default: all)",
    )
    demo.add_argument(
        "--plot",
        metavar="FILE.png",
        default=None,
        help="draw queue depth and delivered items over time into FILE.png",
    )
    demo.add_argument(
        "--real-time",
        action="store_true",
        help="run on a thread with the real clock, with a progress bar",
    )
    demo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    demo.add_argument(
        "--kafka",
        action="store_true",
        help=(
            "consumer lag on a Kafka topic instead (real time, 15 s unless --duration): "
            "needs the kafka extra; starts an embedded broker unless --bootstrap is given"
        ),
    )
    demo.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        default=None,
        help="with --kafka: the Kafka cluster to use instead of the embedded broker",
    )
    return parser


def _progress(strategy: str, fraction: float) -> None:
    width = 30
    filled = int(width * fraction)
    bar = "#" * filled + "." * (width - filled)
    end = "\n" if fraction >= 1.0 else ""
    print(f"\r{strategy:<16} [{bar}] {fraction * 100:5.1f}%", end=end, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rx-backpressure`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.bootstrap is not None and not args.kafka:
        parser.error("--bootstrap goes with --kafka")
    if args.kafka and (args.strategy or args.plot or args.real_time or args.json):
        parser.error("--kafka takes --bootstrap, --duration, --producer-rate, --consumer-rate")
    if args.kafka:
        try:
            from .demo._kafka import main as kafka_demo
            from .kafka import from_topics  # noqa: F401
        except ImportError as missing:
            parser.error(str(missing))
        return kafka_demo(
            args.bootstrap,
            args.duration if args.duration is not None else 15.0,
            args.producer_rate,
            args.consumer_rate,
        )
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'rx-backpressure[plot]'")
    duration = args.duration if args.duration is not None else (5.0 if args.real_time else 60.0)
    scenario = Scenario(
        producer_rate=args.producer_rate,
        consumer_rate=args.consumer_rate,
        duration=duration,
        capacity=int(args.capacity),
    )
    strategies = args.strategy or list(STRATEGIES)
    results = run(
        scenario,
        list(dict.fromkeys(strategies)),
        real_time=args.real_time,
        progress=_progress if args.real_time and not args.json else None,
    )
    if args.json:
        print(as_json(results))
    else:
        print(table(results, scenario, real_time=args.real_time))
    if args.plot is not None:
        plot(results, args.plot)
        if not args.json:
            print(f"\nplot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
