-- The engine's hot queries for SQLite (named parameters; lists travel as JSON arrays).
-- Each `-- name:` line opens a query; the line after it says what it does. A
-- `-- fragment:` line opens a piece that queries share, written `@name` where they use it.
-- A query may be several statements, run in order with the same parameters; the last
-- one's rows are the query's. One writer at a time (BEGIN IMMEDIATE): no statement needs a lock order.
-- A job's lease (owner, expiry, the attempt it runs and since when) lives on its
-- `job_queue` row: claims and heartbeats write only that row, and while a worker
-- holds a job its `jobs` row says `queued`.

-- fragment: tenants
-- The tenants with a queued job, found by skipping through the fair index a tenant at a
-- time (a recursive CTE, `WITH RECURSIVE @tenants`): one index descent per tenant, however
-- many jobs each has queued. Its last row is a NULL, which its users leave out.
tenants(tenant) AS (
    SELECT (SELECT tenant FROM job_queue WHERE status = 'queued' ORDER BY tenant LIMIT 1)
    UNION ALL
    SELECT (SELECT q.tenant FROM job_queue AS q
            WHERE q.status = 'queued' AND q.tenant > t.tenant ORDER BY q.tenant LIMIT 1)
    FROM tenants AS t WHERE t.tenant IS NOT NULL
)

-- fragment: lanes
-- Every lane (`Lane`: interactive, standard, batch), as a table of one column, `lane`. A
-- queue row of a paused kind is in its lane plus 10 (`PAUSED`), where no claim looks.
(SELECT 0 AS lane UNION ALL SELECT 1 UNION ALL SELECT 2)

-- fragment: paused
-- What a job's queue row adds to its lane while its kind is paused, for its tenant or for
-- all (`engine_pauses`, tenant '*'): 10, which puts it out of every claim's sight. Whether
-- anything is paused is asked once a statement (SQLite keeps an uncorrelated subquery's
-- answer), so a store that pauses nothing looks up no job's kind.
(CASE WHEN NOT EXISTS (SELECT 1 FROM engine_pauses) THEN 0
      WHEN EXISTS (SELECT 1 FROM engine_pauses AS p
                   WHERE p.kind = j.kind AND p.tenant IN (j.tenant, '*'))
      THEN 10 ELSE 0 END)

-- name: insert_job
-- Adds one job; executed for a whole batch in the caller's transaction.
INSERT INTO jobs (locator, tenant, kind, reference_type, reference_locator, parent_locator,
                  status, run_at, attempt, max_attempts, payload, errors, dedupe_key,
                  ordered_key, lane, created_by, created_at, updated_at)
VALUES (:locator, :tenant, :kind, :reference_type, :reference_locator, :parent_locator,
        :status, :run_at, 0, :max_attempts, :payload, '[]', :dedupe_key,
        :ordered_key, :lane, :created_by, :now, :now)
