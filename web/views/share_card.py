"""The share card: a comparison as one PNG, drawn by Pillow from what the database holds.

It shows both people's pictures and names, the match with its meaning in words, and the
rarest shared artists with their pictures. Pictures come only from the ``picture`` table,
which a worker fills (sync/pictures.py); one not held yet is drawn as initials, so drawing
the card never waits on the network. bench/share_card.py times it.
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from models import Picture

WIDTH, HEIGHT = 1200, 630
BACKGROUND = (18, 18, 20)
FOREGROUND = (236, 236, 240)
MUTED = (166, 166, 176)
ACCENT = (74, 222, 128)
# Fonts with more scripts than Pillow's own (Latin only), where the system has them.
_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans"
FONT_FILES = ((f"{_DEJAVU}.ttf", f"{_DEJAVU}-Bold.ttf"),)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class CardArtist:
    """A shared artist as the card draws it."""

    name: str
    image_url: str | None


@dataclass(frozen=True)
class CardPerson:
    """One of the two people as the card draws them."""

    name: str
    image_url: str | None


@dataclass(frozen=True)
class Card:
    """What a share card says."""

    me: CardPerson
    friend: CardPerson
    match: str
    meaning: str
    shared: str
    artists: Sequence[CardArtist]


@functools.lru_cache(maxsize=32)
def font(size: int, bold: bool = False) -> Font:
    """A font of ``size`` px: DejaVu where installed, else Pillow's built-in one."""
    for regular, heavy in FONT_FILES:
        path = heavy if bold else regular
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _initials(name: str) -> str:
    return "".join(word[:1] for word in name.split()[:2]).upper() or "?"


@functools.lru_cache(maxsize=256)
def _placeholder(name: str, size: int) -> Image.Image:
    """A square of the name's own colour with its initials, for a picture not held."""
    hue = zlib.crc32(name.encode()) % 360
    square = Image.new("RGB", (size, size), f"hsl({hue},40%,35%)")
    ImageDraw.Draw(square).text(
        (size / 2, size / 2), _initials(name), fill=FOREGROUND, font=font(size // 3, True),
        anchor="mm",
    )  # fmt: skip
    return square


def _picture(held: dict[str, bytes], url: str | None, name: str, size: int) -> Image.Image:
    data = held.get(url or "")
    return _placeholder(name, size) if data is None else _scaled(data, size)


# A card is often saved again (both people, a second try): its pictures are decoded once.
@functools.lru_cache(maxsize=64)
def _scaled(data: bytes, size: int) -> Image.Image:
    """A cached picture decoded and scaled to ``size`` (callers only paste it)."""
    with Image.open(io.BytesIO(data)) as picture:
        return picture.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)


def _round(picture: Image.Image, radius: int) -> Image.Image:
    """A mask with rounded corners (a circle when ``radius`` is half the size)."""
    mask = Image.new("L", picture.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, *picture.size), radius, fill=255)
    return mask


def _fit(draw: ImageDraw.ImageDraw, text: str, face: Font, width: int) -> str:
    """``text`` cut with an ellipsis to fit in ``width`` pixels."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def _people(card: Image.Image, draw: ImageDraw.ImageDraw, data: Card, held: dict) -> None:
    size = 150
    for index, person in enumerate((data.me, data.friend)):
        x = 70 + index * 115
        picture = _picture(held, person.image_url, person.name, size)
        ring = Image.new("RGB", (size + 12, size + 12), BACKGROUND)
        card.paste(ring, (x - 6, 64), _round(ring, (size + 12) // 2))
        card.paste(picture, (x, 70), _round(picture, size // 2))
    names = _fit(draw, f"{data.me.name} & {data.friend.name}", font(34, True), 480)
    draw.text((70, 250), names, fill=FOREGROUND, font=font(34, True))
    draw.text((70, 296), data.shared, fill=MUTED, font=font(26))


def _figure(draw: ImageDraw.ImageDraw, data: Card) -> None:
    draw.text((600, 60), data.match, fill=ACCENT, font=font(120, True))
    left = 600 + int(draw.textlength(data.match, font=font(120, True))) + 20
    draw.text((left, 98), "match", fill=FOREGROUND, font=font(40, True))
    y = 210
    face = font(28)
    line = ""
    for word in data.meaning.split():
        if line and draw.textlength(f"{line} {word}", font=face) > 540:
            draw.text((600, y), line, fill=FOREGROUND, font=face)
            line, y = word, y + 38
        else:
            line = f"{line} {word}".strip()
    draw.text((600, y), line, fill=FOREGROUND, font=face)


def _artists(card: Image.Image, draw: ImageDraw.ImageDraw, data: Card, held: dict) -> None:
    if not data.artists:
        draw.text((70, 420), "No artist in common yet:", fill=FOREGROUND, font=font(40, True))
        draw.text((70, 476), "time to swap recommendations.", fill=MUTED, font=font(40))
        return
    draw.text((70, 360), "Rarest artists you share", fill=MUTED, font=font(24))
    size, gap = 170, 37
    for index, artist in enumerate(data.artists):
        x = 70 + index * (size + gap)
        picture = _picture(held, artist.image_url, artist.name, size)
        card.paste(picture, (x, 398), _round(picture, 14))
        name = _fit(draw, artist.name, font(22), size)
        draw.text((x, 600), name, fill=FOREGROUND, font=font(22), anchor="ls")


def render_card(data: Card) -> bytes:
    """The card as PNG bytes, its pictures from the ``picture`` table (initials when not held)."""
    held = Picture.cached(
        [data.me.image_url, data.friend.image_url, *(a.image_url for a in data.artists)]
    )
    card = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(card)
    draw.text((WIDTH - 70, 40), "overlap", fill=ACCENT, font=font(28, True), anchor="ra")
    _people(card, draw, data, held)
    _figure(draw, data)
    _artists(card, draw, data, held)
    out = io.BytesIO()
    card.save(out, "PNG", compress_level=1)
    return out.getvalue()


def render_invitation(inviter: str) -> bytes:
    """The welcome page's preview picture: an invitation that names only the inviter."""
    card = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(card)
    draw.text((70, 60), "overlap", fill=ACCENT, font=font(40, True))
    face = font(56, True)
    draw.text((70, 230), _fit(draw, inviter, face, WIDTH - 140), fill=FOREGROUND, font=face)
    draw.text((70, 310), "wants to compare music with you", fill=FOREGROUND, font=face)
    draw.text(
        (70, 480), "Which artists do you both listen to, and how rare are they?",
        fill=MUTED, font=font(32),
    )  # fmt: skip
    out = io.BytesIO()
    card.save(out, "PNG", compress_level=1)
    return out.getvalue()
