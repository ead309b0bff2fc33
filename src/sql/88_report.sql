-- Consolidation, audit report: the summary of a run ("Consolidation Audit
-- Trail - Release R2") as text for psql, json for tools, html for mail.

-- Everything the report says, as one jsonb document.
CREATE FUNCTION tdm._report_data(run_id bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
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
    'by_rule', coalesce((SELECT jsonb_object_agg(x.rule, x.n) FROM
                  (SELECT c.rule, count(*) AS n FROM tdm.conflict c WHERE c.run_id = r.run_id
                    GROUP BY c.rule) x), '{}'),
    'by_kind', coalesce((SELECT jsonb_object_agg(x.kind, x.n) FROM
                  (SELECT c.kind, count(*) AS n FROM tdm.conflict c WHERE c.run_id = r.run_id
                    GROUP BY c.kind) x), '{}'),
    'manual_by_priority', coalesce((SELECT jsonb_object_agg('P' || x.priority, x.n) FROM
                             (SELECT c.priority, count(*) AS n FROM tdm.conflict c
                               WHERE c.run_id = r.run_id AND c.rule = 'manual'
                               GROUP BY c.priority) x), '{}'),
    'waiting_for_review', (SELECT count(*) FROM tdm.conflict c
                            WHERE c.run_id = r.run_id AND c.status IN ('pending', 'stale')),
    'final_records', r.rows_loaded, 'merged', r.rows_merged, 'renamed', r.rows_renamed,
    'deleted', r.rows_deleted,
    'violations', coalesce((SELECT jsonb_object_agg(x.kind || ' ' || x.severity, x.n) FROM
                     (SELECT v.kind, v.severity, count(*) AS n FROM tdm.violation v
                       WHERE v.run_id = r.run_id GROUP BY 1, 2) x), '{}'),
    'phase_ms', r.phase_ms, 'tables', r.tables,
    'decisions', coalesce((SELECT jsonb_agg(jsonb_build_object(
                           'conflict_id', d.conflict_id, 'action', d.action,
                           'keep_env', d.keep_env, 'decided_by', d.decided_by,
                           'approved_by', d.approved_by, 'rationale', d.rationale)
                         ORDER BY c.priority, d.conflict_id)
                    FROM tdm.conflict c JOIN tdm.decision d USING (conflict_id)
                   WHERE c.run_id = r.run_id AND c.status IN ('decided', 'applied')), '[]'))
    FROM tdm.run r WHERE r.run_id = _report_data.run_id
$$;

CREATE FUNCTION tdm.report(run_id bigint, format text DEFAULT 'text') RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  d jsonb := tdm._report_data(run_id);
  lines text[] := '{}';
  k text;
  v text;
  html text;
BEGIN
  IF d IS NULL THEN
    RAISE EXCEPTION 'report: run % does not exist', run_id
      USING ERRCODE = 'undefined_object', HINT = 'Runs are in tdm.run.';
  END IF;
  IF format = 'json' THEN
    RETURN jsonb_pretty(d);
  ELSIF format IS NULL OR format NOT IN ('text', 'html') THEN
    RAISE EXCEPTION 'report: unknown format %', coalesce(quote_literal(format), 'NULL')
      USING ERRCODE = 'invalid_parameter_value', HINT = 'Formats: text, json, html.';
  END IF;

  -- The lines of the text report; html shows the same lines as a table.
  lines := lines || ('Consolidation Audit Trail - Release ' || (d->>'release'));
  lines := lines || pg_catalog.format('Run %s into %s: %s (%s call%s)', d->>'run_id', d->>'target',
                                      d->>'status', d->>'calls',
                                      CASE WHEN (d->>'calls')::int > 1 THEN 's' ELSE '' END);
  lines := lines || pg_catalog.format('%-28s %s%s', 'Records collected:', d->>'records_collected',
                     coalesce(' (' || (SELECT string_agg(e.key || ' ' || e.value, ', ' ORDER BY e.key)
                                         FROM jsonb_each_text(d->'collected_by_env') e) || ')', ''));
  lines := lines || pg_catalog.format('%-28s %s', 'Conflicts detected:', d->>'conflicts');
  lines := lines || pg_catalog.format('%-28s %s%s', '  Auto-resolved:', d->>'auto_resolved',
                     coalesce(' (' || (d->>'auto_resolved_pct') || '%)', ''));
  FOR k, v IN SELECT e.key, e.value FROM jsonb_each_text(d->'by_rule') e
               WHERE e.key <> 'manual' ORDER BY e.key LOOP
    lines := lines || pg_catalog.format('%-28s %s', '    ' || k || ':', v);
  END LOOP;
  lines := lines || pg_catalog.format('%-28s %s%s', '  Manual review:', d->>'manual',
                     coalesce(' (' || (SELECT string_agg(e.key || ' ' || e.value, ', ' ORDER BY e.key)
                                         FROM jsonb_each_text(d->'manual_by_priority') e) || ')', ''));
  IF (d->>'waiting_for_review')::int > 0 THEN
    lines := lines || pg_catalog.format('%-28s %s', '  Waiting for review:', d->>'waiting_for_review');
  END IF;
  lines := lines || pg_catalog.format('%-28s %s', 'Final records:', d->>'final_records');
  lines := lines || pg_catalog.format('%-28s %s', '  Merged away:', d->>'merged');
  lines := lines || pg_catalog.format('%-28s %s', '  Renamed (new keys):', d->>'renamed');
  lines := lines || pg_catalog.format('%-28s %s', '  Deleted:', d->>'deleted');
  lines := lines || pg_catalog.format('%-28s %s', 'Violations:',
                     coalesce((SELECT string_agg(e.key || ' ' || e.value, ', ' ORDER BY e.key)
                                 FROM jsonb_each_text(d->'violations') e), 'none'));
  lines := lines || pg_catalog.format('%-28s %s', 'Phase timings (ms):',
                     coalesce((SELECT string_agg(e.key || ' ' || e.value, ', '
                                                 ORDER BY array_position(
                                                   '{collect,detect,resolve,validate,load}', e.key))
                                 FROM jsonb_each_text(d->'phase_ms') e), ''));
  -- Decisions: counted by action, the first ten spelled out (priority 1 first).
  IF jsonb_array_length(d->'decisions') = 0 THEN
    lines := lines || pg_catalog.format('%-28s %s', 'Decisions:', 'none');
  ELSE
    lines := lines || pg_catalog.format('%-28s %s (%s)', 'Decisions:',
                       jsonb_array_length(d->'decisions'),
                       (SELECT string_agg(pg_catalog.format('%s %s', a, n), ', ' ORDER BY a)
                          FROM (SELECT x->>'action' AS a, count(*) AS n
                                  FROM jsonb_array_elements(d->'decisions') x GROUP BY 1) c));
    FOR v IN SELECT pg_catalog.format('  %s %s%s by %s%s: %s', x->>'conflict_id', x->>'action',
                                      coalesce(' ' || (x->>'keep_env'), ''), x->>'decided_by',
                                      coalesce(', approved by ' || (x->>'approved_by'), ''),
                                      regexp_replace(x->>'rationale', '\s*[\n\r]+\s*', ' ', 'g'))
               FROM jsonb_array_elements(d->'decisions') WITH ORDINALITY AS e(x, n)
              WHERE e.n <= 10 ORDER BY e.n LOOP
      lines := lines || v;
    END LOOP;
    IF jsonb_array_length(d->'decisions') > 10 THEN
      lines := lines || pg_catalog.format('  ... and %s more in tdm.decision',
                                          jsonb_array_length(d->'decisions') - 10);
    END IF;
  END IF;

  IF format = 'text' THEN
    RETURN array_to_string(lines, E'\n');
  END IF;
  html := '<table class="tdm-report">' || E'\n' || pg_catalog.format('<caption>%s</caption>', 
            replace(replace(replace(lines[1], '&', '&amp;'), '<', '&lt;'), '>', '&gt;')) || E'\n';
  FOR v IN SELECT unnest(lines[2:]) LOOP
    v := replace(replace(replace(v, '&', '&amp;'), '<', '&lt;'), '>', '&gt;');
    html := html || pg_catalog.format('<tr><td>%s</td><td>%s</td></tr>',
                                      btrim(split_part(v, ':', 1)),
                                      btrim(substr(v, length(split_part(v, ':', 1)) + 2))) || E'\n';
  END LOOP;
  RETURN html || '</table>';
END
$$;
