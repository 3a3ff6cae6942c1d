-- The engine's hot queries for SQLite (named parameters; lists travel as JSON arrays).
-- Each `-- name:` line opens a query; the line after it says what it does. A query may be
-- several statements, run in order with the same parameters; the last one's rows are the
-- query's. One writer at a time (BEGIN IMMEDIATE): no statement needs a lock order.

-- name: insert_job
-- Adds one job; executed for a whole batch in the caller's transaction.
INSERT INTO jobs (locator, tenant, kind, reference_type, reference_locator, parent_locator,
                  status, run_at, attempt, max_attempts, payload, errors, dedupe_key,
                  ordered_key, created_by, created_at, updated_at)
VALUES (:locator, :tenant, :kind, :reference_type, :reference_locator, :parent_locator,
        :status, :run_at, 0, :max_attempts, :payload, '[]', :dedupe_key,
        :ordered_key, :created_by, :now, :now)
ON CONFLICT (tenant, kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING;

-- name: queue_new
-- The queue rows of jobs just inserted (those a dedupe key skipped do not exist).
INSERT INTO job_queue (id, kind, status, run_at)
SELECT id, kind, status, run_at FROM jobs WHERE locator IN (SELECT value FROM json_each(:locators));

-- name: find_deduplicated
-- The locator of the job that already holds a dedupe key.
SELECT locator FROM jobs
WHERE tenant = :tenant AND kind = :kind AND dedupe_key = :dedupe_key;

-- name: unfinished_ordered
-- The keys among the given ordered keys that have an unfinished job (one writer at a time:
-- nothing to lock).
SELECT DISTINCT j.tenant, j.ordered_key FROM jobs AS j
JOIN json_each(:keys) AS t
  ON j.tenant = json_extract(t.value, '$.tenant') AND j.ordered_key = json_extract(t.value, '$.key')
WHERE j.status IN ('queued', 'blocked', 'leased', 'waiting');

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
                                 AND e.id < j.id AND e.status IN ('queued', 'leased', 'waiting')));
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
                    AND e.id < jobs.id AND e.status IN ('queued', 'leased', 'waiting'))
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
                    AND e.id < jobs.id AND e.status IN ('queued', 'leased', 'waiting'))
RETURNING locator;

-- name: unblocked
-- The queue rows of the jobs `unblock_stalled` just queued.
UPDATE job_queue SET status = 'queued'
WHERE status = 'blocked'
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_queue.id AND jobs.status = 'queued');

-- name: claim
-- Leases up to `limit` due jobs: their queue rows, then the jobs whose rows this worker
-- now leases and which are still queued (only those just claimed).
UPDATE job_queue SET status = 'leased', owner = :owner, leased_until = :lease_until
WHERE id IN (SELECT id FROM job_queue
             WHERE status = 'queued' AND run_at <= :now
             ORDER BY run_at, id
             LIMIT :limit);
UPDATE jobs
SET status = 'leased', attempt = attempt + 1, lease_owner = :owner,
    lease_expires_at = :lease_until, started_at = :now, updated_at = :now
WHERE id IN (SELECT id FROM job_queue WHERE status = 'leased' AND owner = :owner)
  AND status = 'queued'
RETURNING id, locator, tenant, kind, reference_type, reference_locator,
          parent_locator, attempt, max_attempts, payload, created_at, run_at, ordered_key;

-- name: complete
-- Records a batch of successful attempts whose lease this worker still holds, and takes
-- their queue rows away; the batch is one JSON array of {id, attempt, result}. A job with
-- children waits for them; the locators of those returned.
DELETE FROM job_queue
WHERE owner = :owner
  AND id IN (SELECT j.id FROM jobs AS j
             JOIN json_each(:batch) AS d ON j.id = d.value ->> '$.id'
             WHERE j.attempt = d.value ->> '$.attempt' AND j.lease_owner = :owner);
UPDATE jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c WHERE c.parent_locator = jobs.locator)
                  THEN 'waiting' ELSE 'finished' END,
    result = d.result,
    finished_at = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c
                                    WHERE c.parent_locator = jobs.locator)
                       THEN NULL ELSE :now END,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = :now
FROM (SELECT value ->> '$.id' AS id, value ->> '$.attempt' AS attempt,
             value -> '$.result' AS result
      FROM json_each(:batch)) AS d
WHERE jobs.id = d.id AND jobs.attempt = d.attempt AND jobs.lease_owner = :owner
RETURNING CASE WHEN status = 'waiting' THEN locator END;

-- name: retry
-- Puts a failed attempt back in the queue at its backoff time.
UPDATE job_queue SET status = 'queued', run_at = :run_at, owner = NULL, leased_until = NULL
WHERE id = :id AND owner = :owner
  AND EXISTS (SELECT 1 FROM jobs WHERE id = :id AND attempt = :attempt AND status = 'leased'
                     AND lease_owner = :owner);
UPDATE jobs
SET status = 'queued', run_at = :run_at, lease_owner = NULL, lease_expires_at = NULL,
    errors = json_insert(errors, '$[#]', json(:error)), updated_at = :now
WHERE id = :id AND attempt = :attempt AND status = 'leased' AND lease_owner = :owner;

-- name: fail
-- Ends a job whose attempt failed for good.
DELETE FROM job_queue
WHERE id = :id AND owner = :owner
  AND EXISTS (SELECT 1 FROM jobs WHERE id = :id AND attempt = :attempt AND status = 'leased'
                     AND lease_owner = :owner);
UPDATE jobs
SET status = 'failed', finished_at = :now, lease_owner = NULL, lease_expires_at = NULL,
    errors = json_insert(errors, '$[#]', json(:error)), updated_at = :now
