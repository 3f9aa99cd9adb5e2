"""A quota shared by every process that uses one API key: a GCRA on Redis.

Several processes on one key (a service's replicas, a job's workers) each learning the
key's quota alone are refused far more than one well-paced client, and cannot divide a
known ``max_per_second``. Here they pace as one:

* **One timeline, booked in batches.** A Lua script (``_fleet.lua``) keeps a GCRA's
  theoretical arrival time, as throttled-py's ``gcra.lua`` does with a cost per call, and
  reads Redis ``TIME`` for every decision, so client clocks never matter. A call books
  the next ``n / rate`` seconds of the fleet's timeline; the process spends those ``n``
  tokens itself at the fleet's pace, so at high rates it calls Redis about once per
  :data:`~._quota.BATCH_SECONDS` (``n`` follows the fleet's rate and the process's own
  demand). A booking never reaches more than :data:`~._quota.HORIZON` ahead, so no
  request waits on a rate that has since changed.
* **One adaptive rate.** The rate is botocore's CUBIC curve (``C = 0.4``, growing with
  ``w_max`` above 50/s as the flow control's does; floor 0.5/s)
  around a shared ``w_max`` and cut point; every process evaluates the same curve, so
  all get the same feedback at the same time (Chiu & Jain's condition for AIMD to share
  fairly), and the fleet probes back up once, not once per process. A refusal anywhere
  cuts it once per episode: the report carries the episode its request was sent in, and
  the script cuts only if that is still the current one (a compare-and-set). The cut
  backs off to 0.9 of the fleet's measured accepted rate, or to 0.7 of its send rate
  while too little was accepted to measure (botocore's beta); a refusal while more than
  95 % of the fleet's requests are accepted is sporadic and cuts nothing. No cut
  comes within 0.1 s of the last, and in an episode's first second only if more than a
  third of the requests sent in it were refused: a gateway's queue that the rate
  before filled (nginx's ``limit_req`` burst) drains slowly at a rate just under its
  limit and refuses now and then meanwhile, which would cut the fleet again and again.
  A ``Retry-After`` anywhere sets a shared "not before" that every booking starts
  after; a rate-limit header's limit and ``max_per_second`` (the fleet's total) cap
  the rate.
* **One opening.** With no rate known, the fleet opens as one slow-start window (10
  requests out, a quarter wider per accepted answer, as the flow control's opening),
  not one per process. Its first refusal, with no header to go by, starts a fleet-wide
  slow start from what the opening showed the quota admits: the rate doubles every
  :data:`~._local.DOUBLING` seconds until a request sent at it is refused; CUBIC then
  restarts under the lower of two estimates of the quota (the last rounds' accepted
  rate, which a gateway's burst inflates, and the fleet's decayed one, which the
  slower rounds deflate) and climbs back to the higher. A cut from so little evidence
  would otherwise hold the fleet on CUBIC's plateau far under the quota for seconds.
* **Redis away.** Every call is bounded (:data:`~._quota.CALL_TIMEOUT`). A refused or
  reset connection is proof that Redis is away; a timeout is not (an event loop held up
  by other work times out calls Redis answered), so it is tried again at once
  (:data:`~._quota.TIMEOUT_RETRIES`) first. Then the process paces itself alone at the
  fleet's last rate divided by the processes last seen live (heartbeats in a sorted
  set, forgotten after a TTL), so the fleet stays under its quota, never faster; its
  turns are handed out when due, never ahead, so that requests waiting when Redis
  answers again take the fleet's timeline instead of going on top of it. The
  first request after a back-off (at most :data:`~._fallback.RECONNECT_MAX`) starts one
  call to Redis and goes on at the local pace meanwhile: reconnecting never stalls a
  request. Back on the fleet's timeline, a process keeps its local share as a cap
  for a little longer than the longest back-off (:data:`~._fallback.REJOIN`): the
  others may still pace alone until their next attempt. If the fleet had no known
  limit, there is nothing to share out: each process's own flow control paces it, as
  without a shared quota.
* **No key in Redis.** Keys live under an HMAC-SHA256 of the API key with a fixed
  context (:func:`~._local.namespace`); the key is in no Redis key or value, log or repr.

The ``redis`` package (``redis.asyncio``) is an optional extra, imported on
:meth:`SharedQuota.connect` only.
"""

from __future__ import annotations

from ._quota import SharedQuota

__all__ = ["SharedQuota"]