ON CONFLICT (tenant, kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING;

-- name: queue_new
-- The queue rows of jobs just inserted (those a dedupe key skipped do not exist), in the
-- lane the tenant's configuration sets their kind, else their own.
INSERT INTO job_queue (id, tenant, kind, lane, status, run_at, attempt)
SELECT j.id, j.tenant, j.kind, COALESCE(o.lane, j.lane) + @paused, j.status, j.run_at, 0
FROM jobs AS j LEFT JOIN engine_lanes AS o ON o.tenant = j.tenant AND o.kind = j.kind
WHERE j.locator IN (SELECT value FROM json_each(:locators));

-- name: find_deduplicated
-- The jobs that hold the given dedupe keys (a JSON array of {tenant, kind, key}): each
-- one's tenant, kind, key and locator.
SELECT j.tenant, j.kind, j.dedupe_key, j.locator
FROM json_each(:keys) AS t
JOIN jobs AS j ON j.tenant = json_extract(t.value, '$.tenant')
              AND j.kind = json_extract(t.value, '$.kind')
              AND j.dedupe_key = json_extract(t.value, '$.key')
WHERE j.dedupe_key IS NOT NULL;

-- name: unfinished_ordered
-- The keys among the given ordered keys that have an unfinished job (one writer at a time:
-- nothing to lock).
SELECT DISTINCT j.tenant, j.ordered_key FROM jobs AS j
JOIN json_each(:keys) AS t
  ON j.tenant = json_extract(t.value, '$.tenant') AND j.ordered_key = json_extract(t.value, '$.key')
WHERE j.status IN ('queued', 'blocked', 'waiting');

-- name: unblock
-- Queues the oldest blocked job of each given key once no earlier job of the key is
-- unfinished: its queue row, then (choosing the same jobs) the job.
UPDATE job_queue SET status = 'queued'
WHERE status = 'blocked'
  AND id IN (SELECT j.id FROM jobs AS j
             WHERE j.status = 'blocked'
               AND j.id IN (SELECT min(b.id) FROM jobs AS b
                            JOIN json_each(:keys) AS t
                              ON b.tenant = json_extract(t.value, '$.tenant')
                             AND b.ordered_key = json_extract(t.value, '$.key')
                            WHERE b.status = 'blocked'
                            GROUP BY b.tenant, b.ordered_key)
               AND NOT EXISTS (SELECT 1 FROM jobs AS e
                               WHERE e.tenant = j.tenant AND e.ordered_key = j.ordered_key
                                 AND e.id < j.id AND e.status IN ('queued', 'waiting')));
UPDATE jobs SET status = 'queued', updated_at = :now
WHERE status = 'blocked'
  AND id IN (SELECT min(b.id) FROM jobs AS b
             JOIN json_each(:keys) AS t
               ON b.tenant = json_extract(t.value, '$.tenant')
              AND b.ordered_key = json_extract(t.value, '$.key')
             WHERE b.status = 'blocked'
             GROUP BY b.tenant, b.ordered_key)
  AND NOT EXISTS (SELECT 1 FROM jobs AS e
                  WHERE e.tenant = jobs.tenant AND e.ordered_key = jobs.ordered_key
                    AND e.id < jobs.id AND e.status IN ('queued', 'waiting'))
RETURNING locator;

-- name: unblock_stalled
-- The same for every key, for jobs whose predecessor ended on a path that did not unblock
-- them (its worker died past its last attempt, a requeue, a crash between commits).
UPDATE jobs SET status = 'queued', updated_at = :now
WHERE status = 'blocked'
  AND id IN (SELECT min(b.id) FROM job_queue AS q JOIN jobs AS b ON b.id = q.id
             WHERE q.status = 'blocked' AND b.status = 'blocked'
             GROUP BY b.tenant, b.ordered_key)
  AND NOT EXISTS (SELECT 1 FROM jobs AS e
                  WHERE e.tenant = jobs.tenant AND e.ordered_key = jobs.ordered_key
                    AND e.id < jobs.id AND e.status IN ('queued', 'waiting'))
RETURNING locator;

-- name: unblocked
-- The queue rows of the jobs `unblock_stalled` just queued.
UPDATE job_queue SET status = 'queued'
WHERE status = 'blocked'
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_queue.id AND jobs.status = 'queued');

-- name: due
-- The due work, for a claim to share out (see `fairness`): for each tenant with a queued
-- job and each lane, the run-at of its oldest due job, with the tenant's cap and its jobs
-- running. The tenants are found by skipping through the fair index a tenant at a time,
-- and a lane's oldest due job is its first entry there: a few index entries per tenant,
-- however deep its backlog. Running jobs are counted only where they are compared: for a
-- capped tenant, and where several tenants have due work.
WITH RECURSIVE @tenants, heads AS MATERIALIZED (
    SELECT t.tenant, l.lane,
           (SELECT q.run_at FROM job_queue AS q
            WHERE q.status = 'queued' AND q.tenant = t.tenant AND q.lane = l.lane
              AND q.run_at <= :now
            ORDER BY q.run_at, q.id LIMIT 1) AS run_at
    FROM tenants AS t
    CROSS JOIN @lanes AS l
    WHERE t.tenant IS NOT NULL
), loads AS (
    SELECT d.tenant, c.max_running,
           CASE WHEN c.max_running IS NOT NULL OR d.shared
                THEN (SELECT count(*) FROM job_queue AS r
                      WHERE r.status = 'leased' AND r.tenant = d.tenant)
                ELSE 0 END AS running
    FROM (SELECT tenant, count(*) OVER () > 1 AS shared
          FROM (SELECT DISTINCT tenant FROM heads WHERE run_at IS NOT NULL) AS u) AS d
    LEFT JOIN engine_tenants AS c ON c.tenant = d.tenant
)
SELECT h.tenant, h.lane, h.run_at, o.max_running, o.running
FROM heads AS h JOIN loads AS o ON o.tenant = h.tenant
WHERE h.run_at IS NOT NULL;

