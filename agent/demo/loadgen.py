"""Steady demo traffic against a running demo service (for docker compose).

    python -m agent.demo.loadgen --host service --port 8000 --rate 20
"""

from __future__ import annotations

import argparse
import signal
import threading

from agent.demo.runner import Traffic


def main() -> None:
    ap = argparse.ArgumentParser(description="slo-agent demo traffic")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    traffic = Traffic(args.port, args.seed, rate=args.rate, host=args.host)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    traffic.start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    traffic.stop()


if __name__ == "__main__":
    main()
