"""What one access line costs to write: overlap's formatter (masked, escaped, with the
context; JSON and text) side by side with gunicorn's plain format, which it replaced.

    .venv/bin/python bench/log_lines.py [N]

Each figure is the mean of N formattings (default 20,000) of the same access record, in
microseconds; the ratio is to gunicorn's plain format. Nothing is written anywhere.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Callable

from config import logs
from config.settings import Settings

ATOMS = {
    "h": "127.0.0.1", "m": "GET", "U": "/with/12", "q": "sort=name&offset=50", "s": "200",
    "M": 12, "b": "5123", "f": "-", "a": "Mozilla/5.0",
    "r": "GET /with/12?sort=name&offset=50 HTTP/1.1",
    "{x-request-id}o": "e6abc5f426ab461dad77675684562e48",
}  # fmt: skip


def mean_us(format_line: Callable[[], str], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        format_line()
    return (time.perf_counter() - started) / n * 1e6


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as var:
        settings = Settings.from_env({"OVERLAP_VAR_DIR": var}, read_dotenv=False)
    access = logging.getLogger("gunicorn.access")
    record = access.makeRecord(access.name, logging.INFO, __file__, 1, logs.ACCESS_LOG_FORMAT,
                               (ATOMS,), None)  # fmt: skip
    logs.begin(request_id=ATOMS["{x-request-id}o"], user_id=12)
    plain = logging.Formatter("%(message)s")
    baseline = mean_us(lambda: plain.format(record), n)
    print(f"gunicorn's plain format   {baseline:7.1f} us per access line")
    for log_format in ("text", "json"):
        formatter = logs.formatter(settings.but(log_format=log_format), "web")
        cost = mean_us(lambda f=formatter: f.format(record), n)
        print(f"overlap, {log_format:<4}             {cost:7.1f} us  ({cost / baseline:.1f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