-- name: lease_alone
-- Leases up to `count` due jobs of one tenant and lane when they are the only due work and
-- the tenant has no cap, as a claim found a moment ago; else nothing, and the claim reads
-- the due work again. Their ids, attempts and lane; `claimed` reads the jobs.
WITH RECURSIVE @tenants
UPDATE job_queue
SET status = 'leased', owner = :owner, leased_until = :lease_until, attempt = attempt + 1,
    started_at = :now
WHERE id IN (SELECT id FROM job_queue
             WHERE status = 'queued' AND tenant = :tenant AND lane = :lane
               AND run_at <= :now
             ORDER BY run_at, id
             LIMIT :count)
  AND NOT EXISTS (SELECT 1 FROM engine_tenants
                  WHERE tenant = :tenant AND max_running IS NOT NULL)
  AND NOT EXISTS (
      SELECT 1 FROM tenants AS t
      CROSS JOIN @lanes AS l
      WHERE t.tenant IS NOT NULL AND (t.tenant <> :tenant OR l.lane <> :lane)
        AND EXISTS (SELECT 1 FROM job_queue AS q
                    WHERE q.status = 'queued' AND q.tenant = t.tenant AND q.lane = l.lane
                      AND q.run_at <= :now))
RETURNING id, attempt, lane;

-- name: lease
-- Leases up to `count` due jobs of one tenant and lane, oldest first: only their queue rows
-- change (the lease, the attempt, its start). Their ids and attempts; `claimed` reads the
-- jobs.
UPDATE job_queue
SET status = 'leased', owner = :owner, leased_until = :lease_until, attempt = attempt + 1,
    started_at = :now
WHERE id IN (SELECT id FROM job_queue
             WHERE status = 'queued' AND tenant = :tenant AND lane = :lane
               AND run_at <= :now
             ORDER BY run_at, id
             LIMIT :count)
RETURNING id, attempt, lane;

-- name: claimed
-- The jobs just leased (a JSON array of ids), oldest first.
SELECT id, locator, tenant, kind, reference_type, reference_locator, parent_locator,
       max_attempts, payload, created_at, run_at, ordered_key
FROM jobs WHERE id IN (SELECT value FROM json_each(:ids))
ORDER BY run_at, id;

-- name: endings
-- The jobs among the given locators (a JSON array) of the given kinds that have ended
-- (finished, failed or cancelled).
SELECT locator, tenant, kind, reference_type, reference_locator, attempt, status FROM jobs
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND kind IN (SELECT value FROM json_each(:kinds))
  AND status IN ('finished', 'failed', 'cancelled');

-- name: complete
-- Records a batch of successful attempts whose lease this worker still holds (its queue
-- row names it, at that attempt); the batch is one JSON array of {id, attempt, result}.
-- A job with children waits for them. The ids recorded, with the locators of those
-- waiting; `dequeue` then takes their queue rows away.
UPDATE jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c WHERE c.parent_locator = jobs.locator)
                  THEN 'waiting' ELSE 'finished' END,
    finished_at = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c
                                    WHERE c.parent_locator = jobs.locator)
                       THEN NULL ELSE :now END,
    result = d.result, attempt = d.attempt, started_at = d.started_at, updated_at = :now
