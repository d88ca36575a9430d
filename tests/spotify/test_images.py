"""An artist picture's address at each width Spotify (or the demo) serves it."""

from __future__ import annotations

from spotify.images import artist_picture_widths

DIGEST = "0123456789abcdef01234567"


def test_a_spotify_artist_picture_is_named_at_640_320_and_160_px_from_any_of_them():
    widths = artist_picture_widths(f"https://i.scdn.co/image/ab67616100005174{DIGEST}")

    assert widths == {
        640: f"https://i.scdn.co/image/ab6761610000e5eb{DIGEST}",
        320: f"https://i.scdn.co/image/ab67616100005174{DIGEST}",
        160: f"https://i.scdn.co/image/ab6761610000f178{DIGEST}",
    }


def test_the_demo_names_the_width_in_its_path():
    widths = artist_picture_widths("http://127.0.0.1:8001/open/image/a1B2/640.jpg")

    assert widths[160] == "http://127.0.0.1:8001/open/image/a1B2/160.jpg"
    assert sorted(widths) == [160, 320, 640]


def test_an_address_of_another_shape_has_no_other_widths():
    for url in (
        f"https://i.scdn.co/image/ab67616d0000b273{DIGEST}",  # an album cover
        f"https://i.scdn.co/image/ab6761610000e5eb{DIGEST}0",  # one digit too many
        f"https://evil.example/image/ab6761610000e5eb{DIGEST}",
        "http://127.0.0.1:8001/open/image/a1B2/300.jpg",
    ):
        assert artist_picture_widths(url) == {}, url
