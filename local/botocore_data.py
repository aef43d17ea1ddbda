"""One parse of botocore's service and endpoint data per process, whatever the number of boto3 sessions.

Each botocore session makes its own loader, and a loader parses the JSON of each service model it is
asked for (EC2's is several megabytes) again. A Lambda container makes one session; this process makes
many: every `mock_aws` drops boto3's default session, and every `Clients` of a test or a function the
engine runs makes its own. Here every session gets the loader of the first, whose caches keep each
parsed model; the data is read-only to botocore, as within one session.
"""

from __future__ import annotations

import functools
from typing import Any


class _Paths(list[str]):
    """A loader's search paths, each kept once: every boto3 session appends boto3's own data folder."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def _shared_loader(create: Any) -> Any:
    @functools.cache
    def loader(search_path_string: str | None = None) -> Any:
        made = create(search_path_string)
        made._search_paths = _Paths(made.search_paths)
        return made

    return loader


def install() -> None:
    """Give every botocore session made from now on the process's one loader per data path (idempotent)."""
    from botocore import loaders, session

    if not hasattr(session.create_loader, "cache_info"):
        session.create_loader = _shared_loader(loaders.create_loader)
