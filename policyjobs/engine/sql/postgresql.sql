-- The engine's hot queries for PostgreSQL (psycopg named parameters).
-- Each `-- name:` line opens a query; the line after it says what it does. A
-- `-- fragment:` line opens a piece that queries share, written `@name` where they use it.
-- A job's lease (owner, expiry, the attempt it runs and since when) lives on its
-- `job_queue` row: claims and heartbeats write only that row, and while a worker
-- holds a job its `jobs` row says `queued`.

-- fragment: tenants
-- The tenants with a queued job, found by skipping through the fair index a tenant at a
-- time (a recursive CTE, `WITH RECURSIVE @tenants`): one index descent per tenant, however
-- many jobs each has queued. Its last row is a NULL, which its users leave out.
tenants(tenant) AS (
    (SELECT tenant FROM job_queue WHERE status = 'queued' ORDER BY tenant LIMIT 1)
    UNION ALL
    SELECT (SELECT q.tenant FROM job_queue AS q
            WHERE q.status = 'queued' AND q.tenant > t.tenant ORDER BY q.tenant LIMIT 1)
    FROM tenants AS t WHERE t.tenant IS NOT NULL
)

-- fragment: lanes
-- Every lane (`Lane`: interactive, standard, batch), as a table of one column, `lane`. A
-- queue row of a paused kind is in its lane plus 10 (`PAUSED`), where no claim looks.
(SELECT 0 AS lane UNION ALL SELECT 1 UNION ALL SELECT 2)

-- fragment: new_jobs
-- The rows of a batch of jobs for `jobs`: one JSON array, which costs the driver nothing to
-- adapt, of objects whose absent keys are nulls. Read as `json`, not `jsonb`: the array is
-- walked once, where `jsonb` would first build all of it in memory (5 % of the server's
-- CPU for a batch of no-op jobs); only each payload is built as `jsonb`.
INSERT INTO jobs (locator, tenant, kind, reference_type, reference_locator,
                  parent_locator, status, run_at, attempt, max_attempts, payload, errors,
                  dedupe_key, ordered_key, lane, created_by, created_at, updated_at)
SELECT t.locator, t.tenant, t.kind, t.reference_type, t.reference_locator,
       t.parent_locator, t.status, COALESCE(t.run_at, %(now)s), 0, t.max_attempts,
       t.payload::jsonb, '[]'::jsonb, t.dedupe_key, t.ordered_key, t.lane, t.created_by,
       %(now)s, %(now)s
FROM json_to_recordset(%(batch)s::json)
     AS t(locator text, tenant text, kind text, reference_type text,
          reference_locator text, parent_locator text, status text, run_at timestamptz,
          max_attempts int, payload json, dedupe_key text, ordered_key text, lane int,
          created_by text)

