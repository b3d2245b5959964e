"""``rx-backpressure demo``: the fast-producer/slow-consumer scenario, every strategy."""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from .demo import STRATEGIES, Scenario, as_json, estimated_bytes, plot, run, table

BROKEN_PIPE = 128 + getattr(signal, "SIGPIPE", 13)
"""The status of a command whose reader went away (``| head``), as a shell reports one
that the signal ended: 141."""


def _number(what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{what} must be > 0, got {text!r}")
        return value

    return parse


def _integer(what: str, low: int = 1) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{what} must be >= {low}, got {text!r}")
        return value

    return parse


def _parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command's parser, and its ``demo`` parser (whose usage an error should show)."""
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
        type=_number("--producer-rate"),
        default=1000.0,
        help="messages per second produced (default 1000)",
    )
    demo.add_argument(
        "--consumer-rate",
        type=_number("--consumer-rate"),
        default=100.0,
        help="messages per second consumed (default 100)",
    )
    demo.add_argument(
        "--duration",
        type=_number("--duration"),
        default=None,
        help="seconds to run (default 60; 5 with --real-time)",
    )
    demo.add_argument(
        "--capacity",
        type=_integer("--capacity"),
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
        help=(
            "draw items held and delivered over time into FILE; its extension picks "
            "the format (.png, .svg, .pdf, ...)"
        ),
    )
    demo.add_argument(
        "--max-memory",
        metavar="MIB",
        type=_integer("--max-memory"),
        default=1024,
        help=(
            "refuse to start a run that would take more than this many MiB for one "
            "strategy, as none does at high rates (default 1024)"
        ),
    )
    demo.add_argument(
        "--real-time",
        action="store_true",
        help="run on a thread with the real clock",
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print JSON (the settings and one object per strategy) instead of a table",
    )
    demo.add_argument(
        "--inspect",
        action="store_true",
        help="after the table, print each strategy's pipeline as inspect() reads it at the end",
    )
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
    return parser, demo


def _check_plot(parser: argparse.ArgumentParser, path: str) -> None:
    """Fail now, with a message, rather than after the run with a traceback."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        parser.error("--plot needs matplotlib: pip install 'rx-backpressure[plot]'")
    formats = FigureCanvasBase.get_supported_filetypes()
    target = Path(path)
    folder = target.parent
    if target.suffix.lower().lstrip(".") not in formats:
        known = ", ".join(f".{kind}" for kind in sorted(formats))
        parser.error(f"--plot {path}: the file name must end in one of {known}")
    if not folder.is_dir():
        parser.error(f"--plot {path}: there is no folder {str(folder)!r}")
    if target.is_dir():
        parser.error(f"--plot {path}: that is a folder, not a file name")
    if not os.access(folder, os.W_OK):
        parser.error(f"--plot {path}: cannot write in {str(folder)!r}")


def _check_memory(
    parser: argparse.ArgumentParser, scenario: Scenario, strategies: list[str], limit_mib: int
) -> None:
    """Refuse a run that would take more memory than allowed, before it starts."""
    limit = limit_mib * 1024 * 1024
    for name in strategies:
        needed = estimated_bytes(name, scenario)
        if needed <= limit:
            continue
        # Memory grows about linearly with the duration: how long would fit? Two
        # significant digits, rounded down so that it does.
        fits = scenario.duration * limit / needed
        unit = 10.0 ** (math.floor(math.log10(fits)) - 1)
        fits = math.floor(fits / unit) * unit
        parser.error(
            f"{name} would take about {needed / 2**20:,.0f} MiB in this run "
            f"({scenario.producer_rate:g} msg/s for {scenario.duration:g} s), more than "
            f"--max-memory {limit_mib} (MiB): run for less (--duration {fits:g} would fit), "
            f"leave {name} out (name the others with --strategy), or raise --max-memory"
        )


class _ProgressLine:
    """One line on a terminal, redrawn in place: how far the run has got, and what runs."""

    def __init__(self, stream: TextIO, strategies: Sequence[str]) -> None:
        self._stream = stream
        self._fractions = dict.fromkeys(strategies, 0.0)
        self._started = time.monotonic()
        self._drawn_at = 0.0
        self._width = 0
        try:
            self._columns = os.get_terminal_size(stream.fileno()).columns or 80
        except (OSError, ValueError):
            self._columns = 80

    def __call__(self, strategy: str, fraction: float) -> None:
        self._fractions[strategy] = fraction
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        done = sum(self._fractions.values()) / len(self._fractions)
        running = [name for name, part in self._fractions.items() if 0 < part < 1]
        bar = "#" * int(30 * done)
        text = (
            f"[{bar:.<30}] {done * 100:3.0f}%  {now - self._started:4.0f} s  {', '.join(running)}"
        )
        # A line longer than the terminal wraps, and "\r" would redraw only its last part.
        text = text[: self._columns - 1]
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Erase the line, so that what is printed next starts on a clean one."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()


def _demo(argv: Sequence[str] | None) -> int:
    command, parser = _parsers()
    args = command.parse_args(argv)
    if args.bootstrap is not None and not args.kafka:
        parser.error("--bootstrap goes with --kafka")
    if args.inspect and args.json:
        parser.error("--inspect prints tables: it does not go with --json")
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
        _check_plot(parser, args.plot)
    duration = args.duration if args.duration is not None else (5.0 if args.real_time else 60.0)
    scenario = Scenario(
        producer_rate=args.producer_rate,
        consumer_rate=args.consumer_rate,
        duration=duration,
        capacity=args.capacity,
    )
    strategies = list(dict.fromkeys(args.strategy or STRATEGIES))
    _check_memory(parser, scenario, strategies, args.max_memory)
    # A bar redrawn in place is for a person watching, not for a file or a pipe.
    progress = _ProgressLine(sys.stderr, strategies) if sys.stderr.isatty() else None
    try:
        results = run(scenario, strategies, real_time=args.real_time, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        print(as_json(results, scenario, real_time=args.real_time))
    else:
        print(table(results, scenario, real_time=args.real_time))
    if args.inspect:
        for result in results:
            print(f"\n{result.strategy}: ", end="")
            if result.pipeline is None:
                print("plain reactivex, no stages to inspect")
            else:
                print(f"inspect() at the end of the run\n{result.pipeline}")
    if args.plot is not None:
        plot(results, args.plot, scenario, real_time=args.real_time)
        if not args.json:
            print(f"\nplot written to {args.plot}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rx-backpressure`` command."""
    try:
        status = _demo(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader has gone (`| head -5`): stop quietly, as other tools do. Output still
        # buffered would fail again at exit, so it goes nowhere instead.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE
    return status


if __name__ == "__main__":
    sys.exit(main())
