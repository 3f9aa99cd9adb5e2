-- One call of the shared quota: flush a process's news, book a batch of tokens, read the
-- fleet's state. Atomic (one script), timed by Redis TIME only: no client clock is sent.
--
-- KEYS[1]  the namespace's state (a hash)
-- KEYS[2]  the namespace's live processes (a sorted set: member = process, score = last call)
-- ARGV[1]  process token (random, per SharedQuota)
-- ARGV[2]  the numbers below, separated by spaces (one argument: cheaper to send):
--   tokens wanted now (0: only sync)
--   requests sent since the last call
--   requests accepted since the last call
--   requests refused since the last call, of those sent in the episode below
--   the episode this process knew when it sent them (its counts are for that one)
--   the fleet's total ceiling, requests/s (0: none)
--   burst: idle credit, seconds of traffic
--   horizon: how far ahead a batch may be booked, seconds
--   heartbeat TTL, seconds
--   refusal: the episode the refused request was sent in (-1: no refusal to report)
--   refusal: its Retry-After, seconds (0: none)
--   a rate-limit header's limit, requests/s (0: none new)
--
-- Returns one string of space-separated numbers (cheaper to read than a list, and Lua
-- numbers in a list would be truncated to integers):
-- granted wait rate episode not_before_in w_max cut_age limit live doubling counted
-- granted tokens start ``wait`` s from now (< 0: idle credit, due at once), spaced
-- 1/rate; granted = 0 with wait > 0: ask again then. rate = 0: nothing limits the fleet
-- (no cut yet, no ceiling): a free pass, for ``granted`` tokens if ``counted`` (1: the
-- fleet's opening window), else for any number.
--
-- GCRA as in throttled-py's gcra.lua (a theoretical arrival time, a cost per call), but a
-- granted batch is a reservation of the next ``want / rate`` seconds of the fleet's
-- timeline rather than a yes/no, so a process spends it locally at the fleet's pace.

local EPOCH = 1735689600 -- 2025-01-01: keeps the seconds small enough for exact doubles
local MIN_RATE = 0.5     -- botocore's floor, requests/s
local C = 0.4            -- CUBIC's C (botocore), growing in proportion to w_max above
local C_FROM = 50        -- this rate: the curve's shape relative to the rate is kept, so a
                         -- fleet cut low climbs back in seconds at hundreds per second too
local BETA = 0.9         -- back off to this share of a measured accepted rate
local FALLBACK_BETA = 0.7 -- ... or of the rate sent, when nothing accepted can be measured
local TAU = 1.0          -- the send/accept rate estimates' time constant, seconds
local MIN_SAMPLES = 20   -- answers an accepted-rate estimate needs
local MIN_AGE = 0.5      -- seconds of the fleet's traffic an accepted-rate estimate needs
local SPORADIC = 0.05    -- a refusal while more than 1 - SPORADIC is accepted is no limit
local KEEP = 3600        -- seconds the state outlives the fleet's last call
local OPEN_WINDOW = 10   -- the fleet's opening: requests out before any answer
local OPEN_GROWTH = 0.25 -- how much wider each accepted answer makes it
local OPEN_FOR = 1.0     -- seconds the opening window lasts without a refusal
local OPEN_RETRY = 0.005 -- seconds until a process whose window is full asks again
local FAR_PAST = 1 / 3   -- the share refused that shows a new rate far past the limit
local MIN_START = 20     -- the least rate slow start starts from, requests/s
local REACT = 0.1        -- the least time between two cuts: the answers to what was sent
                         -- at the new rate must come in first
local DOUBLING = 0.2     -- slow start: seconds per doubling of the rate (one round)
local OPENING = 1.0      -- the opening's requests not refused, read as this many seconds
                         -- of the quota's rate (the flow control's opening verdict)

local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000