-- fragment: queue_made
-- The jobs just made (`made`: each one's id, tenant, kind, lane, status and run-at) get
-- their queue rows, in the lane the tenant's configuration sets their kind, else their
-- own. The statement's row count is the number of jobs made.
INSERT INTO job_queue (id, tenant, kind, lane, status, run_at, attempt)
SELECT m.id, m.tenant, m.kind,
       CASE WHEN EXISTS (SELECT 1 FROM engine_lanes)  -- once a statement: most stores
            THEN COALESCE((SELECT o.lane FROM engine_lanes AS o  -- set no lanes
                           WHERE o.tenant = m.tenant AND o.kind = m.kind), m.lane)
            ELSE m.lane END
       + CASE WHEN EXISTS (SELECT 1 FROM engine_pauses)  -- and pause no kinds
                   AND EXISTS (SELECT 1 FROM engine_pauses AS p
                               WHERE p.kind = m.kind AND p.tenant IN (m.tenant, '*'))
              THEN 10 ELSE 0 END,
       m.status, m.run_at, 0
FROM made AS m

-- name: insert_jobs
-- Adds a batch of jobs that have no dedupe key, each with its queue row, in one statement
-- in the caller's transaction.
WITH made AS (
    @new_jobs
    RETURNING id, tenant, kind, lane, status, run_at
)
@queue_made;

-- name: insert_deduplicated_jobs
-- `insert_jobs` for a batch in which some jobs have a dedupe key: those whose key is taken
-- are skipped. (An insert that may conflict costs PostgreSQL more per row, as each row is
-- inserted speculatively and then confirmed: a batch without keys does not pay for it.)
WITH made AS (
    @new_jobs
    ON CONFLICT (tenant, kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
    RETURNING id, tenant, kind, lane, status, run_at
)
@queue_made;

-- name: find_deduplicated
-- The jobs that hold the given dedupe keys (a JSON array of {tenant, kind, key}): each
-- one's tenant, kind, key and locator.
SELECT j.tenant, j.kind, j.dedupe_key, j.locator
FROM jsonb_to_recordset(%(keys)s::jsonb) AS t(tenant text, kind text, key text)
JOIN jobs AS j ON j.tenant = t.tenant AND j.kind = t.kind AND j.dedupe_key = t.key
WHERE j.dedupe_key IS NOT NULL;

-- name: lock_ordered_keys
-- Serializes enqueuers of the same ordered keys (a JSON array of {tenant, key}), taking
-- transaction-scoped advisory locks in one order, so batches cannot deadlock.
WITH k AS MATERIALIZED (
    SELECT DISTINCT hashtextextended(t.tenant || '/' || t.key, 0) AS h
    FROM jsonb_to_recordset(%(keys)s::jsonb) AS t(tenant text, key text)
    ORDER BY 1
)
SELECT pg_advisory_xact_lock(h) FROM k;

-- name: unfinished_ordered
-- The unfinished jobs of the given ordered keys, locked: a job ending meanwhile commits
-- first (and this sees it ended), or waits for this enqueue (and then unblocks its job).
-- In id order, as a parent's end locks its chain: a waiting parent before the blocked
-- jobs behind it. (A worker's turn that ends jobs of these keys holds their advisory
-- locks first, as this enqueue does, so the two never hold each other's rows.)
SELECT j.tenant, j.ordered_key FROM jobs AS j
JOIN jsonb_to_recordset(%(keys)s::jsonb) AS t(tenant text, key text)
  ON j.tenant = t.tenant AND j.ordered_key = t.key
WHERE j.status IN ('queued', 'blocked', 'waiting')
ORDER BY j.id
FOR UPDATE OF j;

-- name: unblock
-- Queues the oldest blocked job of each given key once no earlier job of the key is
-- unfinished.
WITH candidate AS (
    SELECT min(b.id) AS id FROM jobs AS b
    JOIN jsonb_to_recordset(%(keys)s::jsonb) AS t(tenant text, key text)
      ON b.tenant = t.tenant AND b.ordered_key = t.key
    WHERE b.status = 'blocked'
    GROUP BY b.tenant, b.ordered_key
), held AS (
    SELECT id FROM job_queue
    WHERE id = ANY(ARRAY(SELECT id FROM candidate)) AND status = 'blocked'
    ORDER BY id
    FOR UPDATE
), freed AS (
    UPDATE jobs AS j SET status = 'queued', updated_at = %(now)s
    WHERE j.id = ANY(ARRAY(SELECT id FROM held)) AND j.status = 'blocked'
      AND NOT EXISTS (SELECT 1 FROM jobs AS e
                      WHERE e.tenant = j.tenant AND e.ordered_key = j.ordered_key
                        AND e.id < j.id AND e.status IN ('queued', 'waiting'))
    RETURNING j.id, j.locator
), queued AS (
    UPDATE job_queue SET status = 'queued'
    WHERE id = ANY(ARRAY(SELECT id FROM freed))
)
SELECT locator FROM freed;

-- name: unblock_stalled
-- The same for every key, for jobs whose predecessor ended on a path that did not unblock
-- them (its worker died past its last attempt, a requeue, a crash between commits).
WITH candidate AS (
    SELECT min(b.id) AS id FROM job_queue AS q JOIN jobs AS b ON b.id = q.id
    WHERE q.status = 'blocked' AND b.status = 'blocked'
    GROUP BY b.tenant, b.ordered_key
), held AS (
    SELECT id FROM job_queue
    WHERE id = ANY(ARRAY(SELECT id FROM candidate)) AND status = 'blocked'
    ORDER BY id
    FOR UPDATE
), freed AS (
    UPDATE jobs AS j SET status = 'queued', updated_at = %(now)s
    WHERE j.id = ANY(ARRAY(SELECT id FROM held)) AND j.status = 'blocked'
      AND NOT EXISTS (SELECT 1 FROM jobs AS e
                      WHERE e.tenant = j.tenant AND e.ordered_key = j.ordered_key
                        AND e.id < j.id AND e.status IN ('queued', 'waiting'))
    RETURNING j.id, j.locator
), queued AS (
    UPDATE job_queue SET status = 'queued'
    WHERE id = ANY(ARRAY(SELECT id FROM freed))
)
SELECT locator FROM freed;

-- name: notify
-- Wakes listening workers when the enqueueing transaction commits. Only an enqueue of a
-- job due now notifies: a commit that notifies takes PostgreSQL's notify lock and holds it
-- through its WAL flush, so notifying commits run one at a time; jobs due later (or
-- blocked) are found by the workers' poll when due, as a wake-up now would find nothing.
SELECT pg_notify('policyjobs_jobs', '');

-- name: due
-- The due work, for a claim to share out (see `fairness`): for each tenant with a queued
-- job and each lane, the run-at of its oldest due job, with the tenant's cap and its jobs
-- running. The tenants are found by skipping through the fair index a tenant at a time,
-- and a lane's oldest due job is its first entry there: a few index entries per tenant,
-- however deep its backlog. Running jobs are counted only where they are compared: for a
-- capped tenant, and where several tenants have due work.
WITH RECURSIVE @tenants, heads AS MATERIALIZED (
    SELECT t.tenant, l.lane, h.run_at
    FROM tenants AS t
    CROSS JOIN @lanes AS l
    CROSS JOIN LATERAL (SELECT q.run_at FROM job_queue AS q
                        WHERE q.status = 'queued' AND q.tenant = t.tenant AND q.lane = l.lane
                          AND q.run_at <= %(now)s
                        ORDER BY q.run_at, q.id LIMIT 1) AS h
    WHERE t.tenant IS NOT NULL
), loads AS (
    SELECT d.tenant, c.max_running,
           CASE WHEN c.max_running IS NOT NULL OR d.shared
                THEN (SELECT count(*) FROM job_queue AS r
                      WHERE r.status = 'leased' AND r.tenant = d.tenant)
                ELSE 0 END AS running
    FROM (SELECT tenant, count(*) OVER () > 1 AS shared
          FROM (SELECT DISTINCT tenant FROM heads) AS u) AS d
    LEFT JOIN engine_tenants AS c ON c.tenant = d.tenant
)
SELECT h.tenant, h.lane, h.run_at, o.max_running, o.running
FROM heads AS h JOIN loads AS o ON o.tenant = h.tenant;

-- name: hold_caps
-- Locks the cap rows of the given tenants (a JSON array) that no other claim holds, and
-- returns those: a claim counts a capped tenant's running jobs only once it holds its row,
-- in a later statement, so it sees every lease made by a claim that held the row before.
SELECT tenant FROM engine_tenants
WHERE tenant = ANY(ARRAY(SELECT jsonb_array_elements_text(%(tenants)s::jsonb)))
ORDER BY tenant
FOR UPDATE SKIP LOCKED;

-- name: running
-- The jobs running of each of the given tenants (a JSON array) that runs any.
SELECT tenant, count(*) FROM job_queue
WHERE status = 'leased'
  AND tenant = ANY(ARRAY(SELECT jsonb_array_elements_text(%(tenants)s::jsonb)))
GROUP BY tenant;

-- name: lease_alone
-- Leases up to `count` due jobs of one tenant and lane, oldest first, in one statement, when
-- they are the only due work and the tenant has no cap, as a claim found a moment ago; else
-- nothing, and the claim reads the due work again. Each row leads with whether they were
-- alone, and there is one row with no job if none was leased: alone with nothing due means
-- nothing is due at all, and the claim ends there. Most claims of a store serving one tenant
-- at a time are this one round trip.
-- The other tenants are found by skipping through the fair index away from this one, down
-- and up: walking up from the first entry, as `@tenants` does, would step over every entry
-- this tenant's claims left behind (a lease or a completion leaves one, until vacuum).
WITH RECURSIVE below(tenant) AS (
    (SELECT tenant FROM job_queue WHERE status = 'queued' AND tenant < %(tenant)s
     ORDER BY tenant DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT q.tenant FROM job_queue AS q
            WHERE q.status = 'queued' AND q.tenant < b.tenant ORDER BY q.tenant DESC LIMIT 1)
    FROM below AS b WHERE b.tenant IS NOT NULL
), above(tenant) AS (
    (SELECT tenant FROM job_queue WHERE status = 'queued' AND tenant > %(tenant)s
     ORDER BY tenant LIMIT 1)
    UNION ALL
    SELECT (SELECT q.tenant FROM job_queue AS q
            WHERE q.status = 'queued' AND q.tenant > a.tenant ORDER BY q.tenant LIMIT 1)
    FROM above AS a WHERE a.tenant IS NOT NULL
), alone AS (
    SELECT NOT EXISTS (SELECT 1 FROM engine_tenants
                       WHERE tenant = %(tenant)s AND max_running IS NOT NULL)
       AND NOT EXISTS (  -- a probe per tenant and lane, its first entry in the fair index
           SELECT 1 FROM (SELECT tenant FROM below UNION ALL SELECT tenant FROM above
                          UNION ALL SELECT %(tenant)s) AS t
           CROSS JOIN @lanes AS l
           CROSS JOIN LATERAL (SELECT 1 FROM job_queue AS q
                               WHERE q.status = 'queued' AND q.tenant = t.tenant
                                 AND q.lane = l.lane AND q.run_at <= %(now)s
                               ORDER BY q.run_at, q.id LIMIT 1) AS due
           WHERE t.tenant IS NOT NULL
             AND (t.tenant <> %(tenant)s OR l.lane <> %(lane)s)) AS ok
), picked AS (
    SELECT q.id FROM job_queue AS q
    WHERE q.status = 'queued' AND q.tenant = %(tenant)s AND q.lane = %(lane)s
      AND q.run_at <= %(now)s AND (SELECT ok FROM alone)
    ORDER BY q.run_at, q.id
    LIMIT %(count)s
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE job_queue
    SET status = 'leased', owner = %(owner)s, leased_until = %(lease_until)s,
        attempt = attempt + 1, started_at = %(now)s
    WHERE id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING id, attempt, lane
)
SELECT a.ok, j.id, j.locator, j.tenant, j.kind, j.reference_type, j.reference_locator,
       j.parent_locator, l.attempt, j.max_attempts, j.payload, j.created_at, j.run_at,
       j.ordered_key, l.lane
FROM alone AS a LEFT JOIN (leased AS l JOIN jobs AS j ON j.id = l.id) ON true
ORDER BY j.run_at, j.id;

-- name: lease
-- Leases what each pick (a JSON array of {tenant, lane, count}) asks for, oldest first,
-- skipping rows another worker is leasing. Only the narrow queue rows change (the lease,
-- the attempt, its start); the jobs rows are only read, so a job's row is written once
-- more, when its attempt ends. Ids travel between the steps as one array, so each step
-- finds its rows by key.
WITH picked AS (
    SELECT c.id
    FROM jsonb_to_recordset(%(picks)s::jsonb) AS p(tenant text, lane int, count int)
    CROSS JOIN LATERAL (SELECT q.id FROM job_queue AS q
                        WHERE q.status = 'queued' AND q.tenant = p.tenant AND q.lane = p.lane
                          AND q.run_at <= %(now)s
                        ORDER BY q.run_at, q.id
                        LIMIT p.count
                        FOR UPDATE SKIP LOCKED) AS c
), leased AS (
    UPDATE job_queue
    SET status = 'leased', owner = %(owner)s, leased_until = %(lease_until)s,
        attempt = attempt + 1, started_at = %(now)s
    WHERE id = ANY(ARRAY(SELECT id FROM picked))
    RETURNING id, attempt, lane
)
SELECT j.id, j.locator, j.tenant, j.kind, j.reference_type, j.reference_locator,
       j.parent_locator, l.attempt, j.max_attempts, j.payload, j.created_at, j.run_at,
       j.ordered_key, l.lane
FROM leased AS l JOIN jobs AS j ON j.id = l.id;

-- name: complete
-- Records a batch of successful attempts whose lease this worker still holds (its queue
-- row names it, at that attempt), and takes their queue rows away; the batch is one JSON
-- array of {id, attempt, result}. A job with children waits for them; the id and locator
-- of each returned, and, if `report`, the id of each that finished (its locator NULL). Ids and locators are matched with `= ANY(ARRAY(…))` here and below, an
-- index condition whatever the planner guesses of the list.
WITH d AS MATERIALIZED (  -- json, as `new_jobs` reads its batch: walked once
    SELECT * FROM json_to_recordset(%(batch)s::json)
        AS d(id bigint, attempt int, result json)
), held AS (
    SELECT q.id, q.attempt, q.started_at FROM job_queue AS q
    WHERE q.id = ANY(ARRAY(SELECT id FROM d)) AND q.owner = %(owner)s
      AND q.status = 'leased'
    ORDER BY q.id
    FOR UPDATE
), done AS (
    UPDATE jobs AS j
    SET (status, finished_at) = (
            SELECT CASE WHEN w.waits THEN 'waiting' ELSE 'finished' END,
                   CASE WHEN w.waits THEN NULL ELSE %(now)s::timestamptz END
            FROM (SELECT EXISTS (SELECT 1 FROM jobs AS c
                                 WHERE c.parent_locator = j.locator) AS waits) AS w),
        result = d.result::jsonb, attempt = h.attempt, started_at = h.started_at,
        updated_at = %(now)s
    FROM d JOIN held AS h ON h.id = d.id AND h.attempt = d.attempt
    WHERE j.id = d.id
    RETURNING j.id, j.locator, j.status
), gone AS (
    DELETE FROM job_queue WHERE id = ANY(ARRAY(SELECT id FROM done))
)
SELECT id, CASE WHEN status = 'waiting' THEN locator END FROM done
WHERE status = 'waiting' OR %(report)s;

-- name: retry
-- Puts a failed attempt back in the queue at its backoff time.
WITH held AS (
    SELECT id, started_at FROM job_queue
    WHERE id = %(id)s AND owner = %(owner)s AND status = 'leased' AND attempt = %(attempt)s
    FOR UPDATE
), back AS (
    UPDATE jobs
    SET run_at = %(run_at)s, attempt = %(attempt)s,
        started_at = (SELECT started_at FROM held),
        errors = errors || (%(error)s::jsonb
                            || jsonb_build_object('startedAt', (SELECT started_at FROM held))),
        updated_at = %(now)s
    WHERE id IN (SELECT id FROM held)
    RETURNING id
)
UPDATE job_queue
SET status = 'queued', run_at = %(run_at)s, owner = NULL, leased_until = NULL, started_at = NULL
WHERE id IN (SELECT id FROM back);

-- name: fail
-- Ends a job whose attempt failed for good; its id, if this worker still held it.
WITH held AS (
    SELECT id, started_at FROM job_queue
    WHERE id = %(id)s AND owner = %(owner)s AND status = 'leased' AND attempt = %(attempt)s
    FOR UPDATE
), ended AS (
    UPDATE jobs
    SET status = 'failed', finished_at = %(now)s, attempt = %(attempt)s,
        started_at = (SELECT started_at FROM held),
        errors = errors || (%(error)s::jsonb
                            || jsonb_build_object('startedAt', (SELECT started_at FROM held))),
        updated_at = %(now)s
    WHERE id IN (SELECT id FROM held)
    RETURNING id
)
DELETE FROM job_queue WHERE id IN (SELECT id FROM ended)
RETURNING id;

-- name: endings
-- The jobs among the given locators (a JSON array) of the given kinds that have ended
-- (finished, failed or cancelled).
SELECT locator, tenant, kind, reference_type, reference_locator, attempt, status FROM jobs
WHERE locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
  AND kind = ANY(ARRAY(SELECT jsonb_array_elements_text(%(kinds)s::jsonb)))
  AND status IN ('finished', 'failed', 'cancelled');

-- name: lock_waiting
-- Locks parents in id order, whatever their status: a child ending waits for a parent
-- whose own completion is in flight, then sees it (READ COMMITTED re-reads locked rows).
SELECT id FROM jobs
WHERE locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
ORDER BY id
FOR UPDATE;

-- name: resolve_waiting
-- Ends the waiting parents whose children have all ended; failed if any child failed.
-- Children end about in the order they were made, so the newest are looked at first (an
-- EXISTS would drop the ORDER BY and may walk every child that already ended).
-- Returns each parent ended: its own parent, tenant, ordered key and locator.
UPDATE jobs AS p
SET status = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c
                               WHERE c.parent_locator = p.locator AND c.status = 'failed')
                  THEN 'failed' ELSE 'finished' END,
    finished_at = %(now)s, updated_at = %(now)s
WHERE p.locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
  AND p.status = 'waiting'
  AND (SELECT c.id FROM jobs AS c
       WHERE c.parent_locator = p.locator AND c.status IN ('queued', 'blocked', 'waiting')
       ORDER BY c.id DESC LIMIT 1) IS NULL
RETURNING p.parent_locator, p.tenant, p.ordered_key, p.locator;

-- name: heartbeat
-- Extends the leases of every job this worker holds; the number extended. Only queue rows
-- hold leases, so a heartbeat writes nothing else. The rows are locked in id order, as
-- the same worker's completions lock them, so the two cannot deadlock.
WITH mine AS (
    SELECT id FROM job_queue WHERE status = 'leased' AND owner = %(owner)s
    ORDER BY id
    FOR UPDATE
)
UPDATE job_queue SET leased_until = %(lease_until)s
WHERE id = ANY(ARRAY(SELECT id FROM mine));

-- name: release
-- Gives a held job back to the queue at shutdown; `undo` takes back an attempt never started.
WITH back AS (
    UPDATE job_queue
    SET status = 'queued', run_at = %(now)s, owner = NULL, leased_until = NULL,
        started_at = NULL, attempt = attempt - %(undo)s
    WHERE id = %(id)s AND owner = %(owner)s AND status = 'leased'
    RETURNING id, attempt
)
UPDATE jobs SET run_at = %(now)s, attempt = back.attempt, updated_at = %(now)s
FROM back WHERE jobs.id = back.id;

-- name: rescue
-- Re-queues (or fails, past the retry limit) jobs whose worker stopped heartbeating.
WITH expired AS (
    SELECT id, attempt, owner, started_at FROM job_queue
    WHERE status = 'leased' AND leased_until < %(wall_now)s
    ORDER BY id LIMIT 500
    FOR UPDATE SKIP LOCKED
), rescued AS (
    UPDATE jobs AS j
    SET status = CASE WHEN e.attempt >= j.max_attempts THEN 'failed' ELSE 'queued' END,
        finished_at = CASE WHEN e.attempt >= j.max_attempts THEN %(now)s END,
        attempt = e.attempt, started_at = e.started_at, run_at = %(now)s,
        updated_at = %(now)s,
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'attempt', e.attempt, 'at', %(at)s::text, 'startedAt', e.started_at,
            'worker', e.owner,
            'error', 'worker ' || e.owner || ' stopped heartbeating; its lease expired'))
    FROM expired AS e
    WHERE j.id = e.id AND j.status = 'queued'
    RETURNING j.id, j.locator, j.kind, j.status, j.parent_locator, j.tenant
), requeued AS (
    UPDATE job_queue
    SET status = 'queued', run_at = %(now)s, owner = NULL, leased_until = NULL,
        started_at = NULL
    WHERE id = ANY(ARRAY(SELECT id FROM rescued WHERE status = 'queued'))
), ended AS (
    -- Failed ones, and any queue row whose job was no longer in the queue.
    DELETE FROM job_queue
    WHERE id = ANY(ARRAY(SELECT id FROM expired))
      AND id <> ALL(ARRAY(SELECT id FROM rescued WHERE status = 'queued'))
)
SELECT locator, kind, status, parent_locator, tenant FROM rescued;

