"""The lifetime of an exchange client's one `httpx.AsyncClient`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx


class OwnsHttpClient:
    """An async context manager that closes the client's `_http` on exit; `aclose` does
    the same by hand. Both exchange clients own exactly one pooled httpx client."""

    _http: httpx.AsyncClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