FROM (SELECT q.id AS id, q.attempt AS attempt, q.started_at AS started_at,
             b.value -> '$.result' AS result
      FROM json_each(:batch) AS b JOIN job_queue AS q ON q.id = b.value ->> '$.id'
      WHERE q.owner = :owner AND q.status = 'leased'
        AND q.attempt = b.value ->> '$.attempt') AS d
WHERE jobs.id = d.id
RETURNING id, CASE WHEN status = 'waiting' THEN locator END;

-- name: dequeue
-- Takes the queue rows of the given jobs (a JSON array of ids) away: their attempts ended.
DELETE FROM job_queue WHERE id IN (SELECT value FROM json_each(:ids));

-- name: retry
-- Puts a failed attempt back in the queue at its backoff time: the job, then its queue row.
UPDATE jobs
SET run_at = :run_at, attempt = :attempt,
    started_at = (SELECT started_at FROM job_queue WHERE id = :id),
    errors = json_insert(errors, '$[#]', json_set(
        json(:error), '$.startedAt', (SELECT started_at FROM job_queue WHERE id = :id))),
    updated_at = :now
WHERE id = :id
  AND EXISTS (SELECT 1 FROM job_queue WHERE id = :id AND owner = :owner
                     AND status = 'leased' AND attempt = :attempt);
UPDATE job_queue
SET status = 'queued', run_at = :run_at, owner = NULL, leased_until = NULL, started_at = NULL
WHERE id = :id AND owner = :owner AND status = 'leased' AND attempt = :attempt;

-- name: fail
-- Ends a job whose attempt failed for good: the job, then its queue row; its id, if this
-- worker still held it.
UPDATE jobs
SET status = 'failed', finished_at = :now, attempt = :attempt,
    started_at = (SELECT started_at FROM job_queue WHERE id = :id),
    errors = json_insert(errors, '$[#]', json_set(
        json(:error), '$.startedAt', (SELECT started_at FROM job_queue WHERE id = :id))),
    updated_at = :now
WHERE id = :id
  AND EXISTS (SELECT 1 FROM job_queue WHERE id = :id AND owner = :owner
                     AND status = 'leased' AND attempt = :attempt);
DELETE FROM job_queue
WHERE id = :id AND owner = :owner AND status = 'leased' AND attempt = :attempt
RETURNING id;

-- name: resolve_waiting
-- Ends the waiting parents whose children have all ended; failed if any child failed.
-- Children end about in the order they were made, so the newest are looked at first (an
-- EXISTS would drop the ORDER BY and may walk every child that already ended).
-- Returns each parent ended: its own parent, tenant, ordered key and locator.
UPDATE jobs AS p
SET status = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c
                               WHERE c.parent_locator = p.locator AND c.status = 'failed')
                  THEN 'failed' ELSE 'finished' END,
    finished_at = :now, updated_at = :now
WHERE p.locator IN (SELECT value FROM json_each(:locators)) AND p.status = 'waiting'
  AND (SELECT c.id FROM jobs AS c
       WHERE c.parent_locator = p.locator AND c.status IN ('queued', 'blocked', 'waiting')
       ORDER BY c.id DESC LIMIT 1) IS NULL
RETURNING parent_locator, tenant, ordered_key, locator;

-- name: heartbeat
-- Extends the leases of every job this worker holds; the number extended. Only queue rows
-- hold leases, so a heartbeat writes nothing else.
UPDATE job_queue SET leased_until = :lease_until WHERE status = 'leased' AND owner = :owner;

-- name: release
-- Gives a held job back to the queue at shutdown; `undo` takes back an attempt never started.
UPDATE jobs
SET run_at = :now, updated_at = :now,
    attempt = (SELECT attempt - :undo FROM job_queue WHERE id = :id)
WHERE id = :id
  AND EXISTS (SELECT 1 FROM job_queue WHERE id = :id AND owner = :owner AND status = 'leased');
UPDATE job_queue
SET status = 'queued', run_at = :now, owner = NULL, leased_until = NULL, started_at = NULL,
    attempt = attempt - :undo
WHERE id = :id AND owner = :owner AND status = 'leased';

