-- Consolidation, audit report: the summary of a run ("Consolidation Audit
-- Trail - Release R2") as text for psql, json for tools, and a
-- self-contained html page (its figures and a chart) for mail.

-- The decisions in force on a run's conflicts, priority 1 first.
CREATE FUNCTION tdm._run_decisions(run_id bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  -- (Orders here are byte orders, COLLATE "C": the same report whatever
  -- the database's collation, as detection's orders are, decision 84.)
  SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'conflict_id', d.conflict_id, 'priority', c.priority, 'action', d.action,
                    'keep_env', d.keep_env,
                    'renames', d.renames, 'merged', d.merged,
                    'decided_by', d.decided_by, 'decided_at', d.decided_at,
                    'approved_by', d.approved_by, 'approved_at', d.approved_at,
                    'rationale', d.rationale,
                    -- (the login of each, from the audit, where it is not
                    -- the role: a reviewer's SET ROLE to a group role)
                    'decided_login', (SELECT nullif(a.actor, d.decided_by) FROM tdm.audit a
                                       WHERE a.action = 'decide' AND a.object = d.conflict_id
                                       ORDER BY a.audit_id DESC LIMIT 1),
                    'approved_login', (SELECT nullif(a.actor, d.approved_by) FROM tdm.audit a
                                        WHERE d.approved_by IS NOT NULL AND a.action = 'approve'
                                          AND a.object = d.conflict_id
                                        ORDER BY a.audit_id DESC LIMIT 1))
                  ORDER BY c.priority, d.conflict_id), '[]')
    FROM tdm.conflict c JOIN tdm.decision d USING (conflict_id)
   WHERE c.run_id = _run_decisions.run_id AND c.status IN ('decided', 'applied')
$$;

