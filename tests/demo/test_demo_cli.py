"""``rx-backpressure demo`` as a user runs it: exit statuses, stdout and stderr."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = [sys.executable, "-m", "rx_backpressure"]
QUICK = ["--duration", "1", "--strategy", "token_bucket"]
"""A run that takes a fraction of a second."""


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit status 2, the message after the usage, no traceback, and no run."""
    assert done.returncode == 2, done.stderr
    assert "usage: rx-backpressure demo" in done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_the_command_prints_json_with_the_settings_and_the_required_keys() -> None:
    done = _cli(
        "demo", "--duration", "2", "--json", "--strategy", "none", "--strategy", "shed_tail"
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["settings"] == {
        "producer_rate": 1000.0,
        "consumer_rate": 100.0,
        "duration_s": 2.0,
        "capacity": 1000,
        "real_time": False,
        "strategies": ["none", "shed_tail"],
    }
    rows = document["results"]
    assert [row["strategy"] for row in rows] == ["none", "shed_tail"]
    keys = {
        "strategy",
        "produced",
        "delivered",
        "dropped",
        "queued",
        "peak_depth",
        "peak_queue_bytes",
        "throttled_s",
        "p50_latency_s",
        "p99_latency_s",
    }
    for row in rows:
        assert keys <= set(row)
        assert row["produced"] == row["delivered"] + row["dropped"] + row["queued"]


def test_the_table_and_the_plot(tmp_path: Path) -> None:
    image = tmp_path / "demo.png"
    done = _cli("demo", *QUICK, "--plot", str(image))
    assert done.returncode == 0, done.stderr
    assert "token_bucket" in done.stdout
    assert "p99 lat." in done.stdout
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_plot_format_follows_the_extension(tmp_path: Path) -> None:
    image = tmp_path / "demo.svg"
    done = _cli("demo", *QUICK, "--plot", str(image))
    assert done.returncode == 0, done.stderr
    assert b"<svg" in image.read_bytes()[:1000]


def test_a_plot_into_a_missing_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    _refused(
        _cli("demo", *QUICK, "--plot", str(missing / "demo.png")),
        f"there is no folder '{missing}'",
    )
    assert not missing.exists()


@pytest.mark.parametrize("name", ["demo.pnj", "demo"])
def test_a_plot_with_an_unknown_extension_is_refused_before_the_run(
    tmp_path: Path, name: str
) -> None:
    _refused(
        _cli("demo", *QUICK, "--plot", str(tmp_path / name)),
        "the file name must end in one of .avif, .eps",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_plot_onto_a_folder_is_refused(tmp_path: Path) -> None:
    _refused(_cli("demo", *QUICK, "--plot", str(tmp_path)), "the file name must end in")
    folder = tmp_path / "plots.png"
    folder.mkdir()
    _refused(_cli("demo", *QUICK, "--plot", str(folder)), "that is a folder")


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    # As `rx-backpressure demo | head -5` once the table is longer than what head reads:
    # every write finds the pipe closed.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [*COMMAND, "demo", *QUICK],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141  # 128 + SIGPIPE, what a shell shows for `yes | head`


def test_the_demo_piped_into_head() -> None:
    command = " ".join([*COMMAND, "demo", *QUICK])
    done = subprocess.run(
        ["bash", "-c", f"{command} | head -5; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr == ""
    # 0 if all was written before head left, 141 if a write came after
    assert done.returncode in (0, 141)
    assert len(done.stdout.splitlines()) == 5


@pytest.mark.parametrize("option", ["--capacity", "--max-memory"])
@pytest.mark.parametrize("value", ["1.5", "lots"])
def test_integer_options_say_an_integer_is_needed(option: str, value: str) -> None:
    _refused(_cli("demo", option, value, timeout=30), f"{option} must be an integer, got '{value}'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--producer-rate", "-5"], "--producer-rate must be > 0"),
        (["demo", "--producer-rate", "inf"], "--producer-rate must be > 0"),
        (["demo", "--consumer-rate", "fast"], "--consumer-rate must be a number"),
        (["demo", "--duration", "0"], "--duration must be > 0"),
        (["demo", "--capacity", "0"], "--capacity must be >= 1, got '0'"),
        (["demo", "--max-memory", "0"], "--max-memory must be >= 1, got '0'"),
        (["demo", "--strategy", "hope"], "invalid choice: 'hope'"),
        (["demo", "--no-such-flag"], "unrecognized arguments"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_flags_exit_with_status_two_and_no_traceback(args: list[str], message: str) -> None:
    done = _cli(*args, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_run_too_big_for_memory_is_refused_before_it_starts() -> None:
    # A million a second for a minute: observe_on would queue some 60 million items.
    done = _cli("demo", "--producer-rate", "1e6", timeout=30)
    _refused(done, "none would take about")
    assert "MiB in this run (1e+06 msg/s for 60 s)" in done.stderr
    assert "more than --max-memory 1024 (MiB): run for less (--duration 2.6 would fit)" in (
        done.stderr
    )
    # 10,000 items: about 4 MiB
    small = ["demo", "--producer-rate", "1e5", "--duration", "0.1", "--strategy", "none"]
    _refused(_cli(*small, "--max-memory", "2", timeout=30), "--duration 0.051 would fit")
    done = _cli(*small, "--max-memory", "8", "--json", timeout=30)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)["results"]
    assert row["produced"] == 10_000
    assert row["peak_queue_bytes"] < 8 * 2**20


def test_real_time_runs_for_a_second_and_draws_no_bar_into_a_pipe() -> None:
    done = _cli("demo", "--real-time", "--duration", "1", "--strategy", "shed_head")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # stderr is a pipe here, not a terminal
    assert "shed_head" in done.stdout


def test_real_time_json() -> None:
    done = _cli("demo", "--real-time", "--duration", "1", "--json", "--strategy", "shed_head")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["settings"]["real_time"] is True
    [row] = document["results"]
    assert row["produced"] == row["delivered"] + row["dropped"] + row["queued"]
    assert 500 <= row["produced"] <= 1001  # about 1000 in one real second
    assert row["queued"] <= 1000


def test_a_terminal_sees_the_progress_of_a_virtual_run() -> None:
    terminal, stderr = pty.openpty()
    process = subprocess.Popen(
        [*COMMAND, "demo", "--duration", "2", "--strategy", "none", "--strategy", "shed_head"],
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    os.close(stderr)
    drawn = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the command has closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(terminal)
    assert process.stdout is not None
    table = process.stdout.read().decode()
    assert process.wait(timeout=60) == 0
    bar = drawn.decode()
    # drawn at least once, however short the run
    assert bar.startswith("\r[")
    assert "%" in bar
    # redrawn in place, then erased, so that the table starts on a clean line
    assert "\n" not in bar
    assert bar.endswith("\r")
    assert not bar.rsplit("\r", 2)[-2].strip()
    assert table.startswith("producer 1000 msg/s")


def test_inspect_prints_each_strategys_pipeline_after_the_table() -> None:
    # One virtual minute at the default rates: bounded_buffer(1000) holds 260 with 740
    # asked of the producer; shed(1000) dropped 53,000 of 60,000.
    done = _cli(
        "demo",
        "--inspect",
        "--strategy",
        "none",
        "--strategy",
        "bounded_buffer",
        "--strategy",
        "shed_tail",
    )
    assert done.returncode == 0, done.stderr
    tables = done.stdout.split("\n\nnone: ", 1)[1]
    assert tables.splitlines()[0] == "plain reactivex, no stages to inspect"
    rows = {line.split()[0]: line.split()[1:] for line in tables.splitlines() if "  " in line}
    assert rows["bounded_buffer(1000)"] == [
        "operator",
        "1000",
        "260",
        "0",
        "740",
        "6260",
        "6000",
        "0",
    ]
    assert rows["shed(1000)"] == ["operator", "1000", "1000", "0", "-", "60000", "6000", "53000"]
    assert rows["paced_producer(1000/s)"][:3] == ["source", "-", "0"]


def test_inspect_does_not_go_with_json() -> None:
    _refused(_cli("demo", "--inspect", "--json"), "--inspect prints tables")