-- name: expired
-- The queue rows whose worker stopped heartbeating, 500 at most: `rescue` takes them back.
SELECT json_group_array(id) FROM (
    SELECT id FROM job_queue WHERE status = 'leased' AND leased_until < :wall_now
    ORDER BY id LIMIT 500);

-- name: rescue
-- Re-queues (or fails, past the retry limit) the jobs of the expired queue rows (a JSON
-- array of ids); `rescued` then brings the queue rows along.
UPDATE jobs
SET status = CASE WHEN e.attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
    finished_at = CASE WHEN e.attempt >= max_attempts THEN :now END,
    attempt = e.attempt, started_at = e.started_at, run_at = :now, updated_at = :now,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', e.attempt, 'at', :at, 'startedAt', e.started_at, 'worker', e.owner,
        'error', 'worker ' || e.owner || ' stopped heartbeating; its lease expired'))
FROM (SELECT id, attempt, owner, started_at FROM job_queue
      WHERE id IN (SELECT value FROM json_each(:ids))) AS e
WHERE jobs.id = e.id AND jobs.status = 'queued'
RETURNING locator, kind, status, parent_locator, tenant;

-- name: rescued
-- The expired queue rows follow their jobs: queued again, or gone with a job that ended.
UPDATE job_queue
SET status = 'queued', run_at = :now, owner = NULL, leased_until = NULL, started_at = NULL
WHERE id IN (SELECT value FROM json_each(:ids))
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_queue.id AND jobs.status = 'queued');
DELETE FROM job_queue
WHERE id IN (SELECT value FROM json_each(:ids))
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_queue.id AND jobs.status = 'queued');

-- name: cancel
-- Cancels jobs that have not started (queued or blocked, and no worker holds them), or
-- wait only on their children: their queue rows, then the jobs left without one.
DELETE FROM job_queue
WHERE status IN ('queued', 'blocked')
  AND id IN (SELECT id FROM jobs WHERE locator IN (SELECT value FROM json_each(:locators)));
UPDATE jobs
SET status = 'cancelled', finished_at = :now, updated_at = :now
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND (status = 'waiting'
       OR (status IN ('queued', 'blocked')
           AND NOT EXISTS (SELECT 1 FROM job_queue WHERE job_queue.id = jobs.id)))
RETURNING locator, parent_locator, tenant, ordered_key;

-- name: requeue
-- Runs jobs again now, taking them from whichever worker holds them (the queue row first,
-- keeping the attempt a hung worker started); a job at its last attempt gets one more. In
-- the lane asked for, else the tenant's for the kind, else the job's own. Returns the jobs
-- requeued.
INSERT INTO job_queue (id, tenant, kind, lane, status, run_at, attempt)
SELECT j.id, j.tenant, j.kind, COALESCE(:lane, o.lane, j.lane, 1) + @paused, 'queued', :now,
       j.attempt
FROM jobs AS j LEFT JOIN engine_lanes AS o ON o.tenant = j.tenant AND o.kind = j.kind
WHERE j.locator IN (SELECT value FROM json_each(:locators))
  AND j.status IN ('queued', 'waiting', 'failed')
ON CONFLICT (id) DO UPDATE
SET status = 'queued', run_at = excluded.run_at, owner = NULL, leased_until = NULL,
    started_at = NULL, lane = excluded.lane;
UPDATE jobs
SET status = 'queued', run_at = :now, finished_at = NULL, updated_at = :now,
    lane = COALESCE(:lane, lane),
    attempt = (SELECT attempt FROM job_queue WHERE job_queue.id = jobs.id),
    max_attempts = max(max_attempts,
                       (SELECT attempt FROM job_queue WHERE job_queue.id = jobs.id) + 1)
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND status IN ('queued', 'waiting', 'failed')
RETURNING locator;

