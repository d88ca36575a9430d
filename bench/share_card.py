"""The share card's drawing time, with its seven pictures cached: p50 and p99.

    .venv/bin/python bench/share_card.py [-n 200]

Target: under 200 ms with the pictures cached (issue 23). Draws the card of
``web.views.share_card`` for two people and five shared artists, every picture a 640 px
JPEG from the demo Spotify's drawing, scaled and kept by ``sync.pictures.small_picture``
as the worker keeps it, read back from the ``picture`` table of a temp SQLite file on
every card, as the route does. Beside it, the same card with no picture cached (initials
only), the baseline that needs no picture at all: their ratio is what the pictures cost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from models import Picture, init_database, migrations
from spotify_demo.pages import image_jpeg
from sync.pictures import small_picture
from web.views.share_card import Card, CardArtist, CardPerson, render_card

NAMES = ("Bjørn Ødegaard", "東京 Nights", "Μελωδία", "The Quiet Harbour Collective", "Zé")


def card(with_pictures: bool) -> Card:
    """A card of two people and five artists; its picture addresses cached or not."""
    prefix = "https://i.scdn.co/image/" if with_pictures else "https://i.scdn.co/none/"
    return Card(
        me=CardPerson("Cléo", f"{prefix}cleo"),
        friend=CardPerson("Benjamin", f"{prefix}ben"),
        match="54%",
        meaning="of Benjamin's artists are in Cléo's library",
        shared="1,284 shared artists",
        artists=[CardArtist(name, f"{prefix}{i}") for i, name in enumerate(NAMES)],
    )


def cache_pictures() -> None:
    """Every picture of the cached card, kept as the worker keeps it."""
    labels = {"cleo": "Cléo", "ben": "Benjamin", **{str(i): n for i, n in enumerate(NAMES)}}
    for key, label in labels.items():
        kept = small_picture(image_jpeg(key, label, 640))
        Picture.keep(f"https://i.scdn.co/image/{key}", kept)


def timed(data: Card, n: int) -> tuple[float, float, float, int]:
    """p50 and p99 in ms of drawing ``data`` ``n`` times after a warm-up, the median CPU
    time of one (what a loaded machine's waiting does not inflate), and its size."""
    size = len(render_card(data))
    for _ in range(5):
        render_card(data)
    times, cpu = [], []
    for _ in range(n):
        started, started_cpu = time.perf_counter(), time.process_time()
        render_card(data)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return statistics.median(times), times[min(n - 1, int(n * 0.99))], statistics.median(cpu), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="share-card-")
    try:
        init_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        migrations.upgrade()
        cache_pictures()
        cached = timed(card(True), args.n)
        initials = timed(card(False), args.n)
    finally:
        shutil.rmtree(folder)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"share card, 1200 x 630 PNG, {args.n} draws each (target: p99 < 200 ms cached)")
    print(f"  machine load average {load} on {os.cpu_count()} cores")
    for label, (p50, p99, cpu, size) in (
        ("7 pictures cached", cached),
        ("initials only", initials),
    ):
        print(
            f"  {label:<18} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   "
            f"CPU p50 {cpu:6.1f} ms   {size / 1024:4.0f} KiB"
        )
    print(f"  pictures cost: p50 x{cached[0] / initials[0]:.2f} of the initials-only card")


if __name__ == "__main__":
    main()