-- Everything the report says, as one jsonb document. Times over all the
-- run's calls come from their audit rows (tdm.run holds the last call's).
-- (Times in UTC, as the text says them: not the caller's TimeZone.)
CREATE FUNCTION tdm._report_data(run_id bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone TO 'UTC' AS $$
  WITH calls AS (
         SELECT a.at, a.detail ->> 'status' AS status,
                (SELECT coalesce(sum(p.value::bigint), 0) FROM jsonb_each_text(a.detail -> 'phase_ms') p)
                  AS ms,
                lag(a.detail ->> 'status') OVER w AS previous_status, lag(a.at) OVER w AS previous_at,
                a.detail -> 'phase_ms' AS phase_ms, row_number() OVER w AS call,
                -- (a call after one that completed the run starts it over)
                coalesce(sum((a.detail ->> 'status' = 'completed')::int)
                           OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS start_over
           FROM tdm.audit a
          WHERE a.action = 'consolidate' AND a.detail ->> 'run_id' = _report_data.run_id::text
         WINDOW w AS (ORDER BY a.audit_id)),
       -- The calls since the run last started over: the report's.
       this_time AS (SELECT c.* FROM calls c WHERE c.start_over = (SELECT max(x.start_over) FROM calls x)),
       first_call AS (SELECT c.call, c.at - c.ms * interval '1 ms' AS began FROM this_time c
                       WHERE c.start_over > 0 ORDER BY c.call LIMIT 1)
  SELECT jsonb_build_object(
    'release', r.release, 'run_id', r.run_id, 'target', r.target, 'status', r.status,
    'calls', r.calls, 'started_by', r.started_by, 'started_at', r.started_at,
    'finished_at', r.finished_at,
    'records_collected', r.rows_collected,
    'collected_by_env', coalesce((SELECT jsonb_object_agg(e.key, e.total)
                           FROM (SELECT b.key, sum(b.value::bigint) AS total
                                   FROM jsonb_each(r.tables) AS tb(name, v)
                                  CROSS JOIN LATERAL jsonb_each_text(tb.v -> 'by_env') AS b
                                  GROUP BY b.key) e), '{}'),
    'conflicts', r.conflicts, 'auto_resolved', r.auto_resolved, 'manual', r.manual,
    'auto_resolved_pct', CASE WHEN r.conflicts > 0
                              THEN round(100.0 * r.auto_resolved / r.conflicts, 1) END,
    -- (the rest of 100 when the two shares make all: each rounded on its
    -- own, 15 of 16 and 1 of 16 read 93.8% and 6.3%)
    'manual_pct', CASE WHEN r.conflicts > 0 AND r.auto_resolved + r.manual = r.conflicts
                       THEN 100 - round(100.0 * r.auto_resolved / r.conflicts, 1)
                       WHEN r.conflicts > 0 THEN round(100.0 * r.manual / r.conflicts, 1) END,
    'by_rule', coalesce((SELECT jsonb_object_agg(x.rule, x.n) FROM
                  (SELECT c.rule, count(*) AS n FROM tdm.conflict c WHERE c.run_id = r.run_id
                    GROUP BY c.rule) x), '{}'),
    'by_kind', coalesce((SELECT jsonb_object_agg(x.kind, x.n) FROM
                  (SELECT c.kind, count(*) AS n FROM tdm.conflict c WHERE c.run_id = r.run_id
                    GROUP BY c.kind) x), '{}'),
    'by_kind_rule', coalesce((SELECT jsonb_object_agg(y.kind, y.rules) FROM
                       (SELECT x.kind, jsonb_object_agg(x.rule, x.n) AS rules FROM
                          (SELECT c.kind, c.rule, count(*) AS n FROM tdm.conflict c
                            WHERE c.run_id = r.run_id GROUP BY 1, 2) x GROUP BY x.kind) y), '{}'),
    'manual_by_priority', coalesce((SELECT jsonb_object_agg('P' || x.priority, x.n) FROM
                             (SELECT c.priority, count(*) AS n FROM tdm.conflict c
                               WHERE c.run_id = r.run_id AND c.rule = 'manual'
                               GROUP BY c.priority) x), '{}'),
    'waiting_for_review', (SELECT count(*) FROM tdm.conflict c
                            WHERE c.run_id = r.run_id AND c.status IN ('pending', 'stale')),
    -- (decided on members that changed since: back in the queue)
    'stale', (SELECT count(*) FROM tdm.conflict c WHERE c.run_id = r.run_id AND c.status = 'stale'),
    'decisions_gone', coalesce(to_jsonb(r.decisions_gone), '[]'),
    'waiting_for_approval', (SELECT count(*) FROM tdm.conflict c JOIN tdm.decision d USING (conflict_id)
                              WHERE c.run_id = r.run_id AND c.status = 'decided' AND c.priority = 1
                                AND d.approved_by IS NULL),
    'final_records', r.rows_loaded,
    'from_master', (SELECT sum(m.value::bigint) FROM jsonb_each_text(r.tables -> 'closure_from_master') m),
    'merged', r.rows_merged, 'renamed', r.rows_renamed,
    'deleted', r.rows_deleted,
    'violations', coalesce((SELECT jsonb_object_agg(x.kind || ' ' || x.severity, x.n) FROM
                     (SELECT v.kind, v.severity, count(*) AS n FROM tdm.violation v
                       WHERE v.run_id = r.run_id GROUP BY 1, 2) x), '{}'),
    'violation_examples', coalesce((SELECT jsonb_agg(x ORDER BY x.severity, x.rel COLLATE "C", x.kind, x.row_key::text COLLATE "C")
                             FROM (SELECT v.rel::text AS rel, v.kind, v.severity, v.row_key, v.detail
                                     FROM tdm.violation v WHERE v.run_id = r.run_id
                                    ORDER BY v.severity, v.rel::text COLLATE "C", v.kind, v.row_key::text COLLATE "C"
                                    LIMIT 10) x), '[]'),
    'phase_ms', r.phase_ms,
    'started_over_at_call', (SELECT f.call FROM first_call f),
    'this_time_calls', (SELECT count(*) FROM this_time),
    'all_calls_ms', coalesce((SELECT jsonb_object_agg(p.key, p.total) FROM
                       (SELECT p.key, sum(p.value::bigint) AS total
                          FROM this_time c CROSS JOIN LATERAL jsonb_each_text(c.phase_ms) p
                         GROUP BY p.key) p), '{}'),
    -- Between a call that left the run awaiting review and the next call's
    -- start: the reviewers' time.
    'review_ms', (SELECT coalesce(sum(greatest(0, extract(epoch FROM c.at - c.previous_at) * 1000 - c.ms)), 0)::bigint
                    FROM this_time c WHERE c.previous_status = 'awaiting_review'),
    -- (from the call that started the run over, if one did: not the time
    -- the run sat completed before it)
    'elapsed_ms', (extract(epoch FROM r.finished_at
                                      - coalesce((SELECT f.began FROM first_call f), r.started_at)) * 1000)::bigint,
    -- (the job of a run that failed without loading: why)
    'job', (SELECT jsonb_build_object('job_id', j.job_id, 'status', j.status, 'error', j.error)
              FROM tdm.job j WHERE j.job_id = r.job_id),
    'tables', r.tables,
    'decisions', CASE WHEN r.status = 'completed' AND r.decisions IS NOT NULL THEN r.decisions
                      ELSE tdm._run_decisions(r.run_id) END,
    -- Rollbacks that changed the run's status (tdm._reconcile_runs): a
    -- run whose rows a rollback took out of the target is failed by it,
    -- one whose rows it put back is completed again.
    'rollbacks', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'job_id', j.job_id, 'snapshot_id', s.snapshot_id, 'snapshot', s.label,
                                    'target', s.target, 'at', j.finished_at,
                                    'change', j.detail -> 'runs' ->> r.run_id::text,
                                    -- (the release's run whose rows it put back)
                                    'completed_run', (SELECT sr.run_id FROM tdm.snapshot_release sr
                                                       WHERE sr.snapshot_id = s.snapshot_id
                                                         AND sr.release = r.release AND sr.run_id <> r.run_id))
                                  ORDER BY j.job_id)
                             FROM tdm.job j
                             LEFT JOIN tdm.snapshot s ON s.snapshot_id = (j.detail ->> 'snapshot_id')::bigint
                            WHERE j.kind = 'rollback' AND j.status = 'completed'
                              AND j.detail -> 'runs' ? r.run_id::text), '[]'))
    FROM tdm.run r WHERE r.run_id = _report_data.run_id
