from collections.abc import Mapping

class SpotifyBaseException(Exception): ...

class SpotifyException(SpotifyBaseException):
    http_status: int
    code: int
    msg: str
    reason: str | None
    headers: Mapping[str, str]  # the answer's headers, or empty
    def __init__(
        self,
        http_status: int,
        code: int,
        msg: str,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None: ...