WHERE id = :id AND attempt = :attempt AND status = 'leased' AND lease_owner = :owner;

-- name: resolve_waiting
-- Ends the waiting parents whose children have all ended; failed if any child failed.
UPDATE jobs AS p
SET status = CASE WHEN EXISTS (SELECT 1 FROM jobs AS c
                               WHERE c.parent_locator = p.locator AND c.status = 'failed')
                  THEN 'failed' ELSE 'finished' END,
    finished_at = :now, updated_at = :now
WHERE p.locator IN (SELECT value FROM json_each(:locators)) AND p.status = 'waiting'
  AND NOT EXISTS (SELECT 1 FROM jobs AS c
                  WHERE c.parent_locator = p.locator
                    AND c.status IN ('queued', 'blocked', 'leased', 'waiting'))
RETURNING parent_locator, tenant, ordered_key;

-- name: heartbeat
-- Extends the leases of every job this worker holds; the number extended.
UPDATE job_queue SET leased_until = :lease_until WHERE status = 'leased' AND owner = :owner;
UPDATE jobs SET lease_expires_at = :lease_until
WHERE id IN (SELECT id FROM job_queue WHERE status = 'leased' AND owner = :owner)
  AND lease_owner = :owner;

-- name: release
-- Gives a held job back to the queue at shutdown; `undo` takes back an attempt never started.
UPDATE job_queue SET status = 'queued', run_at = :now, owner = NULL, leased_until = NULL
WHERE id = :id AND owner = :owner
  AND EXISTS (SELECT 1 FROM jobs WHERE id = :id AND status = 'leased' AND lease_owner = :owner);
UPDATE jobs
SET status = 'queued', run_at = :now, attempt = attempt - :undo, lease_owner = NULL,
    lease_expires_at = NULL, updated_at = :now
WHERE id = :id AND status = 'leased' AND lease_owner = :owner;

-- name: rescue
-- Re-queues (or fails, past the retry limit) jobs whose worker stopped heartbeating; then
-- the expired queue rows follow their jobs: queued again, or gone with a job that ended.
UPDATE jobs
SET status = CASE WHEN attempt >= max_attempts THEN 'failed' ELSE 'queued' END,
    finished_at = CASE WHEN attempt >= max_attempts THEN :now END,
    run_at = :now, lease_owner = NULL, lease_expires_at = NULL, updated_at = :now,
    errors = json_insert(errors, '$[#]', json_object(
        'attempt', attempt, 'at', :at,
        'error', 'worker ' || lease_owner || ' stopped heartbeating; its lease expired'))
WHERE id IN (SELECT id FROM job_queue
             WHERE status = 'leased' AND leased_until < :wall_now
             ORDER BY id LIMIT 500)
  AND status = 'leased'
RETURNING locator, kind, status, parent_locator, tenant;

-- name: rescued
-- The queue rows of the jobs `rescue` just handled.
UPDATE job_queue SET status = 'queued', run_at = :now, owner = NULL, leased_until = NULL
WHERE status = 'leased' AND leased_until < :wall_now
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_queue.id AND jobs.status = 'queued');
DELETE FROM job_queue
WHERE status = 'leased' AND leased_until < :wall_now
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_queue.id AND jobs.status <> 'leased');

-- name: cancel
-- Cancels jobs that have not started, or wait only on children or on their ordered key.
DELETE FROM job_queue
WHERE id IN (SELECT id FROM jobs
             WHERE locator IN (SELECT value FROM json_each(:locators))
               AND status IN ('queued', 'blocked'));
UPDATE jobs
SET status = 'cancelled', finished_at = :now, updated_at = :now
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND status IN ('queued', 'blocked', 'waiting')
RETURNING locator, parent_locator, tenant, ordered_key;

-- name: requeue
-- Runs jobs again now, taking them from whichever worker holds them; a failed job gets
-- one more attempt. Returns the jobs requeued.
INSERT INTO job_queue (id, kind, status, run_at)
SELECT id, kind, 'queued', :now FROM jobs
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND status IN ('queued', 'leased', 'waiting', 'failed')
ON CONFLICT (id) DO UPDATE
SET status = 'queued', run_at = excluded.run_at, owner = NULL, leased_until = NULL;
UPDATE jobs
SET status = 'queued', run_at = :now, lease_owner = NULL, lease_expires_at = NULL,
    finished_at = NULL, updated_at = :now,
    max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
WHERE locator IN (SELECT value FROM json_each(:locators))
  AND status IN ('queued', 'leased', 'waiting', 'failed')
RETURNING locator;

-- name: prune
-- Deletes up to 1000 jobs that ended before `before`, walking the oldest jobs (a job ends
-- after it is made, so every such job was made before `before`).
DELETE FROM jobs
WHERE id IN (SELECT id FROM jobs
             WHERE created_at < :before AND finished_at < :before
               AND status IN ('finished', 'failed', 'cancelled')
             ORDER BY created_at LIMIT 1000);

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
-- The due, queued jobs by kind among the oldest 10,000: how many, and the oldest run-at.
SELECT kind, count(*), min(run_at) FROM (
    SELECT kind, run_at FROM job_queue WHERE status = 'queued' AND run_at <= :now
    ORDER BY run_at, id LIMIT 10000
) AS due
GROUP BY kind;

-- name: busy
-- Whether a job is executing or due by the clock, or a schedule is due to make one.
SELECT EXISTS (SELECT 1 FROM job_queue WHERE status = 'leased')
    OR EXISTS (SELECT 1 FROM job_queue WHERE status = 'queued' AND run_at <= :now)
    OR EXISTS (SELECT 1 FROM engine_schedules WHERE next_at <= :now);