-- name: cancel
-- Cancels jobs that have not started (queued or blocked, and no worker holds them), or
-- wait only on their children.
WITH wanted AS (
    SELECT id FROM jobs
    WHERE locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
), held AS (
    SELECT id, status FROM job_queue WHERE id = ANY(ARRAY(SELECT id FROM wanted))
    ORDER BY id
    FOR UPDATE
), cancelled AS (
    UPDATE jobs
    SET status = 'cancelled', finished_at = %(now)s, updated_at = %(now)s
    WHERE id = ANY(ARRAY(SELECT id FROM wanted))
      AND (status = 'waiting'
           OR (status IN ('queued', 'blocked')
               AND id = ANY(ARRAY(SELECT id FROM held WHERE status IN ('queued', 'blocked')))))
    RETURNING id, locator, parent_locator, tenant, ordered_key
), dequeued AS (
    DELETE FROM job_queue WHERE id = ANY(ARRAY(SELECT id FROM cancelled))
)
SELECT locator, parent_locator, tenant, ordered_key FROM cancelled;

-- name: requeue
-- Runs jobs again now, taking them from whichever worker holds them; a job at its last
-- attempt (a failed one, or one a hung worker holds) gets one more. In the lane asked for,
-- else the tenant's for the kind, else the job's own. Returns the jobs requeued.
WITH wanted AS (
    SELECT id FROM jobs
    WHERE locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
), held AS (
    SELECT id, attempt FROM job_queue WHERE id = ANY(ARRAY(SELECT id FROM wanted))
    ORDER BY id
    FOR UPDATE
), requeued AS (
    UPDATE jobs AS j
    SET status = 'queued', run_at = %(now)s, finished_at = NULL, updated_at = %(now)s,
        attempt = GREATEST(j.attempt, h.attempt),
        max_attempts = GREATEST(j.max_attempts, GREATEST(j.attempt, h.attempt) + 1),
        lane = COALESCE(%(lane)s::int, j.lane)
    FROM wanted AS w LEFT JOIN held AS h ON h.id = w.id
    WHERE j.id = w.id AND j.status IN ('queued', 'waiting', 'failed')
    RETURNING j.id, j.tenant, j.kind, j.locator, j.attempt, j.lane
), queued AS (
    INSERT INTO job_queue (id, tenant, kind, lane, status, run_at, attempt)
    SELECT r.id, r.tenant, r.kind,
           COALESCE(%(lane)s::int, o.lane, r.lane, 1)
           + CASE WHEN EXISTS (SELECT 1 FROM engine_pauses AS p
                               WHERE p.kind = r.kind AND p.tenant IN (r.tenant, '*'))
                  THEN 10 ELSE 0 END,
           'queued', %(now)s, r.attempt
    FROM requeued AS r LEFT JOIN engine_lanes AS o ON o.tenant = r.tenant AND o.kind = r.kind
    ON CONFLICT (id) DO UPDATE
    SET status = 'queued', run_at = EXCLUDED.run_at, owner = NULL, leased_until = NULL,
        started_at = NULL, attempt = EXCLUDED.attempt, lane = EXCLUDED.lane
)
SELECT locator FROM requeued;