local proc = ARGV[1]
local a = {}
for word in string.gmatch(ARGV[2], '%S+') do a[#a + 1] = tonumber(word) end
local want, used, accepted, refused = a[1], a[2], a[3], a[4]
local seen = a[5]
local ceiling, burst, horizon, ttl = a[6], a[7], a[8], a[9]
local refused_in, retry_after, new_limit = a[10], a[11], a[12]

local f = redis.call('HMGET', KEYS[1], 'tat', 'w_max', 'cut_at', 'episode', 'not_before',
    'limit', 'est_at', 'sent_rate', 'ok_rate', 'since', 'doubling', 'cut_time', 'ep_sent',
    'ep_no', 'rnd_at', 'rnd_ok', 'prev_ok', 'prev_len', 'ep_ok', 'open_granted')
local tat = tonumber(f[1]) or 0
local w_max = tonumber(f[2]) or 0
local cut_at = tonumber(f[3]) or 0
local episode = tonumber(f[4]) or 0
local not_before = tonumber(f[5]) or 0
local limit = tonumber(f[6]) or 0
local est_at = tonumber(f[7]) or now
local sent_rate = tonumber(f[8]) or 0
local ok_rate = tonumber(f[9]) or 0
local since = tonumber(f[10]) or now
local doubling = tonumber(f[11]) or 0 -- 1: in slow start (w_max: the rate it started at)
local cut_time = tonumber(f[12]) or -1e9
-- Sent and refused in the current episode, as the processes that knew it report them.
local ep_sent = tonumber(f[13]) or 0
local ep_no = tonumber(f[14]) or 0
local ep_ok = tonumber(f[19]) or 0
local open_granted = tonumber(f[20]) or 0
if seen == episode then
    ep_sent, ep_no, ep_ok = ep_sent + used, ep_no + refused, ep_ok + accepted
end
local rnd_at = tonumber(f[15]) or now -- accepted in this round of DOUBLING s and the last
local rnd_ok = tonumber(f[16]) or 0
local prev_ok = tonumber(f[17]) or 0
local prev_len = tonumber(f[18]) or 0
if now - rnd_at >= 2 * DOUBLING then
    prev_ok, prev_len, rnd_ok, rnd_at = 0, 0, 0, now
elseif now - rnd_at >= DOUBLING then
    prev_ok, prev_len, rnd_ok, rnd_at = rnd_ok, now - rnd_at, 0, now
end
rnd_ok = rnd_ok + accepted

-- Live processes: a heartbeat per call, forgotten after the TTL.
redis.call('ZADD', KEYS[2], now, proc)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local live = redis.call('ZCARD', KEYS[2])
redis.call('EXPIRE', KEYS[2], math.ceil(ttl) + 1)

-- The fleet's send and accept rates: exponentially decayed counts (time constant TAU),
-- bias-corrected for a fleet that started (or woke from idling) less than a few TAU ago.
if now - est_at > 5 * TAU then
    since = now
    -- A fleet that wakes with no rate opens again: its old opening's counts (tokens
    -- never answered among them) say nothing of this one.
    if episode == 0 then open_granted, ep_sent, ep_no, ep_ok = 0, used, refused, accepted end
end
local decay = math.exp(-math.max(0, now - est_at) / TAU)
sent_rate = sent_rate * decay + used / TAU
ok_rate = ok_rate * decay + accepted / TAU
est_at = now
local warm = 1 - math.exp(-math.max(0.1, now - since) / TAU)

local function scale(w)
    return C * math.max(1, w / C_FROM)
end

local function current_rate()
    local rate = 0
    if w_max > 0 and doubling == 1 then
        rate = w_max * 2 ^ math.min(32, (now - cut_at) / DOUBLING)
    elseif w_max > 0 then
        local c = scale(w_max)
        local k = (w_max * (1 - BETA) / c) ^ (1 / 3)
        local d = now - cut_at - k
        rate = math.max(MIN_RATE, c * d * d * d + w_max)
    end
    if ceiling > 0 and (rate == 0 or ceiling < rate) then rate = ceiling end
    if limit > 0 and (rate == 0 or limit < rate) then rate = limit end
    return rate
end

if new_limit > 0 then
    limit = math.max(MIN_RATE, new_limit)
end

-- The fleet's accepted rate over its last one or two rounds: what slow start ends on.
local function recent_ok()
    local span = prev_len + now - rnd_at
    if span < DOUBLING / 2 then return 0 end
    return (prev_ok + rnd_ok) / span
end

-- A refusal of a request sent in the current episode cuts the fleet's rate, once: the
-- episode counter is the compare-and-set; and not within REACT of the last cut, whose
-- refusals of requests sent into a queue its burst still fills say nothing of the new rate.
-- And, in the episode's first TAU, only when its own requests show the new rate far
-- past a limit: more than FAR_PAST of them refused (the flow control, too, judges a
-- rate on what was sent at it). A gateway's queue that the rate before filled drains
-- slowly at a rate just under its limit, refusing now and then meanwhile. The opening's first refusal starts slow start at once: while the
-- fleet has no rate, every process's requests go unpaced.
local shown = ep_sent >= MIN_SAMPLES and ep_no > FAR_PAST * ep_sent
if now - cut_time >= TAU or doubling == 1 or (episode == 0 and w_max == 0) then
    shown = true -- an old episode (the estimates judge), slow start, or the opening
