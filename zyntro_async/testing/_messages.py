"""The documented Zyntro error messages: the server's side of the contract.

Every string here is copied verbatim from the API doc pages
(``fetchContact`` and ``addProfileToContact``); the sandbox answers them in
``{"data": [<message>], "status": "error"}`` with HTTP 200. Codes are the doc
tables' ``Code`` column and key the sandbox's error counters.

One interpretation: ``addProfileToContact`` documents ``MISSING_FIELDS`` as the
single line ``Missing org ID / member ID / contact ID / profile_payload /
profile_source``. The sandbox reads that as one message per missing field
(:data:`MISSING_ORG_ID`, :data:`MISSING_MEMBER_ID`, :data:`MISSING_CONTACT_ID`,
:data:`MISSING_PROFILE_PAYLOAD`, :data:`MISSING_PROFILE_SOURCE`); the first three
are the ones ``fetchContact`` documents word for word.
"""

from __future__ import annotations

from typing import Final

# Authentication (both endpoints).
MISSING_API_KEY: Final = "Missing service instance"
INVALID_API_KEY: Final = "Invalid API Key"
MISSING_DEVELOPER_SECRET: Final = "Missing developer_secret"
INVALID_DEVELOPER_SECRET: Final = "Invalid developer_secret"
IP_NOT_WHITELISTED: Final = "IP address not whitelisted"
USER_INACTIVE: Final = "User is not active"

# Required fields.
MISSING_ORG_ID: Final = "Missing org ID"
MISSING_MEMBER_ID: Final = "Missing member ID"
MISSING_CONTACT_ID: Final = "Missing contact ID"
#: The doc table's literal MISSING_FIELDS line (addProfileToContact); never sent as is.
MISSING_FIELDS_DOC: Final = (
    "Missing org ID / member ID / contact ID / profile_payload / profile_source"
)
MISSING_PROFILE_PAYLOAD: Final = "Missing profile_payload"
MISSING_PROFILE_SOURCE: Final = "Missing profile_source"

# addProfileToContact only.
INVALID_PAYLOAD: Final = (
    "Profile payload must be a valid array. The key/value pairing can be anything you like."
)
NOT_OWNER: Final = "The API only supports notes being added by the member that owns the contact."

# Not found, worded differently per endpoint.
FETCH_NOT_FOUND: Final = "No such contact"
ADD_NOT_FOUND: Final = "Contact does not exist"

#: fetchContact's documented errors, code -> message.
FETCH_CONTACT_ERRORS: Final[dict[str, str]] = {
    "MISSING_API_KEY": MISSING_API_KEY,
    "INVALID_API_KEY": INVALID_API_KEY,
    "MISSING_DEVELOPER_SECRET": MISSING_DEVELOPER_SECRET,
    "INVALID_DEVELOPER_SECRET": INVALID_DEVELOPER_SECRET,
    "IP_NOT_WHITELISTED": IP_NOT_WHITELISTED,
    "USER_INACTIVE": USER_INACTIVE,
    "MISSING_CONTACT_ID": MISSING_CONTACT_ID,
    "MISSING_ORG_ID": MISSING_ORG_ID,
    "MISSING_MEMBER_ID": MISSING_MEMBER_ID,
    "NOT_FOUND": FETCH_NOT_FOUND,
}

#: addProfileToContact's documented errors, code -> message (MISSING_FIELDS as printed).
ADD_PROFILE_TO_CONTACT_ERRORS: Final[dict[str, str]] = {
    "MISSING_API_KEY": MISSING_API_KEY,
    "INVALID_API_KEY": INVALID_API_KEY,
    "IP_NOT_WHITELISTED": IP_NOT_WHITELISTED,
    "INVALID_DEVELOPER_SECRET": INVALID_DEVELOPER_SECRET,
    "MISSING_DEVELOPER_SECRET": MISSING_DEVELOPER_SECRET,
    "MISSING_FIELDS": MISSING_FIELDS_DOC,
    "INVALID_PAYLOAD": INVALID_PAYLOAD,
    "NOT_FOUND": ADD_NOT_FOUND,
    "NOT_OWNER": NOT_OWNER,
}

#: The per-field messages the sandbox sends for addProfileToContact's MISSING_FIELDS.
ADD_PROFILE_MISSING_FIELD_MESSAGES: Final[tuple[str, ...]] = (
    MISSING_ORG_ID,
    MISSING_MEMBER_ID,
    MISSING_CONTACT_ID,
    MISSING_PROFILE_PAYLOAD,
    MISSING_PROFILE_SOURCE,
)