-- name: reopen_parents
-- The failed parents of the given jobs (a JSON array of locators) that failed for a child,
-- not on an attempt of their own (no error of their last attempt), wait again: the jobs are
-- being run again, and their parents end anew as they end. Locked in id order, as every
-- path that ends parents locks them. Returns each parent reopened.
WITH parents AS (
    SELECT p.id FROM jobs AS p
    WHERE p.locator = ANY(ARRAY(
            SELECT c.parent_locator FROM jobs AS c
            WHERE c.locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
              AND c.parent_locator IS NOT NULL))
      AND p.status = 'failed'
    ORDER BY p.id
    FOR UPDATE
)
UPDATE jobs AS p
SET status = 'waiting', finished_at = NULL, updated_at = %(now)s
FROM parents
WHERE p.id = parents.id AND p.status = 'failed'
  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p.errors) AS e
                  WHERE (e->>'attempt')::int = p.attempt)
RETURNING p.locator;

-- name: waiting
-- Up to 1000 waiting jobs past the id `after`, in id order, from their marks (a partial
-- index holds only theirs): the sweep that ends parents no worker ended.
SELECT id, locator FROM job_marks
WHERE status = 'waiting' AND id > %(after)s
ORDER BY id LIMIT 1000;

-- name: prune
-- Deletes up to 1000 jobs that ended before `before`, walking the oldest jobs (a job ends
-- after it is made, so every such job was made before `before`), and their marks.
WITH gone AS (
    DELETE FROM jobs
    WHERE id = ANY(ARRAY(
        SELECT id FROM jobs
        WHERE created_at < %(before)s AND finished_at < %(before)s
          AND status IN ('finished', 'failed', 'cancelled')
        ORDER BY created_at LIMIT 1000))
    RETURNING id
), unmarked AS (
    DELETE FROM job_marks WHERE id = ANY(ARRAY(SELECT id FROM gone))
)
SELECT count(*) FROM gone;