-- name: reopen_parents
-- The failed parents of the given jobs (a JSON array of locators) that failed for a child,
-- not on an attempt of their own (no error of their last attempt), wait again: the jobs are
-- being run again, and their parents end anew as they end. Returns each parent reopened.
UPDATE jobs
SET status = 'waiting', finished_at = NULL, updated_at = :now
WHERE locator IN (SELECT c.parent_locator FROM jobs AS c
                  WHERE c.locator IN (SELECT value FROM json_each(:locators))
                    AND c.parent_locator IS NOT NULL)
  AND status = 'failed'
  AND NOT EXISTS (SELECT 1 FROM json_each(jobs.errors) AS e
                  WHERE json_extract(e.value, '$.attempt') = jobs.attempt)
RETURNING locator;

-- name: waiting
-- Up to 1000 waiting jobs past the id `after`, in id order, from their marks (a partial
-- index holds only theirs): the sweep that ends parents no worker ended.
SELECT id, locator FROM job_marks
WHERE status = 'waiting' AND id > :after
ORDER BY id LIMIT 1000;

-- name: prune
-- Deletes up to 1000 jobs that ended before `before`, walking the oldest jobs (a job ends
-- after it is made, so every such job was made before `before`); `unmark` then takes the
-- marks of those it returns.
DELETE FROM jobs
WHERE id IN (SELECT id FROM jobs
             WHERE created_at < :before AND finished_at < :before
               AND status IN ('finished', 'failed', 'cancelled')
             ORDER BY created_at LIMIT 1000)
RETURNING id;

-- name: unmark
-- Takes the marks of the given jobs (a JSON array of ids) away.
DELETE FROM job_marks WHERE id IN (SELECT value FROM json_each(:ids));

-- name: mark
-- Brings the marks of the given jobs (a JSON array of locators) in step with their status:
-- a job waiting, failed or cancelled has one, any other has none.
DELETE FROM job_marks
WHERE id IN (SELECT id FROM jobs
             WHERE locator IN (SELECT value FROM json_each(:locators))
               AND status NOT IN ('waiting', 'failed', 'cancelled'));
INSERT INTO job_marks (id, tenant, locator, status)
SELECT id, tenant, locator, status FROM jobs
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND status IN ('waiting', 'failed', 'cancelled')
ON CONFLICT (id) DO UPDATE SET status = excluded.status
WHERE job_marks.status <> excluded.status;

-- name: lead
-- Takes or keeps the named leadership; returns a row only to the leader.
INSERT INTO engine_leaders (name, owner, expires_at)
VALUES (:name, :owner, :until)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE engine_leaders.owner = excluded.owner OR engine_leaders.expires_at < :wall_now
RETURNING owner;

-- name: resign
-- Gives up the named leadership.
DELETE FROM engine_leaders WHERE name = :name AND owner = :owner;

-- name: queue_depth
-- The due, queued jobs by kind, counted among the first 10,000 found a tenant and lane at a
-- time (each group's oldest first): how many, and the oldest run-at. The tenants are found
-- by skipping through the fair index, as a claim finds them.
WITH RECURSIVE @tenants, due AS (
    SELECT d.kind, d.run_at
    FROM tenants AS t CROSS JOIN @lanes AS l
    JOIN job_queue AS d ON d.id IN (SELECT q.id FROM job_queue AS q
                                    WHERE q.status = 'queued' AND q.tenant = t.tenant AND q.lane = l.lane
                                      AND q.run_at <= :now
                                    ORDER BY q.run_at, q.id LIMIT 10000)
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
               WHERE t.tenant IS NOT NULL
                 AND EXISTS (SELECT 1 FROM job_queue AS q
                             WHERE q.status = 'queued' AND q.tenant = t.tenant AND q.lane = l.lane
                               AND q.run_at <= :now))
    OR EXISTS (SELECT 1 FROM engine_schedules WHERE next_at <= :now)
    OR EXISTS (SELECT 1 FROM job_marks AS m
               WHERE m.status = 'waiting'
                 AND (SELECT c.id FROM jobs AS c
                      WHERE c.parent_locator = m.locator
                        AND c.status IN ('queued', 'blocked', 'waiting')
                      ORDER BY c.parent_locator DESC, c.id DESC LIMIT 1) IS NULL);
