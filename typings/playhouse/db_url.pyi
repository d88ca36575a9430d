from typing import Any

# The keyword arguments of a database class for the URL (database, host, port...).
def parse(
    url: str, unquote_password: bool = False, unquote_user: bool = False
) -> dict[str, Any]: ...
