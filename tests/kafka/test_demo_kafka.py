"""``rx-backpressure demo --kafka`` against the test broker, and its flags."""

from __future__ import annotations

import pytest

from rx_backpressure.__main__ import main


def test_bootstrap_goes_with_kafka(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--bootstrap", "127.0.0.1:9"])
    assert exited.value.code == 2
    assert "--bootstrap goes with --kafka" in capsys.readouterr().err


def test_the_kafka_demo_prints_lag_and_memory_then_the_final_lag(
    broker: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--kafka", "--bootstrap", broker, "--duration", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("producer 1000 msg/s into two topics for 4 s")
    assert lines[1].split() == ["t", "lag", "one", "by", "one", "lag", "adaptive_batch", "memory"]
    assert [line.split()[0] for line in lines[2:6]] == ["1s", "2s", "3s", "4s"]
    assert all(line.endswith("MiB") for line in lines[2:6])
    assert lines[6].startswith("final lag: one by one ")
    assert "adaptive_batch" in lines[6]


def test_kafka_refuses_the_flags_of_the_other_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--kafka", "--json"])
    assert exited.value.code == 2
    assert "--kafka takes --bootstrap" in capsys.readouterr().err
