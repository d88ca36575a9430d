from spotipy.cache_handler import CacheHandler as CacheHandler
from spotipy.client import Spotify as Spotify
from spotipy.exceptions import SpotifyException as SpotifyException
