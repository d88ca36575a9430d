"""Made-up names for the demo catalog: artists, albums and tracks.

The names mix plain ASCII with accented and non-Latin letters and with the characters HTML
treats specially, so that every page showing them proves its escaping.
"""

from __future__ import annotations

import random

# Always in the catalog and followed by the small demo users, whatever the seed.
SPECIAL_ARTIST_NAMES = (
    "Simone & Garfield",
    "<script>alert(1)</script> Band",
    'The "Quoted" Ones',
    "Rock 'n' Roll Kids",
    "Bjørn Ødegaard",
    "Die Straßenmusiker",
    "日本 Orchestra",
    "Less <Than> & Greater",
    "Zoë & the A&R Crew",
    "Sigur Ósk",
)

_FIRST = (
    "Ana",
    "Amélie",
    "Björn",
    "Chloé",
    "Dario",
    "Élodie",
    "Fatima",
    "Giulia",
    "Hugo",
    "Ines",
    "José",
    "Jonas",
    "Kaito",
    "Lena",
    "Łukasz",
    "Maëlle",
    "Mateo",
    "Nina",
    "Oskar",
    "Paulo",
    "Renée",
    "Søren",
    "Tomás",
    "Uma",
    "Václav",
    "Yara",
    "Zoë",
    "Ayşe",
    "Håkon",
    "Noémie",
    "Sam",
    "Kim",
    "Alex",
    "Jordan",
    "Robin",
    "Miles",
    "Nora",
    "Ella",
    "Otis",
    "Ruby",
)
_LAST = (
    "Müller",
    "Núñez",
    "Ødegaard",
    "Kovač",
    "Yılmaz",
    "Ōta",
    "Dvořák",
    "García",
    "Weiß",
    "Larsen",
    "Moreau",
    "Rossi",
    "Smith",
    "Jones",
    "Okafor",
    "Nakamura",
    "Silva",
    "Novak",
    "O'Connor",
    "D'Angelo",
    "Berg",
    "Holm",
    "Fontaine",
    "Brandão",
    "Çelik",
    "Lindqvist",
)
_ADJ = (
    "Velvet",
    "Electric",
    "Silent",
    "Golden",
    "Broken",
    "Neon",
    "Wild",
    "Lunar",
    "Crimson",
    "Hollow",
    "Paper",
    "Glass",
    "Midnight",
    "Northern",
    "Tender",
    "Savage",
    "Blue",
    "Quiet",
    "Ætherial",
    "Brûlé",
    "Schöne",
    "Fröhliche",
)
_NOUN = (
    "Wolves",
    "Tides",
    "Machines",
    "Echoes",
    "Rivers",
    "Ghosts",
    "Lanterns",
    "Orchids",
    "Pilots",
    "Satellites",
    "Foxes",
    "Bells",
    "Mirrors",
    "Daydreams",
    "Harbours",
    "Comets",
    "Kids",
    "Sparrows",
    "Engines",
    "Cowboys",
    "Señoritas",
    "Träume",
    "Fjords",
)
_WORLD = (
    "東京",
    "日本",
    "さくら",
    "夜明け",
    "김민지",
    "서울",
    "Μουσική",
    "Звезда",
    "Ветер",
    "القمر",
    "Sol y Sombra",
    "Noite",
    "Ljósið",
    "Øst",
)
_TITLE_WORDS = (
    "Love",
    "Night",
    "Summer",
    "Heart",
    "Fire",
    "Rain",
    "Dance",
    "Home",
    "Ocean",
    "Stars",
    "Mañana",
    "Café",
    "Herz",
    "Nuit",
    "Amor",
    "Sommer",
    "Vida",
    "Lune",
    "Ciel",
    "夢",
    "Runaway",
    "Gold",
    "Shadows",
    "Light",
    "Weekend",
    "Roads",
    "Sirens",
    "Hymn",
    "Static",
)


def artist_name(rng: random.Random) -> str:
    """A plausible artist or band name, now and then with HTML-special characters."""
    roll = rng.random()
    if roll < 0.35:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if roll < 0.60:
        return f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    if roll < 0.72:
        return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    if roll < 0.82:
        return f"{rng.choice(_FIRST)} & the {rng.choice(_NOUN)}"
    if roll < 0.90:
        return f"{rng.choice(_WORLD)} {rng.choice(_NOUN)}"
    if roll < 0.95:
        return rng.choice(_WORLD) + rng.choice(("", " Project", " Trio", " & Friends"))
    if roll < 0.98:
        return f'{rng.choice(_FIRST)} "{rng.choice(_ADJ)}" {rng.choice(_LAST)}'
    return f"{rng.choice(_ADJ)} <{rng.choice(_NOUN)}>"


def title(rng: random.Random) -> str:
    """A song or album title of one to three words."""
    words = rng.sample(_TITLE_WORDS, rng.choice((1, 2, 2, 3)))
    text = " ".join(words)
    roll = rng.random()
    if roll < 0.05:
        return f"{text} (Live)"
    if roll < 0.08:
        return f"{text} & {rng.choice(_TITLE_WORDS)}"
    return text


def label(rng: random.Random) -> str:
    """A record label."""
    return f"{rng.choice(_ADJ)} {rng.choice(('Records', 'Music', 'Recordings', 'Sound'))}"