$$;

-- Milliseconds as people read them: 850 ms, 12.4 s, 3 min 20 s, 6 h 24 min.
CREATE FUNCTION tdm._duration(ms bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN ms IS NULL THEN NULL
              WHEN ms < 1000 THEN ms || ' ms'
              -- (rounded once, then split: 59 999 ms is 1 min 0 s, not 60.0 s;
              -- 3 599 999 ms 1 h 0 min, not 0 h 59 min)
              WHEN ms < 59950 THEN round(ms / 1000.0, 1) || ' s'
              WHEN ms < 3599500 THEN (round(ms / 1000.0)::bigint / 60) || ' min '
                                     || (round(ms / 1000.0)::bigint % 60) || ' s'
              ELSE (round(ms / 60000.0)::bigint / 60) || ' h ' || (round(ms / 60000.0)::bigint % 60) || ' min' END
$$;

-- A violation's detail as a line of text: what is wrong first (message,
-- constraint, rule...), then the values, an object's as `name value, ...`;
-- each whole up to 100 characters, else cut with ~ (jsonb orders keys by
-- length: the values came before the constraint's name, which a cut of
-- the whole then lost).
CREATE FUNCTION tdm._detail_text(detail jsonb) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(d.key || ': ' || CASE WHEN length(d.v) > 100 THEN left(d.v, 99) || '~' ELSE d.v END, '; '
                    ORDER BY array_position(ARRAY['message', 'constraint', 'check', 'column', 'rule', 'predicate',
                                                  'partition', 'references', 'values', 'with'], d.key), d.key)
    FROM (SELECT e.key,
                 CASE jsonb_typeof(e.value)
                      WHEN 'string' THEN e.value #>> '{}'
                      WHEN 'object' THEN (SELECT string_agg(o.key || ' ' || coalesce(o.value #>> '{}', 'NULL'), ', ')
                                            FROM jsonb_each(e.value) o)
                      ELSE e.value::text END AS v
            FROM jsonb_each(CASE WHEN jsonb_typeof(detail) = 'object' THEN detail END) e) d
$$;

-- The chart of the html page: one bar per conflict kind, in parts per
-- rule (how it was resolved), as inline SVG.
CREATE FUNCTION tdm._report_chart(d jsonb) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH rules(rule, color, n) AS (
         VALUES ('distinct_entities', '#4e79a7', 1), ('exact_duplicate', '#59a14f', 2),
                ('temporal_priority', '#9c755f', 3), ('non_conflicting_merge', '#76b7b2', 4),
                ('feature_priority', '#edc948', 5), ('environment_precedence', '#b07aa1', 6),
                ('manual', '#e15759', 7)),
       kinds AS (
         SELECT k.kind, row_number() OVER (ORDER BY k.n) - 1 AS y,
                (SELECT sum(v.value::bigint) FROM jsonb_each_text(d -> 'by_kind_rule' -> k.kind) v) AS total
           FROM unnest(enum_range(NULL::tdm.conflict_kind)::text[]) WITH ORDINALITY AS k(kind, n)
          WHERE d -> 'by_kind_rule' ? k.kind),
       scale AS (SELECT greatest(max(total), 1)::numeric AS top, count(*) AS bars FROM kinds),
       parts AS (
         SELECT k.kind, k.y, k.total, r.rule, r.color, x.n,
                coalesce(sum(x.n) OVER (PARTITION BY k.kind ORDER BY r.n
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
           FROM kinds k CROSS JOIN rules r
          CROSS JOIN LATERAL (SELECT (d -> 'by_kind_rule' -> k.kind ->> r.rule)::bigint AS n) x
          WHERE x.n IS NOT NULL),
       legend AS (
         SELECT r.rule, r.color, row_number() OVER (ORDER BY r.n) - 1 AS i FROM rules r
          WHERE EXISTS (SELECT 1 FROM parts p WHERE p.rule = r.rule))
  SELECT CASE WHEN (SELECT bars FROM scale) = 0 THEN '<p>No conflicts.</p>' ELSE
    format('<svg xmlns="http://www.w3.org/2000/svg" width="720" height="%s" role="img"'
           ' aria-label="Conflicts by kind and resolution">', 40 + 30 * s.bars + 22 * (SELECT count(*) FROM legend))
    || (SELECT string_agg(format('<text x="0" y="%s" font-size="13">%s</text>', 30 * k.y + 20, k.kind)
                          || format('<text x="%s" y="%s" font-size="13">%s</text>',
                                    190 + round(460 * k.total / s.top) + 6, 30 * k.y + 20, k.total), '')
          FROM kinds k)
    || (SELECT string_agg(format('<rect x="%s" y="%s" width="%s" height="20" fill="%s">'
                                 '<title>%s, %s: %s</title></rect>',
                                 190 + round(460 * p.before / s.top), 30 * p.y + 6,
                                 greatest(round(460 * p.n / s.top), 1), p.color, p.kind, p.rule, p.n), ''
                          ORDER BY p.y, p.before)
          FROM parts p)
    || (SELECT string_agg(format('<rect x="190" y="%1$s" width="14" height="14" fill="%2$s"/>'
                                 '<text x="210" y="%3$s" font-size="12">%4$s</text>',
                                 30 * s.bars + 16 + 22 * l.i, l.color, 30 * s.bars + 28 + 22 * l.i, l.rule),
                          '' ORDER BY l.i)
          FROM legend l)
    || '</svg>' END
    FROM scale s
$$;

CREATE FUNCTION tdm.report(run_id bigint, format text DEFAULT 'text') RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET jit TO off AS $$
DECLARE
  d jsonb := tdm._report_data(run_id);
  lines text[] := '{}';
  k text;
  v text;
  html text;
  more bigint;  -- violations past the examples
  phases constant text[] := '{collect,detect,resolve,validate,load,audit}';
BEGIN
  PERFORM tdm._require_given('report', 'run_id', run_id IS NOT NULL);
  PERFORM tdm._require_given('report', 'format', format IS NOT NULL);
  IF d IS NULL THEN
    RAISE EXCEPTION 'report: run % does not exist', run_id
      USING ERRCODE = 'undefined_object', HINT = 'Runs are in tdm.run.';
  END IF;
  IF format = 'json' THEN
    -- (Indented, unless a value nests deep, a reviewer's merged jsonb:
    -- indentation grows with the square of the depth, 324 MB for a 65 kB
    -- document nested 9,000 levels, p298.)
    RETURN CASE WHEN jsonb_path_exists(d, 'strict $.**{20}') THEN d::text ELSE jsonb_pretty(d) END;
  ELSIF format IS NULL OR format NOT IN ('text', 'html') THEN
    RAISE EXCEPTION 'report: unknown format %', coalesce(quote_literal(format), 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Formats: text, json, html.';
  END IF;

  -- The lines of the text report; html shows the same lines as a table.
  lines := lines || ('Consolidation Audit Trail - Release ' || (d->>'release'));
  lines := lines || pg_catalog.format('Run %s into %s: %s (%s call%s%s)', d->>'run_id', d->>'target',
                                      d->>'status', d->>'calls',
                                      CASE WHEN (d->>'calls')::int <> 1 THEN 's' ELSE '' END,
                                      coalesce('; call ' || (d->>'started_over_at_call')
                                               || ' started it over: the figures are from it on', ''));
  -- (a job that failed or was cancelled: what ended the run)
  IF d->>'status' = 'failed' AND d->'job'->>'status' IN ('failed', 'cancelled') THEN
    lines := lines || pg_catalog.format('%-28s %s %s%s', 'Job:', d->'job'->>'job_id', d->'job'->>'status',
                                        coalesce(': ' || (d->'job'->>'error'), ''));
  END IF;
  -- (A failed run's figures are its last call's: say what failed it.)
  FOR v IN SELECT pg_catalog.format('%-28s %s (snapshot %s of %s, job %s, %s)', 'Rollback:', x->>'change',
                                    quote_literal(x->>'snapshot'), x->>'target', x->>'job_id',
                                    to_char((x->>'at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
             FROM jsonb_array_elements(d->'rollbacks') x LOOP
    lines := lines || v;
  END LOOP;
  lines := lines || pg_catalog.format('%-28s %s%s', 'Records collected:', d->>'records_collected',
                     coalesce(' (' || (SELECT string_agg(e.key || ' ' || e.value, ', ' ORDER BY e.key COLLATE "C")
                                         FROM jsonb_each_text(d->'collected_by_env') e) || ')', ''));
  lines := lines || pg_catalog.format('%-28s %s', 'Conflicts detected:', d->>'conflicts');
  lines := lines || pg_catalog.format('%-28s %s%s', '  Auto-resolved:', d->>'auto_resolved',
                     coalesce(' (' || (d->>'auto_resolved_pct') || '%)', ''));
  FOR k, v IN SELECT e.key, e.value FROM jsonb_each_text(d->'by_rule') e
               WHERE e.key <> 'manual' ORDER BY e.key COLLATE "C" LOOP
    lines := lines || pg_catalog.format('%-28s %s', '    ' || k || ':', v);
  END LOOP;
  lines := lines || pg_catalog.format('%-28s %s%s', '  Manual review:', d->>'manual',
                     CASE WHEN d->>'manual_pct' IS NULL THEN ''
                          ELSE ' (' || (d->>'manual_pct') || '%'
                               || coalesce('; ' || (SELECT string_agg(e.key || ' ' || e.value, ', ' ORDER BY e.key COLLATE "C")
                                                      FROM jsonb_each_text(d->'manual_by_priority') e), '')
                               || ')' END);
  -- (a failed run's conflicts are out of the queue)
  IF (d->>'waiting_for_review')::int > 0 AND d->>'status' <> 'failed' THEN
    lines := lines || pg_catalog.format('%-28s %s%s', '  Waiting for review:', d->>'waiting_for_review',
                                        CASE WHEN (d->>'stale')::int > 0
                                             THEN pg_catalog.format(' (%s stale: decided on members that changed since)',
                                                                    d->>'stale') ELSE '' END);
  END IF;
  IF jsonb_array_length(d->'decisions_gone') > 0 THEN
    lines := lines || pg_catalog.format('%-28s %s (their conflicts are no longer found: they do not apply)',
                                        '  Decisions gone:',
                                        (SELECT string_agg(g, ', ') FROM jsonb_array_elements_text(d->'decisions_gone') g));
  END IF;
  IF (d->>'waiting_for_approval')::int > 0 AND d->>'status' <> 'failed' THEN
    lines := lines || pg_catalog.format('%-28s %s (priority 1 decisions: another reviewer runs tdm.approve)',
                                        '  Waiting for approval:', d->>'waiting_for_approval');
  END IF;
  IF d->>'status' = 'completed' THEN
    lines := lines || pg_catalog.format('%-28s %s', 'Final records:', d->>'final_records');
    IF (d->>'from_master')::bigint > 0 THEN
      lines := lines || pg_catalog.format('%-28s %s (earlier releases'' rows these reference, also loaded)',
                                          '  From master:', d->>'from_master');
    END IF;
  ELSIF d->>'status' = 'failed' AND d->'rollbacks' -> -1 ->> 'change' LIKE '% -> failed'
        AND (d->>'final_records')::bigint > 0 THEN
    lines := lines || pg_catalog.format('%-28s %s loaded into %s; failed by the rollback above%s',
                                        'Final records:', d->>'final_records', d->>'target',
                                        coalesce(', which put back the rows of run '
                                                 || (d->'rollbacks' -> -1 ->> 'completed_run'), ''));
  ELSE
    lines := lines || pg_catalog.format('%-28s %s', 'Final records:',
                                        'none loaded by the last call (' || (d->>'status') || ')');
  END IF;
  lines := lines || pg_catalog.format('%-28s %s', '  Merged away:', d->>'merged');
  lines := lines || pg_catalog.format('%-28s %s', '  Renamed:', d->>'renamed');
  lines := lines || pg_catalog.format('%-28s %s', '  Deleted:', d->>'deleted');
  lines := lines || pg_catalog.format('%-28s %s', 'Violations:',
                     coalesce((SELECT string_agg(e.key || ' ' || e.value, ', ' ORDER BY e.key COLLATE "C")
                                 FROM jsonb_each_text(d->'violations') e), 'none'));
  -- What to fix: the first violations, each with its row and detail.
  FOR v IN SELECT pg_catalog.format('  %s %s (%s): %s %s', x->>'rel', x->>'kind', x->>'severity',
                                    x->'row_key', tdm._detail_text(x->'detail'))
             FROM jsonb_array_elements(d->'violation_examples') x LOOP
    lines := lines || v;
  END LOOP;
  more := (SELECT sum(e.value::bigint) FROM jsonb_each_text(d->'violations') e)
          - jsonb_array_length(d->'violation_examples');
  IF more > 0 THEN
    lines := lines || pg_catalog.format('  ... and %s more in tdm.violation (run_id = %s)', more, d->>'run_id');
  END IF;
  IF d->>'status' = 'invalid' THEN
    lines := lines || pg_catalog.format('  Nothing loaded: fix these rows (in their environments, or by a'
                                        ' decision) or the rule they break; tag the release again if its data'
                                        ' changed, then consolidate again: %s',
                                        tdm._consolidate_call(d->>'release', d->>'target'));
  END IF;
  lines := lines || pg_catalog.format('%-28s %s', 'Phase timings (ms):',
                     coalesce((SELECT string_agg(e.key || ' ' || e.value, ', '
                                                 ORDER BY array_position(phases, e.key))
                                 FROM jsonb_each_text(d->'phase_ms') e), ''));
  IF (d->>'this_time_calls')::int > 1 THEN
    lines := lines || pg_catalog.format('%-28s %s', 'All calls (ms):',
                       coalesce((SELECT string_agg(e.key || ' ' || e.value, ', '
                                                   ORDER BY array_position(phases, e.key))
                                   FROM jsonb_each_text(d->'all_calls_ms') e), ''));
  END IF;
  IF (d->>'review_ms')::bigint > 0 THEN
    lines := lines || pg_catalog.format('%-28s %s', 'Manual review time:',
                                        tdm._duration((d->>'review_ms')::bigint) || ' (between calls)');
  END IF;
  IF d->>'elapsed_ms' IS NOT NULL THEN
    lines := lines || pg_catalog.format('%-28s %s', 'Total elapsed:', tdm._duration((d->>'elapsed_ms')::bigint));
    lines := lines || pg_catalog.format('%-28s %s', CASE WHEN d->>'status' = 'completed' THEN 'Completed:'
                                                         ELSE 'Last call ended:' END,
                                        to_char((d->>'finished_at')::timestamptz AT TIME ZONE 'UTC',
                                                'YYYY-MM-DD HH24:MI:SS "UTC"'));
  END IF;
  -- Decisions: counted by action, spelled out priority 1 first: every one
  -- on the page (mail), the first ten in psql.
  IF jsonb_array_length(d->'decisions') = 0 THEN
    lines := lines || pg_catalog.format('%-28s %s', 'Decisions:', 'none');
  ELSE
    lines := lines || pg_catalog.format('%-28s %s (%s)', 'Decisions:',
                       jsonb_array_length(d->'decisions'),
                       (SELECT string_agg(pg_catalog.format('%s %s', a, n), ', ' ORDER BY a COLLATE "C")
                          FROM (SELECT x->>'action' AS a, count(*) AS n
                                  FROM jsonb_array_elements(d->'decisions') x GROUP BY 1) c));
    FOR v IN SELECT pg_catalog.format('  %s %s%s by %s%s: %s', x->>'conflict_id', x->>'action',
                                      coalesce(' ' || (x->>'keep_env'), ''),
                                      (x->>'decided_by') || coalesce(' (login ' || (x->>'decided_login') || ')', ''),
                                      coalesce(', approved by ' || (x->>'approved_by')
                                               || coalesce(' (login ' || (x->>'approved_login') || ')', ''),
                                               CASE WHEN x->>'priority' = '1' THEN ', awaiting approval' END, ''),
                                      -- (on one line, as a terminal shows it, cut as violations' values are)
                                      tdm._printable(regexp_replace(x->>'rationale', E'\\s*[\\n\\r]+\\s*', ' ', 'g'),
                                                     200))
               FROM jsonb_array_elements(d->'decisions') WITH ORDINALITY AS e(x, n)
              WHERE e.n <= 10 OR format <> 'text' ORDER BY e.n LOOP
      lines := lines || v;
    END LOOP;
    IF jsonb_array_length(d->'decisions') > 10 AND format = 'text' THEN
      -- (the applied ones, which tdm.decision may no longer hold as they were)
      lines := lines || pg_catalog.format('  ... and %s more: SELECT tdm.report(%s, ''json''); lists them all',
                                          jsonb_array_length(d->'decisions') - 10, report.run_id);
    END IF;
  END IF;

  IF format = 'text' THEN
    RETURN array_to_string(lines, E'\n');
  END IF;
  -- A page of its own: no script, no style sheet or font to fetch.
  html := '<!DOCTYPE html>' || E'\n' || '<html lang="en"><head><meta charset="utf-8">'
          || pg_catalog.format('<title>%s</title>', tdm._html_escape(lines[1]))
          || '<style>body{font-family:sans-serif;margin:2em;color:#222}'
          || 'table.tdm-report{border-collapse:collapse}'
          || 'table.tdm-report td{padding:2px 16px 2px 0;vertical-align:top}'
          || 'table.tdm-report td:first-child{white-space:pre}</style></head><body>' || E'\n'
          || pg_catalog.format('<h1>%s</h1>', tdm._html_escape(lines[1])) || E'\n'
          || '<table class="tdm-report">' || E'\n';
  -- (Label and value at the first ": ": a role name or a time may hold a
  -- colon of its own.)
  FOR v IN SELECT unnest(lines[2:]) LOOP
    v := tdm._html_escape(v);
    html := html || pg_catalog.format('<tr><td>%s</td><td>%s</td></tr>',
                                      rtrim(split_part(v, ': ', 1)),
                                      btrim(substr(v, length(split_part(v, ': ', 1)) + 3))) || E'\n';
  END LOOP;
  RETURN html || '</table>' || E'\n' || '<h2>Conflicts by kind and resolution</h2>' || E'\n'
         || tdm._report_chart(d) || E'\n' || '</body></html>';
END
$$;

-- Text as HTML text: &, <, > and quotes escaped.
CREATE FUNCTION tdm._html_escape(t text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT replace(replace(replace(replace(replace(t, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                         '"', '&quot;'), '''', '&#39;')
$$;