-- name: mark
-- Brings the marks of the given jobs (a JSON array of locators) in step with their status:
-- a job waiting, failed or cancelled has one, any other has none.
WITH these AS (
    SELECT id, tenant, locator, status FROM jobs
    WHERE locator = ANY(ARRAY(SELECT jsonb_array_elements_text(%(locators)s::jsonb)))
), unmarked AS (
    DELETE FROM job_marks
    WHERE id = ANY(ARRAY(SELECT id FROM these
                         WHERE status NOT IN ('waiting', 'failed', 'cancelled')))
)
INSERT INTO job_marks (id, tenant, locator, status)
SELECT id, tenant, locator, status FROM these
WHERE status IN ('waiting', 'failed', 'cancelled')
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status
WHERE job_marks.status <> EXCLUDED.status;

-- name: lead
-- Takes or keeps the named leadership; returns a row only to the leader.
INSERT INTO engine_leaders (name, owner, expires_at)
VALUES (%(name)s, %(owner)s, %(until)s)
ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
WHERE engine_leaders.owner = EXCLUDED.owner OR engine_leaders.expires_at < %(wall_now)s
RETURNING owner;

-- name: resign
-- Gives up the named leadership.
DELETE FROM engine_leaders WHERE name = %(name)s AND owner = %(owner)s;

