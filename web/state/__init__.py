"""The state the web process keeps in Redis: its client, the comparison cache, the friend-code
guess limit, the refused sign-ins, the refresh cooldown and Spotify's pause of the counts."""
