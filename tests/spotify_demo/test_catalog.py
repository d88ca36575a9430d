"""The demo catalog: sizes from the contract, determinism, names, listeners, derived artists."""

from __future__ import annotations

import statistics
import time

import pytest

from spotify_demo.building import build_catalog, new_catalog
from spotify_demo.catalog import BASE62, Catalog, is_spotify_id
from spotify_demo.names import SPECIAL_ARTIST_NAMES

# docs/spotify-contract.md: followed, saved tracks, saved albums
CONTRACT_SIZES = {
    "ana": (5000, 3000, 500),
    "ben": (1200, 800, 150),
    "cleo": (40, 60, 10),
    "dmitri": (15, 0, 5),
    "emma": (0, 0, 0),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The default catalog (shared with the demo server of the session)."""
    return build_catalog()


def test_every_demo_user_has_the_library_sizes_of_the_contract(catalog: Catalog) -> None:
    sizes = {
        user.id: (len(user.followed), len(user.saved_tracks), len(user.saved_albums))
        for user in catalog.users.values()
    }
    assert sizes == CONTRACT_SIZES


def test_libraries_hold_no_duplicates(catalog: Catalog) -> None:
    for user in catalog.users.values():
        assert len(set(user.followed)) == len(user.followed)
        assert len({s.item_id for s in user.saved_tracks}) == len(user.saved_tracks)
        assert len({s.item_id for s in user.saved_albums}) == len(user.saved_albums)


def test_ben_follows_about_a_third_of_his_artists_in_common_with_ana(catalog: Catalog) -> None:
    ana, ben = catalog.users["ana"], catalog.users["ben"]
    shared = set(ana.followed) & set(ben.followed)
    assert 0.30 <= len(shared) / len(ben.followed) <= 0.40
    shared_tracks = {s.item_id for s in ana.saved_tracks} & {s.item_id for s in ben.saved_tracks}
    assert shared_tracks, "Ben should also share some saved tracks with Ana"


def test_two_builds_from_one_seed_are_equal_and_another_seed_differs() -> None:
    first, second = new_catalog(seed=7, scale=0.1), new_catalog(seed=7, scale=0.1)
    assert first == second
    assert first.artists[0].id == second.artists[0].id
    assert new_catalog(seed=8, scale=0.1) != first


def test_the_full_catalog_builds_in_under_a_second_and_a_half() -> None:
    # The work, in CPU time: on a busy machine the wall clock also counts the time the
    # scheduler gave to others (0.22 s of work took 2.65 s with the load average at 20).
    started = time.thread_time()
    built = new_catalog()
    assert time.thread_time() - started < 1.5
    assert len(built.artists) == 20_000


def test_ids_are_unique_22_character_base62(catalog: Catalog) -> None:
    ids = [a.id for a in catalog.artists] + list(catalog.albums) + list(catalog.tracks)
    assert len(set(ids)) == len(ids)
    assert all(is_spotify_id(i) for i in ids)
    assert set("".join(ids)) <= set(BASE62)


def test_artist_names_include_non_ascii_and_html_special_characters(catalog: Catalog) -> None:
    names = [a.name for a in catalog.artists]
    assert set(SPECIAL_ARTIST_NAMES) <= set(names)
    for piece in ("é", "ø", "ß", "日本", "&", "<", ">", '"', "'"):
        assert any(piece in name for name in names), piece
    assert sum(not name.isascii() for name in names) > len(names) // 10


def test_small_users_follow_the_awkward_names(catalog: Catalog) -> None:
    followed = {catalog.artist(i).name for i in catalog.users["cleo"].followed}
    assert "<script>alert(1)</script> Band" in followed
    assert "Simone & Garfield" in followed


def test_monthly_listeners_spread_from_a_few_dozen_to_over_a_hundred_million(
    catalog: Catalog,
) -> None:
    listeners = [a.listeners for a in catalog.artists]
    assert min(listeners) < 100
    assert max(listeners) > 100_000_000
    # Heavy-tailed: the mean sits far above the median.
    assert statistics.mean(listeners) > 5 * statistics.median(listeners)


def test_about_one_percent_of_artists_show_no_listener_figure(catalog: Catalog) -> None:
    hidden = [a for a in catalog.artists if catalog.monthly_listeners(a.id) is None]
    assert 0.005 < len(hidden) / len(catalog.artists) < 0.02
    shown = next(a for a in catalog.artists if a.listeners_shown)
    assert catalog.monthly_listeners(shown.id) == shown.listeners
    assert catalog.monthly_listeners("0" * 22) is None


def test_most_but_not_all_artists_have_an_image(catalog: Catalog) -> None:
    share = sum(a.has_image for a in catalog.artists) / len(catalog.artists)
    assert 0.8 < share < 1.0


def test_saved_tracks_derive_every_credited_artist(catalog: Catalog) -> None:
    ana = catalog.users["ana"]
    credits = [catalog.tracks[s.item_id].artist_ids for s in ana.saved_tracks]
    assert {len(c) for c in credits} == {1, 2, 3}
    expected = catalog.expected_artist_ids("ana", "saved_track")
    assert expected == {artist for c in credits for artist in c}
    assert all(catalog.artist(i) is not None for i in expected)


def test_saved_albums_derive_their_album_artists(catalog: Catalog) -> None:
    cleo = catalog.users["cleo"]
    albums = [catalog.albums[s.item_id] for s in cleo.saved_albums]
    expected = catalog.expected_artist_ids("cleo", "saved_album")
    assert expected == {artist for album in albums for artist in album.artist_ids}


def test_followed_artists_are_derived_as_they_are(catalog: Catalog) -> None:
    assert catalog.expected_artist_ids("dmitri", "followed") == set(
        catalog.users["dmitri"].followed
    )
    assert catalog.expected_artist_ids("emma", "followed") == frozenset()


def test_an_unknown_source_is_refused(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        catalog.expected_artist_ids("ana", "playlists")


def test_saved_items_are_newest_first(catalog: Catalog) -> None:
    for user in catalog.users.values():
        for saved in (user.saved_tracks, user.saved_albums):
            times = [s.added_at for s in saved]
            assert times == sorted(times, reverse=True)


def test_an_album_lists_its_saved_tracks_among_stable_fillers(catalog: Catalog) -> None:
    track = catalog.tracks[catalog.users["ana"].saved_tracks[0].item_id]
    listing = catalog.album_tracks(track.album_id)
    assert listing[track.track_number - 1] == track
    assert len(listing) == catalog.albums[track.album_id].total_tracks
    assert catalog.album_tracks(track.album_id) == listing


def test_scale_shrinks_every_library_proportionally() -> None:
    small = build_catalog(scale=0.1)
    assert len(small.artists) == 2_000
    ana = small.users["ana"]
    assert (len(ana.followed), len(ana.saved_tracks), len(ana.saved_albums)) == (500, 300, 50)
    assert len(small.users["emma"].followed) == 0


def test_generated_load_users_have_a_few_of_cleos_artists_tracks_and_albums() -> None:
    catalog = build_catalog(load_users=3)
    cleo = catalog.users["cleo"]
    load = [catalog.users[f"load000{n}"] for n in (1, 2, 3)]
    assert "load0004" not in catalog.users
    for user in load:
        assert (len(user.followed), len(user.saved_tracks), len(user.saved_albums)) == (3, 3, 1)
        assert set(user.followed) <= set(cleo.followed) and list(user.followed) == sorted(
            user.followed
        )
        assert set(user.saved_tracks) <= set(cleo.saved_tracks)
        assert set(user.saved_albums) <= set(cleo.saved_albums)
        times = [s.added_at for s in user.saved_tracks]
        assert times == sorted(times, reverse=True)
    assert len({user.followed for user in load}) == 3  # each draws its own


def test_load_users_change_nothing_else_in_the_catalog(catalog: Catalog) -> None:
    crowded = new_catalog(load_users=50)
    assert crowded.artists == catalog.artists and crowded.tracks == catalog.tracks
    assert {k: v for k, v in crowded.users.items() if k in catalog.users} == catalog.users
    assert crowded.users["load0050"] == build_catalog(load_users=50).users["load0050"]
