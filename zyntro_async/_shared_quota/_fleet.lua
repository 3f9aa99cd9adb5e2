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
-- granted wait rate episode not_before_in w_max cut_age limit live
-- granted tokens start ``wait`` s from now (< 0: idle credit, due at once), spaced
-- 1/rate; granted = 0 with wait > 0: ask again then. rate = 0: nothing limits the fleet (no cut yet, no ceiling).
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

local t = redis.call('TIME')
local now = (tonumber(t[1]) - EPOCH) + tonumber(t[2]) / 1000000

local proc = ARGV[1]
local a = {}
for word in string.gmatch(ARGV[2], '%S+') do a[#a + 1] = tonumber(word) end
local want, used, accepted, ceiling = a[1], a[2], a[3], a[4]
local burst, horizon, ttl = a[5], a[6], a[7]
local refused_in, retry_after, new_limit = a[8], a[9], a[10]

local f = redis.call('HMGET', KEYS[1], 'tat', 'w_max', 'cut_at', 'episode', 'not_before',
    'limit', 'est_at', 'sent_rate', 'ok_rate', 'since')
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

-- Live processes: a heartbeat per call, forgotten after the TTL.
redis.call('ZADD', KEYS[2], now, proc)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local live = redis.call('ZCARD', KEYS[2])
redis.call('EXPIRE', KEYS[2], math.ceil(ttl) + 1)

-- The fleet's send and accept rates: exponentially decayed counts (time constant TAU),
-- bias-corrected for a fleet that started (or woke from idling) less than a few TAU ago.
if now - est_at > 5 * TAU then since = now end
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
    if w_max > 0 then
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

-- A refusal of a request sent in the current episode cuts the fleet's rate, once: the
-- episode counter is the compare-and-set.
if refused_in >= 0 and refused_in == episode then
    local sent = sent_rate / warm
    local ok = ok_rate / warm
    local base, beta = 0, FALLBACK_BETA
    -- A fleet's first fraction of a second measures its opening burst, not the quota:
    -- its accepted answers are still on their way. Until then a header's limit is the
    -- better evidence, and the send rate the last resort.
    local settled = now - since >= MIN_AGE
    if settled and ok * TAU >= MIN_SAMPLES and ok < sent then
        base, beta = ok, BETA
    elseif limit > 0 then
        base, beta = limit, BETA
    else
        base = sent
    end
    local before = current_rate()
    if before > 0 and (base <= 0 or before < base) then base = before end
    local sporadic = sent * TAU >= MIN_SAMPLES and ok >= (1 - SPORADIC) * sent
    if base > 0 and not sporadic then
        local old = before > 0 and before or base
        w_max = math.max(MIN_RATE, base)
        -- CUBIC restarts at beta * w_max: the curve's origin is set so that it is there now.
        local c = scale(w_max)
        cut_at = now + ((w_max * (1 - beta) / c) ^ (1 / 3)) - ((w_max * (1 - BETA) / c) ^ (1 / 3))
        episode = episode + 1
        local after = current_rate()
        -- Bookings ahead were made at the old rate: stretch them to the new one.
        if tat > now and after > 0 then
            tat = now + (tat - now) * old / after
        end
    end
end

if retry_after > 0 then
    not_before = math.max(not_before, now + retry_after)
end

local rate = current_rate()
local granted, wait = 0, 0
if want > 0 then
    local start = math.max(tat, now - burst, not_before)
    if rate > 0 then
        local ahead = math.max(horizon, 1 / rate)
        if start - now > ahead then
            wait = start - now - ahead
        else
            granted = want
            tat = start + want / rate
            wait = start - now -- < 0: the first tokens are the fleet's idle credit
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
    'ok_rate', string.format('%.6f', ok_rate), 'since', string.format('%.6f', since))
redis.call('EXPIRE', KEYS[1], KEEP)

return string.format('%d %.6f %.6f %d %.6f %.6f %.6f %.6f %d', granted, wait, rate,
    episode, math.max(0, not_before - now), w_max, now - cut_at, limit, live)
