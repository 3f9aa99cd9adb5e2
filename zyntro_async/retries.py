"""How a failed request is classified, which decides whether it is retried.

Each failure is of one :class:`FailureKind` (not sent, refused, ambiguous or fatal): the
kind of the first :class:`Rule` in the table that matches it. :data:`DEFAULT_RULES` is
the SDK's table; a :class:`RetryPolicy` takes another one, e.g. to re-send after an
exception of your own: ``RetryPolicy(rules=(Rule(MyError, FailureKind.NOT_SENT),
*DEFAULT_RULES))``.
"""

from ._retry import DEFAULT_RULES, FailureKind, RetryPolicy, Rule

__all__ = ["RetryPolicy", "Rule", "FailureKind", "DEFAULT_RULES"]
