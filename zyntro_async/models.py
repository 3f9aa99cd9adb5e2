"""The records the API returns, as typed, frozen models.

Each one is a :class:`PlainData`: ``to_dict()`` gives JSON-ready plain data and
``from_dict()`` reads it back. The models themselves are importable from ``zyntro_async``
too.
"""

from ._models import Contact, ContactDetails, Entity, Note, PlainData, Profile

__all__ = ["Contact", "ContactDetails", "Entity", "Note", "Profile", "PlainData"]
