"""``overlap tokens``: look after the Spotify tokens sealed at rest."""

from __future__ import annotations

import sys

from cli.ops_commands import audit
from models import User


def rotate_key() -> int:
    """Seal every stored token with the newest TOKEN_KEY and say how many; exit status."""
    resealed, unreadable = User.reseal_tokens()
    # On the audit trail as every other CLI action, with how many rows it sealed anew.
    audit("rotate-key", "tokens", resealed)
    plural = "s" if resealed != 1 else ""
    print(f"re-encrypted {resealed:,} token{plural} with the newest TOKEN_KEY")
    if unreadable:
        # Left as they are: dropping a row's token would be a choice the operator makes
        # (restore the old key, or let those people sign in again), not this command.
        print(
            f"overlap: {unreadable:,} token{'s' if unreadable != 1 else ''} could not be"
            " opened with any TOKEN_KEY; those people must sign in again"
            " (or put back the key that sealed them and run this again)",
            file=sys.stderr,
        )
        return 1
    return 0