-- name: queue_depth
-- The due, queued jobs by kind, counted among the first 10,000 found a tenant and lane at a
-- time (each group's oldest first): how many, and the oldest run-at. The tenants are found
-- by skipping through the fair index, as a claim finds them.
WITH RECURSIVE @tenants, due AS (
    SELECT d.kind, d.run_at
    FROM tenants AS t CROSS JOIN @lanes AS l
    CROSS JOIN LATERAL (SELECT q.kind, q.run_at FROM job_queue AS q
                        WHERE q.status = 'queued' AND q.tenant = t.tenant AND q.lane = l.lane
                          AND q.run_at <= %(now)s
                        ORDER BY q.run_at, q.id LIMIT 10000) AS d
    WHERE t.tenant IS NOT NULL
    LIMIT 10000
)
SELECT kind, count(*), min(run_at) FROM due GROUP BY kind;

-- name: busy
-- Whether a job is executing or due by the clock, a schedule is due to make one, or a
-- waiting parent's children have all ended (a worker ends it just after, see
-- `resolve_waiting`): a due job is looked for a tenant and lane at a time, as a claim looks
-- for one, and a parent's newest unfinished child first, as `resolve_waiting` looks
-- (ordered as `jobs_parent` is, so that the ids' own index, which would walk every job
-- made since, cannot serve it).
WITH RECURSIVE @tenants
SELECT EXISTS (SELECT 1 FROM job_queue WHERE status = 'leased')
    OR EXISTS (SELECT 1 FROM tenants AS t CROSS JOIN @lanes AS l
               CROSS JOIN LATERAL (SELECT 1 FROM job_queue AS q
                                   WHERE q.status = 'queued' AND q.tenant = t.tenant
                                     AND q.lane = l.lane AND q.run_at <= %(now)s
                                   ORDER BY q.run_at, q.id LIMIT 1) AS due
               WHERE t.tenant IS NOT NULL)
    OR EXISTS (SELECT 1 FROM engine_schedules WHERE next_at <= %(now)s)
    OR EXISTS (SELECT 1 FROM job_marks AS m
               WHERE m.status = 'waiting'
                 AND (SELECT c.id FROM jobs AS c
                      WHERE c.parent_locator = m.locator
                        AND c.status IN ('queued', 'blocked', 'waiting')
                      ORDER BY c.parent_locator DESC, c.id DESC LIMIT 1) IS NULL);
