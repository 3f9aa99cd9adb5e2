"""Reconciliation's one matching rule: which fetched profile, if any, is an add's record.

An add in doubt (sent, answer lost) is looked up before anything is re-sent. Every path
that reconciles -- a retried add, a resumed run's unconfirmed item, an enrichment -- asks
this one function, so they agree on what "already applied" means.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._digest import digest_or_none
from ._models import Profile


def find_applied(
    profiles: Iterable[Profile] | None, source: object, digest: str, *, sent: object = None
) -> Profile | None:
    """The newest profile (highest id) from ``source`` whose payload has ``digest``.

    ``None`` when no profile matches: the add was not applied. The server gives ids in
    creation order, so the newest match is the record this add made if several equal
    payloads were added by other means.

    ``sent``: the payload as the add sent it, decoded back from its JSON body (None: not
    known). A profile whose payload is not ``==`` to it cannot have its digest, and is
    passed over without computing one: both are plain decoded JSON, and two such values
    with the same canonical JSON are equal (the converse does not hold, ``1 == 1.0``, so
    the digest still decides).
    """
    found: Profile | None = None
    for profile in profiles or ():
        if profile.source != source:
            continue
        if sent is not None and profile.payload != sent:
            continue
        if digest_or_none(profile.payload) != digest:
            continue
        if found is None or profile.id > found.id:
            found = profile
    return found
