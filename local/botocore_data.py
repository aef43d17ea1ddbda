"""One parse of botocore's service and endpoint data per process, whatever the number of boto3 sessions.

Each botocore session makes its own loader, and a loader parses the JSON of each service model it is
asked for (EC2's is several megabytes) again. A Lambda container makes one session; this process makes
many: every `mock_aws` drops boto3's default session, and every `Clients` of a test or a function the
engine runs makes its own. Here every session gets the loader of the first, whose caches keep each
parsed model; the data is read-only to botocore, as within one session.
"""

from __future__ import annotations

import functools


def install() -> None:
    """Give every botocore session made from now on the process's one loader per data path (idempotent)."""
    from botocore import loaders, session

    if not hasattr(session.create_loader, "cache_info"):
        session.create_loader = functools.cache(loaders.create_loader)
