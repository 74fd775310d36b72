"""Custom search attributes. The review queue and run lists are visibility queries on these.

Every key must be registered on the server before a workflow upserts it: an
unknown key does not fail the workflow but leaves its task retrying silently.
The SQLite dev server allows at most 10 Keyword and 3 Text custom attributes.
"""

from temporalio.common import SearchAttributeKey

LANE = SearchAttributeKey.for_keyword("HandrailLane")
STATUS = SearchAttributeKey.for_keyword("HandrailStatus")
STATUS_REASON = SearchAttributeKey.for_keyword("HandrailStatusReason")
RISK_LEVEL = SearchAttributeKey.for_keyword("HandrailRiskLevel")
SOURCE_SYSTEM = SearchAttributeKey.for_keyword("HandrailSourceSystem")
ACCOUNT_ID = SearchAttributeKey.for_keyword("HandrailAccountId")
NEEDS_REVIEW = SearchAttributeKey.for_bool("HandrailNeedsReview")

ALL_KEYS: list[SearchAttributeKey] = [
    LANE,
    STATUS,
    STATUS_REASON,
    RISK_LEVEL,
    SOURCE_SYSTEM,
    ACCOUNT_ID,
    NEEDS_REVIEW,
]


def cli_flags() -> list[str]:
    """Return ``--search-attribute NAME=Type`` arguments for ``temporal server start-dev``."""
    type_names = {"KEYWORD": "Keyword", "BOOL": "Bool"}
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={type_names[key.indexed_value_type.name]}"]
    return flags