end
if refused_in >= 0 and refused_in == episode and now - cut_time >= REACT and shown then
    local sent = sent_rate / warm
    local ok = ok_rate / warm
    local base, beta = 0, FALLBACK_BETA
    local start = false
    local before = current_rate()
    -- A fleet's first fraction of a second measures its opening burst, not the quota:
    -- its accepted answers are still on their way. Until then a header's limit is the
    -- better evidence; without one the fleet starts slow: from what its opening has
    -- shown the quota admits, doubling every round until it is refused (the flow
    -- control's opening and slow start, fleet-wide).
    local settled = now - since >= MIN_AGE
    if doubling == 1 then
        -- Slow start ends between two estimates of the quota: the last rounds' accepted
        -- rate, which a gateway's burst inflates, and the fleet's decayed one, which its
        -- slower rounds before deflate. CUBIC restarts under the lower and climbs back
        -- to the higher (its w_max): past the quota, the next cut's estimate is settled.
        base, beta = math.min(recent_ok(), before), BETA
        if ok * TAU >= MIN_SAMPLES and ok < base then beta = BETA * ok / base end
        if base < MIN_RATE then base, beta = math.min(sent, before), FALLBACK_BETA end
    elseif settled and ok * TAU >= MIN_SAMPLES and ok < sent then
        base, beta = ok, BETA
    elseif limit > 0 then
        base, beta = limit, BETA
    elseif w_max == 0 and ceiling <= 0 then
        -- From the opening's requests not refused, per second (at least MIN_START: the
        -- reports in so far are few, and slow start doubles from there).
        start = true
        base = math.max(MIN_START, (ep_sent - ep_no) / OPENING)
    else
        base = sent
    end
    if not start and before > 0 and (base <= 0 or before < base) then base = before end
    local sporadic = not start and doubling == 0 and sent * TAU >= MIN_SAMPLES
        and ok >= (1 - SPORADIC) * sent
    if base > 0 and not sporadic then
        local old = before > 0 and before or base
        w_max = math.max(MIN_RATE, base)
        if start then
            doubling = 1
            cut_at = now
        else
            doubling = 0
            -- CUBIC restarts at beta * w_max: the curve's origin is set so that it is there now.
            local c = scale(w_max)
            cut_at = now + ((w_max * (1 - beta) / c) ^ (1 / 3)) - ((w_max * (1 - BETA) / c) ^ (1 / 3))
        end
        episode = episode + 1
        cut_time = now
        ep_sent, ep_no, ep_ok = 0, 0, 0
        local after = current_rate()
        -- Bookings ahead were made at the old rate: stretch them to the new one, but
        -- no further than the horizon (a slow start's rate may be far above the new).
        if tat > now and after > 0 then
            tat = math.min(now + (tat - now) * old / after, now + horizon)
        end
    end
end

if retry_after > 0 then
    not_before = math.max(not_before, now + retry_after)
end

local rate = current_rate()
local granted, wait, counted = 0, 0, 0
if want > 0 then
    local start = math.max(tat, now - burst, not_before)
    if rate > 0 then
        -- No more than a burst's worth at once: a process that asked at a free pass's
        -- demand, before it learned of the rate, would book the whole horizon.
        want = math.min(want, math.max(1, math.ceil(rate * burst)))
        -- In slow start a batch is booked one round ahead at most: the rate doubles
        -- every round, and tokens booked at an old rate lag behind it.
        local reach = doubling == 1 and math.min(horizon, DOUBLING / 4) or horizon
        local ahead = math.max(reach, 1 / rate)
        if start - now > ahead then
            wait = start - now - ahead
        else
            granted = want
            tat = start + want / rate
            wait = start - now -- < 0: the first tokens are the fleet's idle credit
        end
    elseif episode == 0 and w_max == 0 and limit <= 0 and now - since < OPEN_FOR then
        -- The fleet's opening: one slow-start window for every process together (RFC
        -- 5681's, from RFC 6928's 10, a quarter wider per answer accepted as the flow
        -- control's opening), not one each: N processes' first flights at once would
        -- meet a gateway's burst N times over.
        counted = 1
        local room = OPEN_WINDOW + OPEN_GROWTH * ep_ok - (open_granted - ep_ok - ep_no)
        if room >= 1 then
            granted = math.min(want, math.floor(room))
            open_granted = open_granted + granted
            wait = math.max(0, not_before - now)
        else
            wait = OPEN_RETRY
        end
    else
        granted = want
        wait = math.max(0, not_before - now)
    end
end

redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat), 'w_max', string.format('%.6f', w_max),
    'cut_at', string.format('%.6f', cut_at), 'episode', episode,
    'not_before', string.format('%.6f', not_before), 'limit', string.format('%.6f', limit),
    'est_at', string.format('%.6f', est_at), 'sent_rate', string.format('%.6f', sent_rate),
    'ok_rate', string.format('%.6f', ok_rate), 'since', string.format('%.6f', since),
    'doubling', doubling, 'cut_time', string.format('%.6f', cut_time),
    'ep_sent', ep_sent, 'ep_no', ep_no, 'rnd_at', string.format('%.6f', rnd_at),
    'rnd_ok', rnd_ok, 'prev_ok', prev_ok, 'prev_len', string.format('%.6f', prev_len),
    'ep_ok', ep_ok, 'open_granted', open_granted)
redis.call('EXPIRE', KEYS[1], KEEP)

return string.format('%d %.6f %.6f %d %.6f %.6f %.6f %.6f %d %d %d', granted, wait, rate,
    episode, math.max(0, not_before - now), w_max, now - cut_at, limit, live, doubling, counted)
