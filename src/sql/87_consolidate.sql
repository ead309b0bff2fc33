-- Consolidation end to end: collect -> detect -> resolve (rules, then
-- decisions) -> [awaiting_review] -> validate -> load. Each call works in
-- the caller's transaction on freshly collected rows (the release lock
-- guarantees they are the tagged ones), so a call after review resumes the
-- run with its decisions, and a call on a completed run repeats it to the
-- same result.

-- The backend other than this one that holds the transaction advisory
-- lock (key1, key2) of tdm's (hashtext of each; key2 NULL: any); NULL
-- when none.
CREATE FUNCTION tdm._advisory_holder(key1 text, key2 text) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT l.pid FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.granted
     AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
     AND l.classid = hashtext(key1)::oid AND (key2 IS NULL OR l.objid = hashtext(key2)::oid)
     AND l.objsubid = 2 AND l.pid <> pg_backend_pid()
   LIMIT 1
$$;

-- The backend consolidating `release` (it holds the release's advisory
-- lock), other than this one; NULL when none.
CREATE FUNCTION tdm._consolidating_backend(release text) RETURNS int
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT tdm._advisory_holder('tdm.consolidate', release)
$$;

-- A refusal's DETAIL for a lock that backend `holder` holds: a call in a
-- transaction still open holds it to its end, though it has returned.
CREATE FUNCTION tdm._holder_detail(holder int) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN holder IS NULL THEN 'Another backend holds it.'
              ELSE format('Backend %s holds it%s.', holder,
                          (SELECT CASE WHEN a.state LIKE 'idle in transaction%'
                                       THEN format(': its call has returned, and its transaction (user %s) is still open',
                                                   a.usename) END
                             FROM pg_stat_activity a WHERE a.pid = holder)) END
$$;

-- The collected child rows of the members of each conflict of
-- `the_parent` for review (manual, or decided though a rule settled it),
-- per child table and member: what a reviewer's choice would
-- orphan or carry along. Right after the parent's resolution, when its
-- children are translated but not yet resolved themselves: a line that
-- collides with another environment's line of the same key because their
-- orders do is still there to count (its own conflict may merge it away,
-- for this run only). Counted into pg_temp.tdm_related, and given to the
-- conflicts for review. With `rechecked`, also to count for the
-- conflicts a rule settled there: a recheck may send them to review
-- after every table's turn (tdm._recheck_cycle_entries,
-- tdm._recheck_borrowed_splits), when their children may be merged away.
CREATE FUNCTION tdm._relate(run bigint, the_parent regclass, rechecked bool) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
-- Conflicts and members were written by this transaction: their statistics
-- say nothing of their size, and a nested loop over them is quadratic.
SET enable_nestloop = off SET jit = off AS $$
DECLARE
  e record;
BEGIN
  -- (Every foreign key between managed tables: one to a unique key of the
  -- parent, orders by customer_email, carries children along too.)
  FOR e IN SELECT * FROM tdm._managed_references() WHERE parent = the_parent ORDER BY child::text, name LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM tdm.conflict c
                               WHERE c.run_id = run AND c.rel = e.parent
                                 AND (c.rule = 'manual' OR c.status <> 'auto_resolved'
                                      OR (rechecked AND c.rule <> 'distinct_entities')));
    -- The members' keys first (cast to the parent's types: only the
    -- parent's members are read, a join would cast every table's), as the
    -- children carry them now (a member re-keyed apart from another entity
    -- that had its key: its children were translated), then the child
    -- rows that reference one, counted once per (environment, parent key).
    EXECUTE format(
      'WITH member_keys AS MATERIALIZED ('
      '       SELECT cm.conflict_id, cm.label, cm.env, %1$s AS key'
      '         FROM tdm.conflict_member cm'
      '         JOIN tdm.conflict cc ON cc.run_id = cm.run_id AND cc.conflict_id = cm.conflict_id'
      '        WHERE cm.run_id = $1 AND cc.rel = $2'
      '          AND (cc.rule = ''manual'' OR cc.status <> ''auto_resolved'''
      '               OR ($5 AND cc.rule <> ''distinct_entities''))),'
      '     members AS MATERIALIZED ('
      '       SELECT DISTINCT ON (m.conflict_id, m.label) m.conflict_id, m.label, m.env,'
      '              coalesce(km.new_key, m.key) AS key,'
      '              CASE WHEN km.reason = ''merged'' THEN km.to_env ELSE m.env END AS to_env'
      '         FROM member_keys m'
      -- (a member's key is the one its row had after its parents; only the
      -- keys its own table gave it change it: a re-pointed entry's old
      -- key is the environment's, another row's. A member merged into a
      -- survivor of another environment: its children reference the
      -- survivor's key; into one of its own, they are the survivor's
      -- already.)
      '         LEFT JOIN (SELECT k.env, k.old_key, k.new_key, k.reason, k.to_env FROM pg_temp.tdm_keymap k'
      '                     WHERE k.rel = $2 AND (k.reason IN (''rekeyed'', ''renamed'')'
      '                                           OR (k.reason = ''merged'' AND k.to_env <> k.env))'
      '                    UNION ALL'  -- (taken into a re-pointed entry: tdm._propagate)
      '                    SELECT k.env, k.old_key, k.new_key, k.reason, NULL FROM pg_temp.tdm_chained k'
      '                     WHERE k.rel = $2 AND k.reason IN (''rekeyed'', ''renamed'')) km'
      '                ON $4 AND km.env = m.env AND km.old_key = m.key'
      '        ORDER BY m.conflict_id, m.label, km.reason),'
      -- (A child whose reference tdm._propagate translated, noted where
      -- the parent had deleted rows ($6), names the row of the environment
      -- it was translated to: a deleted member's own key may be the one
      -- another environment's row gave it.)
      '     children AS MATERIALIZED ('
      '       SELECT t.tdm_env AS env, %2$s AS key, x.to_env, count(*) AS cnt FROM pg_temp.%3$I t'
      '         LEFT JOIN pg_temp.tdm_translated x ON $6 AND x.rel = $3 AND x.edge = $7'
      '                                         AND x.env = t.tdm_env AND x.row_hash = t.tdm_row_hash'
      -- (Not master's rows, which other conflicts brought in as members:
      -- the release's rows are what a decision carries along, p349.)
      '        WHERE (t.tdm_env, %2$s) IN (SELECT m.env, m.key FROM members m) AND t.tdm_env <> ''master'''
      '        GROUP BY 1, 2, 3)'
      ' INSERT INTO pg_temp.tdm_related (conflict_id, child, label, n)'
      ' SELECT cm.conflict_id, $3, cm.label, n.cnt'
      '   FROM members cm JOIN children n ON n.env = cm.env AND n.key = cm.key'
      '    AND (NOT $6 OR coalesce(n.to_env, n.env) = cm.to_env)',
      -- (the parent's key as the child's text spells it: a char(n) key
      -- without its padding)
      tdm._member_key(e.parent, e.ref_columns, 'cm."row"'),
      tdm._key_text(e.columns, 't'), tdm._collected_name(e.child))
      USING run, e.parent, e.child, e.to_key,  -- (the key map holds primary keys)
            rechecked,
            tdm._translations_noted(e.child, e.name), e.name;
  END LOOP;
  PERFORM tdm._give_related(run, ARRAY(SELECT c.conflict_id FROM tdm.conflict c
                                        WHERE c.run_id = run AND c.rel = the_parent
                                          AND (c.rule = 'manual' OR c.status <> 'auto_resolved')));
END
$$;

-- The counts tdm._relate made for the conflicts `ids`, into their
-- `related`: per child table and member label, summed over the child's
-- foreign keys (transfers from and to an account).
CREATE FUNCTION tdm._give_related(run bigint, ids text[]) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- (None sent: the run's conflicts are not read, 40 ms at 150,000 rows.)
  IF cardinality(ids) = 0 THEN
    RETURN;
  END IF;
  UPDATE tdm.conflict c SET related = c.related || r.related
    FROM (SELECT x.conflict_id, jsonb_object_agg(x.child, x.counts) AS related
            FROM (SELECT y.conflict_id, y.child, jsonb_object_agg(y.label, y.n) AS counts
                    FROM (SELECT t.conflict_id, t.child, t.label, sum(t.n)::bigint AS n
                            FROM pg_temp.tdm_related t WHERE t.conflict_id = ANY (ids)
                           GROUP BY 1, 2, 3) y
                   GROUP BY 1, 2) x
           GROUP BY 1) r
   WHERE c.run_id = run AND c.conflict_id = r.conflict_id;
END
$$;

-- The references tdm._recheck_cycle_entries checks once every table had
-- its turn, in the order of their tables: those to a parent compared
-- after the child (a reference cycle's entry), and to the table's own
-- rows, but not where references to earlier releases' rows were
-- translated at collection (the members hold master's keys there, which
-- this run's map does not speak of). `core`: a core column of the child
-- is one of the reference's.
CREATE FUNCTION tdm._recheck_edges()
RETURNS TABLE (child regclass, parent regclass, columns text[], core bool, own bool, name text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY
    WITH o AS MATERIALIZED (SELECT * FROM tdm._table_order())
    SELECT r.child, r.parent, r.columns, m.core_columns && r.columns, r.child = r.parent, r.name
      FROM tdm._managed_edges() r
      JOIN tdm.managed_table m ON m.rel = r.child
      JOIN o oc ON oc.rel = r.child
      JOIN o op ON op.rel = r.parent
     WHERE (r.child <> r.parent AND op.step > oc.step)
        OR (r.child = r.parent
            AND NOT EXISTS (SELECT FROM pg_temp.tdm_earlier_fk x WHERE x.rel = r.child AND x.edge = r.name))
     ORDER BY oc.step, r.name;
END
$$;

-- The tables whose conflicts a rule settled may be sent to review after
-- every table's turn: the children of tdm._recheck_edges
-- (tdm._recheck_cycle_entries), the subtypes of borrowed keys
-- (tdm._recheck_borrowed_splits).
CREATE FUNCTION tdm._rechecked_tables() RETURNS regclass[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT x.rel), '{}')
    FROM (SELECT r.child AS rel FROM tdm._recheck_edges() r
          UNION ALL
          SELECT b.child FROM tdm._borrowed_keys(NULL) b) x
$$;

-- SQL for the final key of a row of table $2 (the statement's parameter)
-- whose key is `key` in environment `env` (text[] and text expressions):
-- its entry in the run's key map, else the key itself.
-- (Looked up once per conflict member: tdm._index_keymap first.)
CREATE FUNCTION tdm._mapped_key_sql(env text, key text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT format('coalesce((SELECT k.new_key FROM pg_temp.tdm_keymap k'
                ' WHERE k.rel = $2 AND k.env = %1$s AND k.old_key = %2$s ORDER BY k.reason LIMIT 1), %2$s)',
                env, key)
$$;

-- Whether tdm._propagate noted the rows whose reference `edge` of `child`
-- it translated (pg_temp.tdm_translated): where the parent had rows a
-- decision deleted.
CREATE FUNCTION tdm._translations_noted(child regclass, edge text) RETURNS bool
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM pg_temp.tdm_translated_edges n
                  WHERE n.rel = _translations_noted.child AND n.edge = _translations_noted.edge)
$$;

-- The key map, indexed for lookups by table, environment and old key,
-- once the tables' turns are over: it is written without an index (joined
-- by hash), and a lookup per conflict member read all of it, every
-- table's entries (7 s for 500 users among 60 tables' re-keyed rows).
CREATE FUNCTION tdm._index_keymap() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF to_regclass('pg_temp.tdm_keymap_lookup') IS NULL THEN
    CREATE INDEX tdm_keymap_lookup ON pg_temp.tdm_keymap (rel, env, old_key);
    ANALYZE pg_temp.tdm_keymap;
  END IF;
END
$$;

-- A reference cycle is entered at one table (tdm._table_order): its rows
-- are compared before a parent in the cycle has its keys settled, on that
-- parent's keys as each environment has them. Two members naming store 2
-- may mean two stores, and a rule then settled them as one row (the core
-- column that differs hidden, or the wrong member kept). Once the parent
-- is resolved, such a conflict's members' references are translated
-- through its key map; where they differ, the conflict goes to review
-- (priority 1 when a core column differs), as the rules would not have
-- settled it. The same for a reference to the table's own rows, which
-- detection compares by the natural keys of the rows it names: where
-- those were one entity then and are two once the table's conflicts are
-- decided (a reviewer's keep_all split the two fullers that two davolios
-- report to), and detection found no difference there. And the reverse:
-- members whose references differed as collected and name one row once
-- the keys are settled, where a rule kept one member whole though their
-- other differences are a NULL against a value (a merge, suggested,
-- keeps both's values). Returns the conflicts sent (their ids).
CREATE FUNCTION tdm._recheck_cycle_entries(run bigint) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e record;
  child tdm.managed_table;  -- the child's registration
  sent text[] := '{}';
  ids text[];
BEGIN
  FOR e IN SELECT * FROM tdm._recheck_edges() LOOP
    SELECT * INTO child FROM tdm.managed_table x WHERE x.rel = e.child;
    PERFORM tdm._index_keymap();
    EXECUTE format(
      -- (the parent's rows whose conflicts wait for a reviewer, or for an
      -- approval, tdm._resolution settling nothing: their keys are not
      -- settled yet, and a reference to one is checked at the call after
      -- the decision)
      'WITH waiting AS MATERIALIZED ('
      '  SELECT w.m ->> ''env'' AS env, %5$s AS key'
      '    FROM tdm.conflict p CROSS JOIN LATERAL jsonb_array_elements(p.members) AS w(m)'
      '   WHERE p.run_id = $1 AND p.rel = $2 AND tdm._unsettled(p)),'
      ' refs AS ('
      '  SELECT c.conflict_id, x.m ->> ''env'' AS env,'
      '         %3$s AS ref'
      '    FROM tdm.conflict c CROSS JOIN LATERAL jsonb_array_elements(c.members) AS x(m)'
      '   WHERE c.run_id = $1 AND c.rel = $3 AND c.status = ''auto_resolved'''
      '     AND c.rule <> ''distinct_entities'' AND array_position(%1$s, NULL) IS NULL'
      -- (a reference that differed as collected is a difference the rule
      -- saw and settled, as it settles any attribute's; only one that
      -- names the same row as collected and other rows once the keys are
      -- settled is one no rule saw; or the reverse, below)
      '     AND (NOT coalesce(c.differing ?| $6, false)'
      -- (one that differed as collected and names one row once the keys
      -- are settled, where the rule kept a member whole and the members'
      -- other differences are a NULL against a value: non_conflicting_merge
      -- would have kept both's values, the rule lost one; not where the
      -- table's own rows are named, compared by their natural keys)
      -- (The attributes compared: not the key, the reference, the columns
      -- the rules leave out of the comparison ($9: feature, updated_at,
      -- bookkeeping, generated). One the survivor holds NULL and another
      -- member a value is what was lost.)
      '          OR (NOT $7 AND c.rule NOT IN (''exact_duplicate'', ''non_conflicting_merge'')'
      '              AND EXISTS (SELECT FROM jsonb_each(c.differing) AS d(col, vals)'
      '                           WHERE d.col <> ALL ($6 || $8 || $9)'
      '                             AND c.members -> c.survivor -> ''row'' -> d.col = ''null''::jsonb'
      '                             AND EXISTS (SELECT FROM jsonb_each(d.vals) AS v WHERE v.value <> ''null''::jsonb))'
      '              AND NOT EXISTS (SELECT FROM jsonb_each(c.differing) AS d(col, vals)'
      '                               WHERE d.col <> ALL ($6 || $8 || $9)'
      '                                 AND (SELECT count(DISTINCT v.value) FROM jsonb_each(d.vals) AS v'
      '                                       WHERE v.value <> ''null''::jsonb) > 1)))'
      -- (a conflict naming a row a decision deleted: its relationship conflicts say so)
      '     AND NOT EXISTS (SELECT FROM jsonb_array_elements(c.members) AS y(m)'
      '                      JOIN pg_temp.tdm_deleted d ON d.rel = $2 AND d.env = y.m ->> ''env'''
      '                                                AND d.key = %2$s)'
      '     AND NOT EXISTS (SELECT FROM jsonb_array_elements(c.members) AS y(m)'
      '                      JOIN waiting w ON w.env = y.m ->> ''env'' AND w.key = %2$s)),'
      ' split AS ('
      '  SELECT r.conflict_id, jsonb_object_agg(r.env, %4$s) AS refs, c.differing ?| $6 AS joined'
      '    FROM refs r JOIN tdm.conflict c ON c.run_id = $1 AND c.conflict_id = r.conflict_id'
      '   GROUP BY r.conflict_id, c.differing, c.members'
      '  HAVING CASE WHEN coalesce(c.differing ?| $6, false)'
      -- (joined: every member's reference read, and one row)
      '              THEN count(DISTINCT r.ref) = 1 AND count(*) = jsonb_array_length(c.members)'
      '              ELSE count(DISTINCT r.ref) > 1 END)'
      ' , sent AS (UPDATE tdm.conflict c'
      '    SET status = ''pending'', rule = ''manual'', class = ''complex'','
      '        priority = CASE WHEN $5 AND NOT s.joined THEN 1 ELSE 3 END,'
      '        suggestion = CASE WHEN s.joined'
      -- (the values the survivor lacks; not a reference's, which is a key
      -- of its environment: the reviewer gives its final key)
      '          THEN coalesce(''merge, merged => '''
      '                        || (SELECT jsonb_object_agg(d.col, (SELECT v.value FROM jsonb_each(d.vals) AS v'
      '                                                             WHERE v.value <> ''null''::jsonb LIMIT 1))'
      '                              FROM jsonb_each(c.differing) AS d(col, vals)'
      '                             WHERE d.col <> ALL ($6 || $8 || $9 || $10)'
      '                               AND c.members -> c.survivor -> ''row'' -> d.col = ''null''::jsonb)::text,'
      '                        ''merge, merged => the final keys of the references the survivor lacks'')'
      '          ELSE ''keep the member whose reference is right (keep), or keep_all if they are'
      ' different rows'' END,'
      '        rationale = c.rationale || CASE WHEN s.joined'
      '          THEN format(''; but they reference one row of %%s once its keys are settled (%%s: %%s): %%s was'
      ' compared first in their reference cycle, on each environment''''s own keys; the members differ'
      ' otherwise only where one holds NULL, and a merge keeps what each holds'', $2, $4, s.refs, $3)'
      '          WHEN $7'
      '          THEN format(''; but they reference different rows of %%s once its conflicts are decided (%%s: %%s),'
      ' which detection took for one %%s'', $2, $4, s.refs, $11)'
      '          ELSE format(''; but they reference different rows of %%s once its keys are'
      ' settled (%%s: %%s): %%s was compared first in their reference cycle, on each environment''''s own keys'','
      '                      $2, $4, s.refs, $3) END,'
      '        differing = c.differing || jsonb_build_object($4, s.refs)'
      '   FROM split s WHERE c.run_id = $1 AND c.conflict_id = s.conflict_id RETURNING c.conflict_id)'
      ' SELECT array_agg(conflict_id) FROM sent',
      tdm._member_key(e.child, e.columns, 'x.m -> ''row'''), tdm._member_key(e.child, e.columns, 'y.m -> ''row'''),
      tdm._mapped_key_sql('x.m ->> ''env''', tdm._member_key(e.child, e.columns, 'x.m -> ''row''')),
      -- (a reference of one column as JSON spells its type's values, as
      -- `differing` shows the members' columns; of several, as a list)
      CASE WHEN cardinality(e.columns) = 1
           THEN format('to_jsonb(r.ref[1]::%s)',
                       (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                         WHERE a.attrelid = e.child AND a.attname = e.columns[1]))
           ELSE 'to_jsonb(array_to_string(r.ref, '',''))' END,
      tdm._member_key(e.parent, (SELECT m.pk_columns FROM tdm.managed_table m WHERE m.rel = e.parent),
                      'w.m -> ''row'''))
      INTO ids
      USING run, e.parent, e.child, tdm._column_names(e.columns), e.core,
            e.columns, e.own, child.pk_columns,
            array_remove(ARRAY[child.feature_column, child.updated_at_column, child.release_column], NULL)
              || child.bookkeeping_columns
              || ARRAY(SELECT a.attname::text FROM pg_attribute a
                        WHERE a.attrelid = e.child AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''),
            ARRAY(SELECT jsonb_array_elements_text(fk -> 'columns') FROM jsonb_array_elements(child.foreign_keys) AS fk),
            -- (how detection matched the rows a reference to the table's own names)
            CASE WHEN cardinality(child.natural_keys) > 0 THEN 'by their natural keys'
                 ELSE 'by the keys each environment gives them' END;
    sent := sent || coalesce(ids, '{}');
  END LOOP;
  RETURN sent;
END
$$;

-- A reviewer's keep_all on a conflict of a table whose rows a borrowed
-- key joined (tdm._borrowed_keys: businessentity rows, by their person
-- rows' natural key) keeps the rows apart; their subtype's rows still
-- share that key, and a rule would merge them, leaving one parent row
-- without its subtype. Such a subtype conflict goes to review instead
-- (priority 1): keep_all with renames there too, or withdraw the
-- parent's decision. Returns the conflicts sent (their ids).
CREATE FUNCTION tdm._recheck_borrowed_splits(run bigint) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  b record;
  sent text[] := '{}';
  ids text[];
BEGIN
  FOR b IN SELECT DISTINCT m.rel AS parent, m.pk_columns, x.child, x.columns
             FROM tdm.managed_table m JOIN tdm._borrowed_keys(NULL) x ON x.borrower = m.rel
            WHERE EXISTS (SELECT FROM tdm.conflict pc JOIN tdm.decision d ON d.conflict_id = pc.conflict_id
                           WHERE pc.run_id = run AND pc.rel = m.rel AND pc.status = 'decided'
                             AND d.action = 'keep_all') LOOP
    PERFORM tdm._index_keymap();
    -- The parent conflict's members by their final keys (a member the
    -- keep_all re-keyed: its new key), the subtype conflict's by theirs.
    EXECUTE format(
      'WITH kept_apart AS ('
      '  SELECT pc.conflict_id, y.m ->> ''env'' AS env,'
      '         %1$s AS key'
      '    FROM tdm.conflict pc JOIN tdm.decision d ON d.conflict_id = pc.conflict_id AND d.action = ''keep_all'''
      '   CROSS JOIN LATERAL jsonb_array_elements(pc.members) AS y(m)'
      '   WHERE pc.run_id = $1 AND pc.rel = $2 AND pc.status = ''decided''),'
      ' split AS ('
      '  SELECT c.conflict_id, min(a.conflict_id) AS parent_conflict'
      '    FROM tdm.conflict c CROSS JOIN LATERAL jsonb_array_elements(c.members) AS z(m)'
      '    JOIN kept_apart a ON a.env = z.m ->> ''env'' AND a.key = %2$s'
      '   WHERE c.run_id = $1 AND c.rel = $3 AND c.status = ''auto_resolved'' AND c.rule <> ''distinct_entities'''
      '   GROUP BY c.conflict_id, a.conflict_id HAVING count(*) > 1)'
      ' , sent AS (UPDATE tdm.conflict c'
      '    SET status = ''pending'', rule = ''manual'', class = ''complex'', priority = 1,'
      '        suggestion = ''keep_all with renames of the natural key (as decision '' || s.parent_conflict'
      '                     || '' kept their rows of '' || $2 || '' apart), or withdraw that decision'','
      '        rationale = c.rationale || format(''; but decision %%s keeps their rows of %%s apart (keep_all),'
      ' which share this key: merged, one would be left without its %%s row'', s.parent_conflict, $2, $3)'
      '   FROM split s WHERE c.run_id = $1 AND c.conflict_id = s.conflict_id RETURNING c.conflict_id)'
      ' SELECT array_agg(conflict_id) FROM sent',
      tdm._mapped_key_sql('y.m ->> ''env''', tdm._member_key(b.parent, b.pk_columns, 'y.m -> ''row''')),
      tdm._member_key(b.child, b.columns, 'z.m -> ''row'''))
      INTO ids
      USING run, b.parent, b.child;
    sent := sent || coalesce(ids, '{}');
  END LOOP;
  RETURN sent;
END
$$;

-- A conflict waiting for a reviewer whose members differ in a reference
-- to rows whose own conflict waits too: those rows keep their
-- environments' keys until it is decided, so the difference may be
-- none (two environments' ids of one customer). Its rationale names
-- the parent's conflicts to decide first; the next call compares the
-- references on the parent's final keys. So too where the parent's rows
-- were kept apart by rule 0 on such keys (a medium re-keyed apart while
-- its release's conflict waits, p351): level by level, the conflicts that
-- rest on waiting ones, with the waiting ones they rest on (`roots`).
CREATE FUNCTION tdm._note_waiting_parents(run bigint) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  e record;
  depth int := 0;  -- (the level now read: tables from the waiting rows)
BEGIN
  -- (A run whose conflicts rules settled, the common case: one look.)
  IF NOT EXISTS (SELECT FROM tdm.conflict c WHERE c.run_id = run AND c.status IN ('pending', 'stale')) THEN
    RETURN;
  END IF;
  IF to_regclass('pg_temp.tdm_waiting') IS NULL THEN
    CREATE TEMP TABLE tdm_waiting (level int, conflict_id text, rel regclass, roots text[]) ON COMMIT DROP;
  ELSE
    TRUNCATE pg_temp.tdm_waiting;
  END IF;
  INSERT INTO pg_temp.tdm_waiting
  SELECT 0, c.conflict_id, c.rel, ARRAY[c.conflict_id] FROM tdm.conflict c
   -- (by the statuses an unsettled conflict has, first: few, indexed)
   WHERE c.run_id = run AND c.status IN ('pending', 'stale', 'decided') AND tdm._unsettled(c);
  -- (Each level a table further from the waiting rows: no deeper than
  -- the tables are many.)
  WHILE depth < (SELECT count(*) FROM tdm.managed_table)
        AND EXISTS (SELECT FROM pg_temp.tdm_waiting w WHERE w.level = depth) LOOP
    FOR e IN SELECT q.* FROM (
               SELECT r.child, r.parent, r.columns, m.pk_columns,
                      -- (carried on only where some waiting conflict below would read it)
                      EXISTS (SELECT FROM tdm._managed_edges() g JOIN tdm.conflict x
                                       ON x.run_id = run AND x.rel = g.child AND x.status IN ('pending', 'stale')
                                      AND x.differing ?| g.columns
                               WHERE g.parent = r.child AND g.child <> g.parent) AS deeper
                 FROM tdm._managed_edges() r JOIN tdm.managed_table m ON m.rel = r.parent
                WHERE r.child <> r.parent
                  AND EXISTS (SELECT FROM pg_temp.tdm_waiting w WHERE w.level = depth AND w.rel = r.parent)) q
              WHERE EXISTS (SELECT FROM tdm.conflict c WHERE c.run_id = run AND c.rel = q.child
                               AND c.status IN ('pending', 'stale') AND c.differing ?| q.columns)
                 OR (q.deeper AND EXISTS (SELECT FROM tdm.conflict c WHERE c.run_id = run AND c.rel = q.child
                                             AND c.rule = 'distinct_entities' AND c.differing ?| q.columns)) LOOP
      PERFORM tdm._index_keymap();
      EXECUTE format(
        'WITH waiting AS MATERIALIZED ('
        '  SELECT w.roots, x.m ->> ''env'' AS env, %1$s AS key'
        '    FROM pg_temp.tdm_waiting w'
        '    JOIN tdm.conflict p ON p.run_id = $1 AND p.conflict_id = w.conflict_id'
        '   CROSS JOIN LATERAL jsonb_array_elements(p.members) AS x(m)'
        '   WHERE w.level = $6 AND w.rel = $2),'
        ' named AS MATERIALIZED ('
        '  SELECT c.conflict_id, c.status, c.rule, array_agg(DISTINCT r ORDER BY r) AS roots'
        '    FROM tdm.conflict c CROSS JOIN LATERAL jsonb_array_elements(c.members) AS x(m)'
        '    JOIN waiting w ON w.env = x.m ->> ''env'' AND w.key = %2$s'
        '   CROSS JOIN LATERAL unnest(w.roots) AS r'
        '   WHERE c.run_id = $1 AND c.rel = $3 AND c.differing ?| $4'
        '     AND r <> c.conflict_id'  -- (not itself, through a cycle)
        -- (and rows rule 0 kept apart by this reference: no other natural
        -- key of theirs differs, which would keep them apart anyway)
        '     AND (c.status IN (''pending'', ''stale'')'
        '          OR ($7 AND c.rule = ''distinct_entities'''
        '              AND NOT EXISTS (SELECT FROM tdm.managed_table t, unnest(t.natural_keys) AS k(spec)'
        '                               CROSS JOIN LATERAL (SELECT array_agg(btrim(x)) AS cols'
        '                                                     FROM unnest(string_to_array(k.spec, '','')) AS x) kc'
        '                               WHERE t.rel = $3 AND NOT kc.cols && $4 AND c.differing ?| kc.cols)))'
        '   GROUP BY c.conflict_id, c.status, c.rule),'
        ' noted AS ('
        '  UPDATE tdm.conflict c'
        '     SET rationale = c.rationale || format(CASE WHEN $6 = 0'
        '       THEN ''; %%s names rows of %%s whose own conflicts wait (%%s): decide those first, and the next'
        ' call compares it on their final keys'''
        '       ELSE ''; %%s names rows of %%s that reference rows whose conflicts wait (%%s): decide those first,'
        ' and the next call compares it on their final keys'' END,'
        '       $5, $2, array_to_string(n.roots, '', ''))'
        '    FROM named n'
        '   WHERE c.run_id = $1 AND c.conflict_id = n.conflict_id AND n.status IN (''pending'', ''stale''))'
        -- (the rows a rule kept apart rest on the waiting ones, a level
        -- further: their new keys were given on the waiting rows' keys)
        ' INSERT INTO pg_temp.tdm_waiting'
        ' SELECT $6 + 1, n.conflict_id, $3, n.roots FROM named n'
        '  WHERE n.status NOT IN (''pending'', ''stale'') AND n.rule = ''distinct_entities'''
        '    AND NOT EXISTS (SELECT FROM pg_temp.tdm_waiting o WHERE o.conflict_id = n.conflict_id)',
        tdm._mapped_key_sql('x.m ->> ''env''', tdm._member_key(e.parent, e.pk_columns, 'x.m -> ''row''')),
        tdm._member_key(e.child, e.columns, 'x.m -> ''row'''))
        USING run, e.parent, e.child, e.columns, tdm._column_names(e.columns), depth, e.deeper;
    END LOOP;
    depth := depth + 1;
  END LOOP;
END
$$;

-- Milliseconds since `since`, added to a phase's running total.
CREATE FUNCTION tdm._add_ms(phase_ms jsonb, phase text, since timestamptz) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
  SELECT phase_ms || jsonb_build_object(phase, coalesce((phase_ms ->> phase)::numeric, 0)
                                               + round(1000 * extract(epoch FROM clock_timestamp() - since)))
$$;

-- What consolidation needs before it starts: a locked release, the target
-- schema with every managed table.
CREATE FUNCTION tdm._consolidate_check(the_release text, the_target text, in_call bool DEFAULT false)
RETURNS tdm.release
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r tdm.release;
  missing text;
  bad_rule text;
  elsewhere text;  -- a HINT's end: the schema of the managed tables, if another
BEGIN
  r := tdm._require_release_inputs(the_release, 'consolidate');
  PERFORM tdm._require_target_name('consolidate', 'target', the_target);
  -- Master (or a schema releases were promoted into) is written by
  -- tdm.promote only: a release consolidated there would be in it without
  -- being promoted, and its promotion would then collide with its own rows.
  IF the_target = 'master'
     OR EXISTS (SELECT 1 FROM tdm.job j
                 WHERE j.kind = 'promote' AND j.status = 'completed' AND j.detail ->> 'to' = the_target) THEN
    RAISE EXCEPTION 'consolidate: target % is where releases are promoted, not a consolidation target', tdm._quoted(the_target)
      USING ERRCODE = 'invalid_parameter_value',
            HINT = format('Consolidate into a staging schema, then promote: %s then SELECT tdm.promote(%L%s);',
                          tdm._consolidate_call(the_release), the_release,
                          CASE WHEN tdm._staging_target() <> 'staging'
                               THEN format(', %L', tdm._staging_target()) ELSE '' END);
  END IF;
  PERFORM tdm._require_own_foreign_keys('consolidate');
  IF r.status = 'open' THEN
    -- (Tagged, and its findings kept it open: say where they are.)
    RAISE EXCEPTION 'consolidate: release "%" is not locked', the_release
      USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = coalesce(
              (SELECT format('Its last tagging (job %s) found %s error(s): see SELECT * FROM tdm.tag_finding'
                             ' WHERE job_id = %s AND severity = ''error''; fix them, then tag it again.',
                             j.job_id, count(f.*), j.job_id)
                 FROM tdm.job j JOIN tdm.tag_finding f ON f.job_id = j.job_id AND f.severity = 'error'
                WHERE j.job_id = (SELECT max(x.job_id) FROM tdm.job x
                                   WHERE x.kind = 'tag_release' AND x.release = the_release
                                     AND x.status = 'completed')
                GROUP BY j.job_id),
              format('Tag it first: SELECT tdm.tag_release(%L);', the_release));
  END IF;
  -- (Where the managed tables are all in another schema, a HINT's end
  -- sends there.)
  elsewhere := CASE WHEN tdm._staging_target() NOT IN (the_target, 'staging')
                    THEN format(' The managed tables are in %s: %s', quote_ident(tdm._staging_target()),
                                tdm._consolidate_call(the_release))
                    -- (in several schemas: a target still holds them in one)
                    WHEN (SELECT count(DISTINCT c.relnamespace) FROM tdm.managed_table m
                            JOIN pg_class c ON c.oid = m.rel) > 1
                    THEN format(' The managed tables are in schemas %s: create one schema with a table of each'
                                || ' name (%s ..., then their foreign keys), or name one that has them:'
                                || ' SELECT tdm.consolidate(%L, ''<schema>'');',
                                tdm._managed_schemas(),
                                (SELECT format('CREATE TABLE %I.%I (LIKE %s INCLUDING ALL);', the_target, c.relname,
                                               m.rel)
                                   FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
                                  -- (one the target lacks, if it exists)
                                  ORDER BY to_regnamespace(quote_ident(the_target)) IS NOT NULL
                                           AND tdm._target_table(the_target, m.rel) IS NOT NULL,
                                           m.rel::oid LIMIT 1),
                                the_release)
                    ELSE '' END;
  IF to_regnamespace(quote_ident(the_target)) IS NULL THEN
    RAISE EXCEPTION 'consolidate: target schema % does not exist', tdm._quoted(the_target)
      USING ERRCODE = 'invalid_schema_name',
            HINT = 'A target is a schema holding tables named like the managed tables.' || elsewhere;
  END IF;
  -- The caller's rights there, and on master's tables (earlier releases'
  -- rows are read from them).
  PERFORM tdm._require_privileges('consolidate', the_target, '{SELECT,INSERT,DELETE}');
  IF to_regnamespace('master') IS NOT NULL THEN
    PERFORM tdm._require_privileges('consolidate', 'master', '{SELECT}');
  END IF;
  SELECT string_agg(format('%s (managed as %s)', quote_ident(c.relname), m.rel), ', ' ORDER BY m.rel::oid)
    INTO missing
    FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel
   WHERE tdm._target_table(the_target, m.rel) IS NULL;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'consolidate: target % has no table %', tdm._quoted(the_target), missing
      USING ERRCODE = 'undefined_table',
            HINT = CASE WHEN missing LIKE '%), %' THEN 'Create them with the managed tables'' columns and constraints.'
                        ELSE 'Create it with the managed table''s columns and constraints.' END || elsewhere;
  END IF;
  -- The target's tables, and master's (earlier releases' rows come from
  -- there), hold the managed tables' columns: a migration applied to the
  -- environments and staging but not there is named here.
  PERFORM tdm._require_same_columns('consolidate', the_target, false);
  PERFORM tdm._require_assignable('consolidate', the_target);
  PERFORM tdm._refuse_unwritable('consolidate', ARRAY(SELECT x.rel FROM tdm._target_tables(the_target) x));
  PERFORM tdm._require_same_columns('consolidate', 'master', false);
  PERFORM tdm._require_assignable('consolidate', 'master', read_back => true);
  -- A business rule that no longer fits its table (a column renamed or
  -- dropped since) would fail validation inside its generated query.
  SELECT x.name, format('rule "%s" on %s is no longer valid: %s', x.name, x.rel, x.problem)
    INTO bad_rule, missing
    FROM (SELECT br.name, br.rel, tdm._rule_problem(br, nowait => in_call) AS problem FROM tdm.rule br) x
   WHERE x.problem IS NOT NULL ORDER BY x.name LIMIT 1;
  IF missing IS NOT NULL THEN
    RAISE EXCEPTION 'consolidate: %', missing
      USING ERRCODE = 'invalid_object_definition',
            HINT = format('Remove it (SELECT tdm.drop_rule(%L);) and add it again as the table is now.',
                          bad_rule);
  END IF;
  RETURN r;
END
$$;

-- Phase 2: in this backend (wait => true: returns the run id), or in a
-- tdm_consolidate background worker (wait => false: returns the job id at
-- once; the run id is in the job's detail).
-- A consolidation holds its locks to the end of its one transaction: about
-- 75 per managed table (its collected copy, working tables, their TOAST
-- tables and indexes; measured at 50 and 200 tables). The lock table is the
-- cluster's, max_locks_per_transaction times (its backends and prepared
-- transactions) entries: past it the call fails with "out
-- of shared memory" (some spare shared memory stretches it: 200 tables
-- passed with the defaults, 300 did not). Warned before, with the setting
-- that leaves room for the rest of the cluster, when a call would take
-- more than it.
CREATE FUNCTION tdm._warn_lock_room(caller text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  tables int := (SELECT count(*) FROM tdm.managed_table);
  -- (PostgreSQL's count of the backends the table is sized for: every
  -- kind of process that may take locks, and prepared transactions)
  slots int := current_setting('max_connections')::int + current_setting('autovacuum_max_workers')::int + 1
               + current_setting('max_worker_processes')::int + current_setting('max_wal_senders')::int
               + current_setting('max_prepared_transactions')::int;
  room bigint := current_setting('max_locks_per_transaction')::bigint * slots;
BEGIN
  IF 75 * tables > room THEN
    RAISE WARNING '%: % managed tables take about % locks in one transaction; the lock table holds %', caller,
      tables, 75 * tables, room
      USING DETAIL = 'Past it the call fails with "out of shared memory", and other sessions may too.',
            HINT = format('Raise max_locks_per_transaction to at least %1$s (ALTER SYSTEM SET'
                          ' max_locks_per_transaction = %1$s; then restart the server).',
                          ceil(150.0 * tables / slots)::int);
  END IF;
END
$$;

CREATE FUNCTION tdm.consolidate(release text, target text DEFAULT 'staging', wait bool DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit TO off SET max_parallel_workers_per_gather = 0 AS $$
DECLARE
  job bigint;
  the_run bigint;
  holder int;  -- the backend consolidating the release, if any
BEGIN
  -- (First: the checks below read the target's tables, which a session
  -- loading them holds.)
  holder := tdm._consolidating_backend(release);
  IF holder IS NOT NULL THEN
    RAISE EXCEPTION 'consolidate: release "%" is being consolidated by another session', release
      USING ERRCODE = 'lock_not_available', DETAIL = tdm._holder_detail(holder),
            HINT = 'Wait for it to finish (tdm.progress shows it), then call tdm.consolidate again.'
                   ' A session idle in transaction ends it with COMMIT.';
  END IF;
  -- (A business rule's check does not wait for the target here: the job
  -- checks it again, waiting with a progress row.)
  PERFORM tdm._consolidate_check(release, target, in_call => true);
  PERFORM tdm._warn_lock_room('consolidate');
  -- A background call of this release and target queued and not started
  -- (earlier in this transaction: its worker starts at commit) holds the
  -- run: it is this call's too, not a second job's to race it for (p322).
  IF NOT wait THEN
    SELECT j.job_id, (j.detail ->> 'run_id')::bigint INTO job, the_run
      FROM tdm.job j
     WHERE j.release = consolidate.release AND j.kind = 'consolidate' AND j.status = 'queued'
       AND j.detail ->> 'target' = consolidate.target AND j.detail ? 'run_id'
       AND j.detail ->> 'launched_in' = pg_current_xact_id_if_assigned()::text
     ORDER BY j.job_id DESC LIMIT 1;
    IF FOUND THEN
      RAISE NOTICE 'consolidate: job % of release % is queued already, for run %: this call is that job''s',
        job, release, the_run
        USING HINT = format('Wait for it with SELECT tdm.wait_job(%s); (its worker starts when the transaction'
                            ' that queued it commits).', job);
      RETURN the_run;
    END IF;
  END IF;
  job := tdm._start_job('consolidate', release, wait, jsonb_build_object('target', target));
  IF wait THEN
    RETURN tdm._consolidate_job(job);
  END IF;
  -- In the background the call returns the run id too: the run the job
  -- continues, or a new one made now, in `collecting` (`failed` if its
  -- job ends with no call having worked on it: tdm._fail_unworked_run).
  -- tdm.run.job_id names the job to wait for.
  the_run := tdm._latest_run(release, target);
  IF the_run IS NULL OR tdm._run_kept(the_run) THEN
    INSERT INTO tdm.run (release, target, job_id) VALUES (release, target, job) RETURNING run_id INTO the_run;
  ELSE
    UPDATE tdm.run x SET job_id = job WHERE x.run_id = the_run;  -- (the job of its latest call)
  END IF;
  UPDATE tdm.job j SET detail = j.detail || jsonb_build_object('run_id', the_run) WHERE j.job_id = job;
  RETURN the_run;
EXCEPTION WHEN lock_not_available THEN
  PERFORM tdm._job_lock_wait_ended('consolidate', release, target, NULL, SQLERRM);
  RAISE;
END
$$;

-- The run a call of tdm.consolidate continues for `release` and
-- `target`: the latest one not failed (a rollback fails the runs whose
-- rows it took back out of master, tdm._reconcile_runs); NULL when none.
CREATE FUNCTION tdm._latest_run(release text, target text) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT max(x.run_id) FROM tdm.run x
   WHERE x.release = _latest_run.release AND x.target = _latest_run.target AND x.status <> 'failed'
$$;

-- JIT off: its statements are many and short, and the plans of the ones
-- over rows this transaction wrote (no statistics) or with nested loops
-- disabled carry inflated costs that would make PostgreSQL JIT-compile
-- each (100-200 ms apiece; measured: a 10k-user consolidation 2.2 s with
-- JIT, 1.6 s without). Its temporary tables are analyzed for row counts
-- and key distributions only, from a small sample (statistics target 10:
-- 7 ms a table instead of 57 at 40k rows).
-- The open transactions, other than this one, that hold rows of run
-- `run` in tdm.conflict (a row's xmax, while its transaction runs), and
-- whether one wrote decisions: a reviewer's, whose decision marked its
-- conflict.
CREATE FUNCTION tdm._conflict_holders(run bigint, OUT holders text, OUT reviewers bool)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(DISTINCT format('backend %s (%s)', a.pid, a.usename), ', '),
         coalesce(bool_or(EXISTS (SELECT FROM pg_locks d
                                   WHERE d.pid = l.pid AND d.relation = 'tdm.decision'::regclass
                                     AND d.mode = 'RowExclusiveLock')), false)
    FROM (SELECT DISTINCT c.xmax FROM tdm.conflict c WHERE c.run_id = run AND c.xmax <> '0'::xid) x
    JOIN pg_locks l ON l.locktype = 'transactionid' AND l.transactionid = x.xmax AND l.mode = 'ExclusiveLock'
    JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.pid <> pg_backend_pid()
     -- (an xmax that is a multixact's id may equal an unrelated
     -- transaction's: only one that holds tdm.conflict counts)
     AND EXISTS (SELECT FROM pg_locks t WHERE t.pid = l.pid AND t.relation = 'tdm.conflict'::regclass)
$$;

CREATE FUNCTION tdm._consolidate_job(job bigint) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET DateStyle TO 'ISO, YMD' SET IntervalStyle TO 'postgres' SET TimeZone TO 'UTC' SET bytea_output TO 'hex' SET lc_monetary TO 'C'
SET xmloption TO 'content' SET array_nulls TO on SET extra_float_digits TO 1 SET jit TO off SET default_statistics_target TO 10
SET max_parallel_workers_per_gather TO 0
AS $$
#variable_conflict use_variable
DECLARE
  the_release text := (SELECT j.release FROM tdm.job j WHERE j.job_id = job);
  the_target text := (SELECT j.detail ->> 'target' FROM tdm.job j WHERE j.job_id = job);
  r tdm.release;
  run tdm.run;
  t record;
  unkeyed record;  -- a keep_all member that needs a key tdm cannot give (tdm._apply_table)
  merge_made text;  -- conflicts whose rule's merge gave a row another row's unique key
  merge_made_keys jsonb[];  -- [table, key values] of the unique violations they made
  rename_made text;  -- decisions whose renames gave a row another row's primary key
  rename_made_keys jsonb[];  -- [table, key values] of the unique violations they made
  since timestamptz;
  phase_ms jsonb := '{}';
  outcome record;
  tables jsonb := '{}';
  collected_total bigint := 0;
  turned bigint := 0;  -- collected rows of the tables whose turn is over (progress)
  archived_others text[];  -- archived releases whose rows in the target the run's rows meet (a HINT)
  merged bigint := 0;
  renamed bigint := 0;
  deleted bigint := 0;
  propagated bigint;
  earlier bigint;
  sent text[];  -- conflicts sent to review after their table's turn
  rechecked regclass[];  -- tables of such conflicts (tdm._rechecked_tables)
  missing text;
  holder int;
  waiting bigint;
  unapproved bigint;
  decided bigint;  -- conflicts settled by a decision, marked applied once loaded
  errors bigint := 0;
  warnings bigint;  -- warning-level violations, said beside the errors of an invalid run
  counted text;     -- the errors, and the warnings when there are some, as the NOTICE says them
  enforced bool;
  load_error text;
  load_message text;
  load_detail text;
  load_hint text;
  load_constraint text;
  load_table text;
  load_schema text;
  load_column text;
  load_type text;
  load_context text;
  see_violations text;  -- an invalid run's hint
  decided_keys text;    -- conflicts whose decisions gave keys other releases hold in the target
  translated_into text;  -- conflicts that translated the references a CHECK refuses
  loaded bigint;
  final_status text;
  holding record;  -- who holds the run's conflicts, when the call's wait for them ends
  what text;
BEGIN
  -- (The release's lock first: the checks read the target's tables, which
  -- a session loading them holds.)
  IF NOT pg_try_advisory_xact_lock(hashtext('tdm.consolidate'), hashtext(the_release)) THEN
    holder := tdm._consolidating_backend(the_release);
    RAISE EXCEPTION 'consolidate: release "%" is being consolidated by another session', the_release
      USING ERRCODE = 'lock_not_available',
            DETAIL = coalesce(format('Backend %s holds it.', holder), 'Another backend holds it.'),
            HINT = 'Wait for it to finish, then call tdm.consolidate again.';
  END IF;
  r := tdm._consolidate_check(the_release, the_target);
  -- Consolidations into one target take turns, to the end of the
  -- transaction: one of another release that began first is waited for
  -- (phase start), so that this one reads the rows and the key map it
  -- leaves once committed (references translated through the keys it
  -- gave), and holds nothing its load needs (two at once deadlocked on the
  -- target's indexes). The load takes the same lock (tdm._load).
  PERFORM tdm._progress(job, 'start');
  BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('tdm load'), hashtext(the_target));
  EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'consolidate: another consolidation into % holds it, and lock_timeout (%) ended the wait',
      the_target, current_setting('lock_timeout')
      USING ERRCODE = 'lock_not_available',
            DETAIL = tdm._holder_detail(tdm._advisory_holder('tdm load', the_target)),
            HINT = 'Releases are consolidated into one target one at a time: wait for that one to finish'
                   ' (its transaction to end), then call tdm.consolidate again.';
  END;

  -- Locked: its conflicts and key map refer to it (decision 57).
  SELECT * INTO run FROM tdm.run x WHERE x.run_id = tdm._latest_run(the_release, the_target)
     FOR NO KEY UPDATE;
  IF NOT FOUND OR tdm._run_kept(run.run_id) THEN
    INSERT INTO tdm.run (release, target) VALUES (the_release, the_target) RETURNING * INTO run;
  END IF;
  UPDATE tdm.job j SET detail = j.detail || jsonb_build_object('run_id', run.run_id)
   WHERE j.job_id = job;
  -- Older runs of the release no call has worked on (two background calls
  -- that each made a run, committed together: each job works the latest
  -- run): none ever will; failed, not left collecting. (Not one whose row
  -- another session holds: its call is at work on it.)
  UPDATE tdm.run x SET status = 'failed', finished_at = clock_timestamp()
   WHERE x.run_id IN (SELECT y.run_id FROM tdm.run y
                       WHERE y.release = the_release AND y.target = the_target AND y.run_id < run.run_id
                         AND y.status = 'collecting' AND y.calls = 0
                         FOR UPDATE SKIP LOCKED);
  -- (An earlier call in this transaction left its working tables; the
  -- per-table ones are made anew by tdm._record_conflicts and
  -- tdm._apply_table.)
  IF to_regclass('pg_temp.tdm_keymap') IS NOT NULL THEN
    DROP TABLE pg_temp.tdm_keymap, pg_temp.tdm_deleted, pg_temp.tdm_previous_keys,
               pg_temp.tdm_edges, pg_temp.tdm_earlier_kept, pg_temp.tdm_earlier_fk,
               pg_temp.tdm_unique_followed, pg_temp.tdm_dangling, pg_temp.tdm_env_tags,
               pg_temp.tdm_unique_dangling, pg_temp.tdm_unique_env, pg_temp.tdm_fk_before,
               pg_temp.tdm_orphans, pg_temp.tdm_turns, pg_temp.tdm_repointed, pg_temp.tdm_chained,
               pg_temp.tdm_related, pg_temp.tdm_decided_as, pg_temp.tdm_translated,
               pg_temp.tdm_translated_edges, pg_temp.tdm_unkeyed;
  END IF;
  PERFORM tdm._refresh_foreign_keys();
  CREATE TEMP TABLE tdm_edges ON COMMIT DROP AS SELECT * FROM tdm._managed_edges();
  -- Each call rebuilds the run's findings from fresh data; decisions stay,
  -- and so do the keys earlier calls generated.
  -- (A new run made because the latest is kept, tdm._run_kept: that
  -- run's keys, so that the same rows get the same keys; the first run of
  -- a promoted release into another target: the keys master holds.)
  CREATE TEMP TABLE tdm_previous_keys ON COMMIT DROP AS
    SELECT k.rel, k.env, k.old_key, k.new_key, k.conflict_id FROM tdm.key_map k
     WHERE k.run_id = CASE WHEN run.calls > 0 THEN run.run_id
                           ELSE coalesce((SELECT max(x.run_id) FROM tdm.run x
                                           WHERE x.release = the_release AND x.target = the_target
                                             AND x.run_id < run.run_id AND x.status <> 'failed'),
                                         tdm._promoted_run(the_release)) END
       AND k.reason = 'rekeyed';
  CREATE INDEX ON tdm_previous_keys (rel, env, old_key);
  -- (The decided conflicts of the earlier call join the run's list of
  -- decisions whose conflict is gone; what this call does not find again
  -- stays there, below.)
  -- (A reviewer's open transaction that wrote a decision on the run holds
  -- its conflict's row: the call waits for it here, in phase start; a
  -- lock_timeout of the caller's ends the wait with the writers named.)
  PERFORM tdm._progress(job, 'start');
  UPDATE tdm.run x
     SET decisions_gone = ARRAY(SELECT c.conflict_id FROM tdm.conflict c
                                  JOIN tdm.decision d ON d.conflict_id = c.conflict_id
                                 WHERE c.run_id = x.run_id
                                UNION SELECT unnest(x.decisions_gone))
   WHERE x.run_id = run.run_id;
  -- (The decided conflicts as their reviewers saw them: detection may
  -- rank one lower now, its parent's decision settling what made it
  -- critical, and the report and the approval rule go by what was
  -- decided; tdm._record_conflicts keeps the higher rank.)
  CREATE TEMP TABLE tdm_decided_as (conflict_id text PRIMARY KEY, class text, priority int, suggestion text,
                                    rationale text) ON COMMIT DROP;
  BEGIN
    WITH gone AS (DELETE FROM tdm.conflict WHERE run_id = run.run_id RETURNING *)
    INSERT INTO pg_temp.tdm_decided_as
    SELECT g.conflict_id, g.class, g.priority, g.suggestion, g.rationale FROM gone g
     WHERE g.status IN ('decided', 'applied') AND EXISTS (SELECT FROM tdm.decision d WHERE d.conflict_id = g.conflict_id);
  EXCEPTION WHEN lock_not_available OR query_canceled THEN
    -- (A statement_timeout or a cancel ends the wait as well: said with
    -- what it waited for, under the cancel's own SQLSTATE. The holders
    -- are the transactions that hold the run's conflicts: a reviewer's,
    -- whose decision marked its conflict, or another session's.)
    holding := tdm._conflict_holders(run.run_id);
    IF SQLSTATE = '57014' AND holding.holders IS NULL THEN
      RAISE EXCEPTION 'consolidate: %, while it replaced the conflicts of run % (release %)',
        SQLERRM, run.run_id, the_release
        USING ERRCODE = SQLSTATE,
              DETAIL = 'No open transaction holds them now.',
              HINT = 'Call tdm.consolidate again (with a longer statement_timeout, if that ended the call).';
    END IF;
    what := CASE WHEN holding.reviewers THEN 'an open transaction that holds decisions on the conflicts'
                 ELSE 'an open transaction that holds the conflicts' END;
    RAISE EXCEPTION '%', CASE WHEN SQLSTATE = '57014'
        THEN format('consolidate: %s, while it waited for %s of run %s (release %s)',
                    SQLERRM, what, run.run_id, the_release)
        ELSE format('consolidate: %s of run %s (release %s), and lock_timeout (%s) ended the wait',
                    replace(what, 'transaction that holds', 'transaction holds'), run.run_id, the_release,
                    current_setting('lock_timeout')) END
      USING ERRCODE = SQLSTATE,
            DETAIL = format('Open transactions that hold them: %s.', coalesce(holding.holders, 'none now')),
            HINT = CASE WHEN holding.holders IS NULL THEN 'It has ended since: call tdm.consolidate again.'
                        ELSE CASE WHEN holding.reviewers THEN 'Each reviewer commits or rolls back'
                                  ELSE 'That session commits or rolls back' END
                             || ' (a DBA can end a forgotten transaction with pg_terminate_backend(pid)); then call'
                                ' tdm.consolidate again.' END;
  END;
  DELETE FROM tdm.key_map WHERE run_id = run.run_id;
  DELETE FROM tdm.violation WHERE run_id = run.run_id;
  UPDATE tdm.run x SET job_id = job, status = 'collecting', calls = x.calls + 1, finished_at = NULL,
                      rows_loaded = 0, decisions = NULL
   WHERE x.run_id = run.run_id;

  -- (row_hash: a re-pointed row, by its hash at collection, tdm._note_repointed)
  -- (to_env: a merged row's survivor's environment)
  CREATE TEMP TABLE tdm_keymap (rel regclass, env text, old_key text[], old_json jsonb,
                                new_key text[], new_json jsonb, reason text, conflict_id text,
                                row_hash bigint, to_env text)
    ON COMMIT DROP;  -- (joined by hash: no index to keep up)
  -- (key map entries tdm._propagate took into a re-pointed one: a row
  -- re-pointed by its parent, then renamed or re-keyed by its conflict)
  CREATE TEMP TABLE tdm_chained (rel regclass, env text, old_key text[], new_key text[], reason text)
    ON COMMIT DROP;
  -- (child rows per conflict member, tdm._relate)
  CREATE TEMP TABLE tdm_related (conflict_id text, child regclass, label text, n bigint) ON COMMIT DROP;
  -- (earlier: deleted by an earlier release's decision, tdm._translate_earlier)
  -- (old_row: the deleted row's values, for children that reference
  -- another unique key of it)
  -- (row_hash: the collected row's, where this call deleted it; its key
  -- may be another row's of the environment by then, a re-pointed one's)
  -- (`merged_into`: of a copy merged into a row a decision deleted, gone
  -- with it for its children, that row as messages name it; `copy`: one
  -- merged before that row was deleted, counted merged, as it was)
  CREATE TEMP TABLE tdm_deleted (rel regclass, env text, key text[], conflict_id text,
                                 earlier bool NOT NULL DEFAULT false, old_row jsonb, row_hash bigint,
                                 merged_into text, copy bool NOT NULL DEFAULT false) ON COMMIT DROP;
  CREATE TEMP TABLE tdm_earlier_kept (rel regclass, key text[]) ON COMMIT DROP;
  -- (collected rows whose parent (by the foreign key `columns`) a decision
  -- deleted: members of relationship conflicts, by their hash at
  -- collection; validation refuses those kept, tdm._validate_table)
  CREATE TEMP TABLE tdm_orphans (rel regclass, name text, columns text[], ref_columns text[], env text,
                                 row_hash bigint, parent regclass, key text[], conflict_id text,
                                 old_row jsonb, related bool NOT NULL DEFAULT false,
                                 parent_env text,  -- (the deleted row's: another, for a row that followed a merge)
                                 merged_into text,  -- (the deleted parent's, tdm_deleted)
                                 related_id text)  -- (its relationship conflict, tdm._relate_orphans)
    ON COMMIT DROP;
  -- (collected child rows whose foreign key `edge` tdm._propagate
  -- translated while the parent had rows a decision deleted, and the
  -- environment of the row it names now: a translated key may equal a
  -- deleted row's own key in the child's environment, and name another
  -- row, tdm._orphan_children)
  CREATE TEMP TABLE tdm_translated (rel regclass, edge text, env text, row_hash bigint, to_env text,
                                    PRIMARY KEY (rel, edge, env, row_hash))
    ON COMMIT DROP;
  -- (the references whose translated rows are noted there)
  CREATE TEMP TABLE tdm_translated_edges (rel regclass, edge text) ON COMMIT DROP;
  -- (the tables whose turn to detect and resolve came, tdm._relate_orphans)
  CREATE TEMP TABLE tdm_turns (rel regclass) ON COMMIT DROP;
  -- (orphans whose references a relationship conflict's merge set, by its
  -- decision: validation names it, tdm._relate_orphans)
  CREATE TEMP TABLE tdm_repointed (rel regclass, env text, row_hash bigint, columns text[], conflict_id text)
    ON COMMIT DROP;
  -- (rows whose foreign key to another unique key followed its parent,
  -- tdm._follow_unique_refs)
  CREATE TEMP TABLE tdm_unique_followed (rel regclass, env text, old_row jsonb, final_row jsonb,
                                         keyed bool NOT NULL DEFAULT false, row_hash bigint)
    ON COMMIT DROP;
  -- (child rows whose foreign key speaks of an earlier release's row: its
  -- new key, or, orphan, the key of a row that release deleted)
  -- (a row by its hash at collection: updates change its key, not that)
  CREATE TEMP TABLE tdm_earlier_fk (rel regclass, edge text, env text, row_hash bigint,
                                    orphan bool NOT NULL DEFAULT false) ON COMMIT DROP;
  CREATE INDEX ON tdm_earlier_fk (rel, edge, env, row_hash);
  -- (keys this release's rows reference and does not bring, and the
  -- release the environment's row of that key belongs to now)
  CREATE TEMP TABLE tdm_dangling (rel regclass, env text, key text[]) ON COMMIT DROP;
  -- (tag: the row's own, and release too unless that release loaded no
  -- row of that key; answer: then the release that loaded one last)
  CREATE TEMP TABLE tdm_env_tags (rel regclass, env text, key text[], release text, nk_values jsonb,
                                  tag text, answer text)
    ON COMMIT DROP;
  -- (the same for a foreign key to another unique key, one at a time)
  CREATE TEMP TABLE tdm_unique_dangling (env text, v text[]) ON COMMIT DROP;
  -- (keep_all members that need a key tdm cannot give: refused if the run
  -- goes on to validation, tdm._apply_table)
  CREATE TEMP TABLE tdm_unkeyed (message text, detail text, hint text) ON COMMIT DROP;
  CREATE TEMP TABLE tdm_unique_env (env text, v text[], old_row jsonb, pk jsonb, release text) ON COMMIT DROP;
  -- (overlapping foreign keys' values as the environments have them,
  -- tdm._note_fk_before)
  CREATE TEMP TABLE tdm_fk_before (rel regclass, edge text, env text, row_hash bigint, key text[])
    ON COMMIT DROP;
  CREATE INDEX ON tdm_fk_before (rel, edge, env, row_hash);

  -- Collect (refuses data that no longer matches the release lock).
  since := clock_timestamp();
  -- (rows done as they arrive, tdm._collect_rows; of the rows locked)
  PERFORM tdm._progress(job, 'collect', 0, (SELECT coalesce(sum(l.row_count), 0)::bigint FROM tdm.release_lock l
                                            WHERE l.release = the_release));
  FOR t IN SELECT * FROM tdm._collect(the_release) LOOP
    tables := tables || jsonb_build_object(t.rel::text, jsonb_build_object(
      'collected', t.row_count, 'by_env', t.by_env));
    collected_total := collected_total + t.row_count;
    IF t.row_count > 0 THEN  -- (an empty one is skipped, or gets master's rows only with rows of its own)
      EXECUTE format('ANALYZE %s', t.collected);
    END IF;
  END LOOP;
  -- (children spelled as their environment's parents: tdm._spell_references)
  PERFORM tdm._zero_float_keys();
  PERFORM tdm._spell_references(the_release, the_target);
  -- Rows an earlier release in master loaded under other keys, brought again.
  PERFORM tdm._translate_returning(the_release, the_target);
  PERFORM tdm._note_fk_before();
  -- Foreign keys to rows of earlier releases that got another key then.
  PERFORM tdm._translate_earlier(the_release, the_target);
  phase_ms := tdm._add_ms(phase_ms, 'collect', since);

  -- Detect and resolve, parents first: a child's keys are translated
  -- through its parents' key map before its own conflicts are detected.
  UPDATE tdm.run x SET status = 'detecting' WHERE x.run_id = run.run_id;
  rechecked := tdm._rechecked_tables();
  FOR t IN SELECT o.rel, o.step FROM tdm._table_order() o ORDER BY o.step LOOP
    -- (rows, as collection and the load count: the collected rows of the
    -- tables whose turn is over)
    PERFORM tdm._progress(job, 'detect and resolve', turned, collected_total);
    turned := turned + coalesce((tables -> t.rel::text ->> 'collected')::bigint, 0);
    since := clock_timestamp();
    INSERT INTO pg_temp.tdm_turns VALUES (t.rel);
    -- A table the release brings no row of, that no key map entry or
    -- deleted row speaks of (its parents' or an earlier release's): nothing
    -- to detect or resolve, and nothing for its children to follow. (Most
    -- tables, for most releases: each turn costs some 30 ms of statements.)
    -- (Its collected count, from collection: no row is added to a table
    -- before its turn.)
    IF (tables -> t.rel::text ->> 'collected')::bigint = 0
       AND NOT EXISTS (SELECT FROM pg_temp.tdm_keymap k WHERE k.rel = t.rel)
       AND NOT EXISTS (SELECT FROM pg_temp.tdm_deleted d WHERE d.rel = t.rel) THEN
      tables := jsonb_set(tables, ARRAY[t.rel::text], tables -> t.rel::text || '{"merged": 0, "renamed": 0}');
      phase_ms := tdm._add_ms(phase_ms, 'detect', since);  -- (a release of no rows still has the phase)
      CONTINUE;
    END IF;
    -- (rows whose parent a decision deleted: relationship conflicts)
    deleted := deleted + tdm._relate_orphans(run.run_id, the_release, t.rel, merges => false);
    earlier := tdm._collect_earlier(the_release, t.rel);
    PERFORM tdm._record_conflicts(run.run_id, the_release, t.rel,
                                  (tables -> t.rel::text ->> 'collected')::bigint + earlier);
    phase_ms := tdm._add_ms(phase_ms, 'detect', since);
    since := clock_timestamp();
    outcome := tdm._apply_table(run.run_id, tdm._target_table(the_target, t.rel), t.rel);
    PERFORM tdm._drop_moot_relations(run.run_id, t.rel);
    -- (relationship conflicts' merges after the table's own conflicts,
    -- whose members stay the rows as collected)
    PERFORM tdm._relate_merges(run.run_id, t.rel);
    outcome.renamed := outcome.renamed + tdm._repointed_kept(t.rel);
    PERFORM tdm._follow_unique_refs(run.run_id, t.rel);
    propagated := tdm._propagate(run.run_id, the_release, t.rel);
    PERFORM tdm._relate(run.run_id, t.rel, t.rel = ANY (rechecked));
    IF earlier > 0 THEN  -- (else master's rows are neither collected nor kept)
      PERFORM tdm._settle_earlier(t.rel);
    END IF;
    merged := merged + outcome.merged;
    renamed := renamed + outcome.renamed;
    deleted := deleted + outcome.deleted + propagated;
    tables := jsonb_set(tables, ARRAY[t.rel::text], tables -> t.rel::text || jsonb_build_object(
      'merged', outcome.merged, 'renamed', outcome.renamed));
    phase_ms := tdm._add_ms(phase_ms, 'resolve', since);
  END LOOP;
  PERFORM tdm._progress(job, 'detect and resolve', turned, collected_total);
  -- (what the conflicts these send to review carry along: they were
  -- settled by a rule when their table's turn counted the children)
  sent := tdm._recheck_cycle_entries(run.run_id) || tdm._recheck_borrowed_splits(run.run_id);
  PERFORM tdm._give_related(run.run_id, sent);
  PERFORM tdm._note_waiting_parents(run.run_id);
  -- Deleted rows per table (delete_all, and children deleted with them).
  FOR t IN SELECT o.rel, (SELECT count(*) FROM pg_temp.tdm_deleted d
                           WHERE d.rel = o.rel AND NOT d.earlier AND NOT d.copy) AS n
             FROM tdm._table_order() o LOOP
    tables := jsonb_set(tables, ARRAY[t.rel::text],
                        tables -> t.rel::text || jsonb_build_object('deleted', t.n));
  END LOOP;
  -- Rows given a new key and then deleted by a decision on their
  -- relationship conflict (an employee re-keyed, whose manager a decision
  -- deleted) count as deleted, not renamed.
  FOR t IN SELECT k.rel, count(DISTINCT (k.env, k.new_key)) AS n
             FROM pg_temp.tdm_keymap k
             JOIN pg_temp.tdm_deleted d ON d.rel = k.rel AND d.env = k.env AND d.key = k.new_key
                                       AND NOT d.earlier AND NOT d.copy
            WHERE k.reason IN ('rekeyed', 'renamed') GROUP BY k.rel LOOP
    renamed := renamed - t.n;
    tables := jsonb_set(tables, ARRAY[t.rel::text, 'renamed'],
                        to_jsonb((tables -> t.rel::text ->> 'renamed')::bigint - t.n));
  END LOOP;
  since := clock_timestamp();
  -- Values reviewers typed (merged values, renames) are masked as the
  -- collected rows were (tdm._apply_masks): the tables with masks whose
  -- conflicts of this run have such decisions.
  -- (Only where masks and such decisions are at all: each of them is
  -- looked for among the run's conflicts otherwise.)
  FOR t IN SELECT DISTINCT c.rel FROM tdm.conflict c JOIN tdm.decision d ON d.conflict_id = c.conflict_id
            WHERE EXISTS (SELECT FROM tdm.mask) AND EXISTS (SELECT FROM tdm.decision)
              AND c.run_id = run.run_id AND (d.merged IS NOT NULL OR d.renames IS NOT NULL)
              AND EXISTS (SELECT FROM tdm.mask k WHERE k.rel = c.rel) LOOP
    PERFORM tdm._apply_masks(t.rel, format('pg_temp.%I', tdm._collected_name(t.rel))::regclass, again => true);
  END LOOP;
  -- (Not a row a decision deleted after its parent's new key re-pointed
  -- it: it has no final key. Its entry served to translate its children.)
  -- (A row brought again under the key an earlier release gave it,
  -- tdm._translate_returning, by its environment's key.)
  INSERT INTO tdm.key_map (run_id, rel, env, old_key, new_key, reason, conflict_id)
  SELECT run.run_id, k.rel, k.env, coalesce(brought.old_json, k.old_json), k.new_json, k.reason, k.conflict_id
    FROM pg_temp.tdm_keymap k
    LEFT JOIN pg_temp.tdm_returning brought
           ON brought.rel = k.rel AND brought.env = k.env AND brought.new_json = k.old_json
   WHERE NOT (k.reason = 'repointed'
              AND EXISTS (SELECT FROM pg_temp.tdm_deleted dl
                           WHERE dl.rel = k.rel AND NOT dl.earlier AND dl.env = k.env
                             AND CASE WHEN dl.row_hash IS NOT NULL AND k.row_hash IS NOT NULL
                                      THEN dl.row_hash = k.row_hash
                                      ELSE dl.key = k.new_key END))
     -- (Nor a row merged into a row a decision deleted later in the run, on
     -- its relationship conflict: gone with it, it has no final key; its
     -- conflict's deleted_along says so to later releases, whose
     -- references to it are relationship conflicts, where this entry sent
     -- them to a key no row has, or another row takes.)
     AND NOT (k.reason = 'merged'
              AND EXISTS (SELECT FROM pg_temp.tdm_deleted dl
                           WHERE dl.copy AND dl.rel = k.rel AND dl.env = k.env AND dl.key = k.old_key));
  -- The rows each decision deleted along with its conflict's members (the
  -- call recorded the run's conflicts afresh).
  UPDATE tdm.conflict c SET deleted_along = a.rows
    FROM (SELECT d.conflict_id,
                 jsonb_agg(jsonb_build_object('env', d.env, 'row', d.old_row, 'into', d.merged_into)
                           ORDER BY d.rel::text, d.env, d.key) AS rows
            FROM pg_temp.tdm_deleted d WHERE NOT d.earlier AND d.merged_into IS NOT NULL
           GROUP BY d.conflict_id) a
   WHERE c.run_id = run.run_id AND c.conflict_id = a.conflict_id
     -- (none deleted along: the run's conflicts are not read)
     AND EXISTS (SELECT FROM pg_temp.tdm_deleted d WHERE NOT d.earlier AND d.merged_into IS NOT NULL);
  PERFORM tdm._map_returning(run.run_id);
  phase_ms := tdm._add_ms(phase_ms, 'resolve', since);

  SELECT count(*) AS n_all, count(*) FILTER (WHERE c.rule <> 'manual') AS n_auto,
         count(*) FILTER (WHERE c.rule = 'manual') AS n_manual,
         count(*) FILTER (WHERE c.status IN ('pending', 'stale')) AS n_waiting,
         count(*) FILTER (WHERE c.status = 'decided') AS n_decided,
         count(*) FILTER (WHERE c.status = 'decided' AND c.priority = 1
                            AND (SELECT d.approved_by FROM tdm.decision d
                                  WHERE d.conflict_id = c.conflict_id) IS NULL) AS n_unapproved
    INTO t FROM tdm.conflict c WHERE c.run_id = run.run_id;
  waiting := t.n_waiting;
  -- A call that waits for review applies no pending or stale decision:
  -- the keys earlier calls gave its rows stay in the run's map, so that
  -- the call that applies it gives them again (decision 108).
  IF waiting > 0 THEN
    INSERT INTO tdm.key_map (run_id, rel, env, old_key, new_key, reason, conflict_id)
    SELECT run.run_id, p.rel, p.env, p.old_key, p.new_key, 'rekeyed', p.conflict_id
      FROM pg_temp.tdm_previous_keys p
     WHERE NOT EXISTS (SELECT FROM tdm.key_map k WHERE k.run_id = run.run_id AND k.rel = p.rel
                                                   AND k.env = p.env AND k.old_key = p.old_key);
  END IF;
  decided := t.n_decided;
  UPDATE tdm.run x SET rows_collected = collected_total, conflicts = t.n_all, auto_resolved = t.n_auto,
                       manual = t.n_manual, rows_merged = merged, rows_renamed = renamed,
                       rows_deleted = deleted, tables = tables, phase_ms = phase_ms
   WHERE x.run_id = run.run_id;
  unapproved := t.n_unapproved;
  -- Decisions on conflicts an earlier call of the run found and this one
  -- does not (a member deleted, one left or joined, so the id changed; or
  -- the conflict no longer arises, its parent's delete_all withdrawn): they
  -- do not apply. Kept in the run, and said at every call, until their
  -- conflict is back or they are withdrawn.
  UPDATE tdm.run x
     SET decisions_gone = nullif(ARRAY(
           SELECT g.conflict_id FROM unnest(x.decisions_gone) AS g(conflict_id)
            WHERE EXISTS (SELECT 1 FROM tdm.decision d WHERE d.conflict_id = g.conflict_id)
              AND NOT EXISTS (SELECT 1 FROM tdm.conflict c
                               WHERE c.run_id = x.run_id AND c.conflict_id = g.conflict_id)
            ORDER BY 1), '{}')
   WHERE x.run_id = run.run_id
  -- (the first ten named: a thousand ids would bury the message)
  RETURNING CASE WHEN cardinality(x.decisions_gone) > 10
                 THEN format('%s decisions (%s)', cardinality(x.decisions_gone), tdm._first_ten(x.decisions_gone))
                 ELSE 'decisions ' || array_to_string(x.decisions_gone, ', ') END INTO missing;
  IF missing IS NOT NULL THEN
    RAISE NOTICE 'consolidate: run % of % does not find the conflicts of %: they do not apply',
      run.run_id, the_release, missing
      USING DETAIL = 'A conflict''s id is of its members: one was deleted, left the conflict or joined it, or the'
                     ' conflict no longer arises (its parent''s delete_all withdrawn). tdm.run.decisions_gone lists them.',
            HINT = 'See the members'' conflicts in tdm.conflict and decide them if needed; a decision applies again'
                   ' when its conflict comes back, and one that will not can be withdrawn (DELETE FROM tdm.decision).';
  END IF;

  -- A release in master (or archived from it) takes no decision (its rows
  -- are as its decisions loaded them): conflicts that wait, stale ones
  -- (their members changed since: a mask declared, an environment's row)
  -- or new ones, would leave it waiting for good. Refused, nothing changed.
  IF waiting > 0 AND tdm._presence(r.status) <> 'neither' THEN
    RAISE EXCEPTION 'consolidate: release % is %, and collected again its rows give % conflict(s) to review (% stale: decided on members that changed since)',
      the_release, r.status, waiting,
      (SELECT count(*) FROM tdm.conflict c WHERE c.run_id = run.run_id AND c.status = 'stale')
      USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Run %s stays as it was. Decisions cannot change for a release in %s, and its rows there'
                            ' are as they were loaded.', run.run_id, coalesce(tdm._promoted_to(the_release), 'master')),
            HINT = coalesce(
                     -- (what tdm.audit says changed since: a table registered
                     -- again, other keys or core columns, whose rules settle
                     -- otherwise; a mask declared, changed or removed, which
                     -- changes the members' rows)
                     (SELECT format('Since the release was consolidated (see tdm.audit): %s. Undo that (register'
                                    ' the table as it was, the mask as it was), or put the change in a new release.',
                                    string_agg(DISTINCT CASE a.action
                                                 WHEN 'manage_table' THEN a.object || ' registered again'
                                                 WHEN 'mask_column' THEN 'a mask declared on ' || a.object
                                                 ELSE 'the mask of ' || a.object || ' removed' END, '; '))
                        FROM tdm.audit a
                       WHERE a.action IN ('manage_table', 'mask_column', 'unmask_column')
                         -- (this run as it was loaded: its row as the call found it)
                         AND a.at > coalesce(run.finished_at,
                                             (SELECT max(x.finished_at) FROM tdm.run x
                                               WHERE x.release = the_release AND x.status = 'completed'))
                      HAVING count(*) > 0),
                     'Undo what changed the rows since it was consolidated (an environment''s row), or put the'
                     ' changes in a new release.');
  END IF;
  -- (a keep_all that needs a key tdm cannot give, where nothing waits for
  -- a reviewer that might merge its row away: refused now)
  IF waiting + unapproved = 0 THEN
    SELECT * INTO unkeyed FROM pg_temp.tdm_unkeyed LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION '%', unkeyed.message
        USING ERRCODE = 'invalid_parameter_value', DETAIL = unkeyed.detail, HINT = unkeyed.hint;
    END IF;
  END IF;
  IF waiting + unapproved > 0 THEN
    final_status := 'awaiting_review';
    RAISE NOTICE 'consolidate: run % of % awaits review: % conflict(s) in tdm.review_queue%, % priority 1 decision(s) awaiting approval',
      run.run_id, the_release, waiting,
      (SELECT CASE WHEN count(*) > 0 THEN format(' (%s stale: decided on members that changed since)', count(*))
                   ELSE '' END
         FROM tdm.conflict c WHERE c.run_id = run.run_id AND c.status = 'stale'),
      unapproved;
  ELSE
    -- Validate. Where the target enforces every constraint at once (no
    -- deferred or disabled checks, no triggers of its own), the load finds
    -- any row that breaks one, and a failed load rolls back: only the
    -- business rules are checked first, and the constraints are validated
    -- (every violation recorded) when a rule or the load fails. Otherwise
    -- everything is validated first.
    since := clock_timestamp();
    UPDATE tdm.run x SET status = 'validating' WHERE x.run_id = run.run_id;
    enforced := tdm._target_enforces(the_target);
    errors := tdm._validate_tables(job, run.run_id, the_release, the_target,
                                   CASE WHEN enforced THEN 'rules' ELSE 'all' END);
    IF enforced AND errors > 0 THEN
      errors := errors + tdm._validate_tables(job, run.run_id, the_release, the_target,
                                              'constraints');
    END IF;
    phase_ms := tdm._add_ms(phase_ms, 'validate', since);
    IF errors = 0 THEN
      since := clock_timestamp();
      UPDATE tdm.run x SET status = 'loading' WHERE x.run_id = run.run_id;
      PERFORM tdm._progress(job, 'load', 0, collected_total - merged - deleted);
      BEGIN
        loaded := tdm._load(run.run_id, the_release, the_target);
        -- (every row loaded, or held as loaded: those written by a
        -- statement, or left as they were, are counted only now)
        PERFORM tdm._progress(job, 'load', loaded, loaded);
      EXCEPTION WHEN integrity_constraint_violation OR data_exception THEN
        GET STACKED DIAGNOSTICS load_error = RETURNED_SQLSTATE, load_message = MESSAGE_TEXT,
                                load_detail = PG_EXCEPTION_DETAIL, load_hint = PG_EXCEPTION_HINT,
                                load_constraint = CONSTRAINT_NAME, load_table = TABLE_NAME,
                                load_schema = SCHEMA_NAME, load_column = COLUMN_NAME,
                                load_type = PG_DATATYPE_NAME;
        phase_ms := tdm._add_ms(phase_ms, 'load', since);
        -- (Where the target does not enforce everything at insert time,
        -- validation checked every constraint before the load already.)
        IF enforced THEN
          since := clock_timestamp();
          UPDATE tdm.run x SET status = 'validating' WHERE x.run_id = run.run_id;
          errors := tdm._validate_tables(job, run.run_id, the_release, the_target, 'constraints');
          phase_ms := tdm._add_ms(phase_ms, 'validate', since);
        END IF;
        -- (An index the load builds after the rows, as pg_restore does,
        -- fails as "could not create unique index": the DBA created none.)
        IF load_message ~ '^could not create (unique index|exclusion constraint) ' THEN
          load_message := format('consolidate: the rows loaded into %s break its %s',
                                 coalesce(quote_ident(load_schema) || '.' || quote_ident(load_table),
                                          the_target),
                                 substr(load_message, length('could not create ') + 1));
        ELSIF load_message NOT LIKE 'consolidate: %' THEN
          load_message := 'consolidate: ' || load_message;
        END IF;
        IF errors = 0 THEN
          -- What validation does not check: master's rows that come along.
          load_hint := coalesce(nullif(load_hint, ''),
                                'Nothing was loaded. Validation found nothing wrong with the rows:'
                                ' it checks NOT NULL, CHECK, unique and exclusion constraints, unique'
                                ' indexes, foreign keys and the business rules of the release''s rows as'
                                ' collected, not what a trigger of the target changes in them as they go in'
                                || coalesce(' (on INSERT: ' || tdm._writing_triggers(the_target, 4) || ')', '')
                                || CASE WHEN to_regnamespace('master') IS NOT NULL
                                        THEN ', nor the CHECK, NOT NULL and foreign key constraints of master''s'
                                             ' rows that come along with the release because its rows reference'
                                             ' them (one added NOT VALID that master breaks)'
                                        ELSE '' END
                                || '. Fix what the error names, then consolidate again.');
          IF coalesce(load_detail, '') = '' THEN
            RAISE EXCEPTION USING ERRCODE = load_error, MESSAGE = load_message, HINT = load_hint,
                                  CONSTRAINT = load_constraint, TABLE = load_table,
                                  SCHEMA = load_schema, COLUMN = load_column, DATATYPE = load_type;
          END IF;
          RAISE EXCEPTION USING ERRCODE = load_error, MESSAGE = load_message, DETAIL = load_detail,
                                HINT = load_hint, CONSTRAINT = load_constraint, TABLE = load_table,
                                SCHEMA = load_schema, COLUMN = load_column, DATATYPE = load_type;
        END IF;
      WHEN lock_not_available THEN
        -- (The caller's lock_timeout ended a wait for a lock on the
        -- target's tables: a session writing them, or one holding a
        -- stronger lock. The sessions are named.)
        PERFORM tdm._lock_wait_ended('consolidate', 'the load into ' || the_target, 'its tables', ARRAY[the_target],
                                     'Nothing was loaded, and the run is as it was.', SQLERRM);
        RAISE;
      WHEN raise_exception OR undefined_function OR undefined_table OR undefined_object THEN
        -- Code of the target's own (a trigger, or a function a rule or a
        -- default calls) refused a row, or did not find a name: say where,
        -- and that nothing went in.
        GET STACKED DIAGNOSTICS load_error = RETURNED_SQLSTATE, load_message = MESSAGE_TEXT,
                                load_detail = PG_EXCEPTION_DETAIL, load_hint = PG_EXCEPTION_HINT,
                                load_context = PG_EXCEPTION_CONTEXT;
        PERFORM tdm._raise_own_code('consolidate', 'the load into ' || the_target, the_target, 'Nothing was loaded',
                                    'Change the code, or the rows in the environments (then tag again), and'
                                    ' consolidate again.', 12, load_message, load_detail, load_hint, load_context,
                                    load_error);
      END;
    END IF;
    IF errors > 0 THEN
      final_status := 'invalid';
      -- (A NULL DETAIL is refused; an empty one would still be shown.)
      see_violations := format('See SELECT * FROM tdm.violation WHERE run_id = %s; and tdm.report(%s).',
                               run.run_id, run.run_id);
      -- (Violations a rule's merge made: named below, not explained here.)
      SELECT coalesce(array_agg(DISTINCT jsonb_build_array(m.rel::oid, m.key_values)), '{}'),
             string_agg(DISTINCT format('%s (%s)', m.conflict_id, m.key_values), ', ')
        INTO merge_made_keys, merge_made
        FROM tdm._merge_made_violations(run.run_id) m;
      -- (And those a decision's renames made: a row given, by keep_all,
      -- the primary key of a row of the release that no conflict met.)
      SELECT coalesce(array_agg(DISTINCT jsonb_build_array(v.rel::oid, v.detail -> 'values')), '{}'),
             string_agg(DISTINCT format('%s (%s''s %s, renamed %s)', k.conflict_id, k.env, k.old_key, k.new_key),
                        ', ')
        INTO rename_made_keys, rename_made
        FROM tdm.violation v
        JOIN tdm.key_map k ON k.run_id = v.run_id AND k.rel = v.rel AND k.reason = 'renamed'
                          AND k.env = v.row_key ->> 'env' AND k.new_key = v.row_key -> 'key'
       -- (on the primary key: another unique key the renamed row shares
       -- is no key the renames gave)
       WHERE v.run_id = run.run_id AND v.kind = 'unique' AND v.detail ->> 'with' = 'other collected rows'
         AND v.detail -> 'values' = k.new_key;
      IF rename_made IS NOT NULL THEN
        see_violations := see_violations
          || format(' A decision''s renames gave a row the primary key of another row of the release: conflict'
                    || ' %s. Decide it again with a key no row holds (renames), then consolidate again.',
                    rename_made);
      END IF;
      -- Collected rows the target's unique keys call equal, which no
      -- conflict grouped (detection compares keys as they are spelled, or
      -- as numeric, float and citext compare: 'Bob@x' and 'bob@x' under a
      -- case-insensitive collation): no decision can settle them.
      -- (By whether the key's columns are a registered natural key: else
      -- rows that share it meet in no conflict, however they are spelled.)
      FOR t IN SELECT DISTINCT EXISTS (SELECT 1 FROM tdm.managed_table m, unnest(m.natural_keys) AS nk
                                        WHERE m.rel = v.rel
                                          AND ARRAY(SELECT btrim(c) FROM unnest(string_to_array(nk, ',')) AS c
                                                     ORDER BY 1)
                                              = ARRAY(SELECT k FROM jsonb_object_keys(v.detail -> 'values') AS k
                                                       ORDER BY 1)) AS natural,
                                 EXISTS (SELECT 1 FROM tdm.managed_table m
                                          WHERE m.rel = v.rel
                                            AND ARRAY(SELECT c FROM unnest(m.pk_columns) AS c ORDER BY 1)
                                                = ARRAY(SELECT k FROM jsonb_object_keys(v.detail -> 'values') AS k
                                                         ORDER BY 1)) AS primary_key,
                                 EXISTS (SELECT 1 FROM tdm.managed_table m
                                          WHERE m.rel = v.rel AND m.normalize_keys) AS normalized,
                                 -- (a key holding a reference to the table's own rows, a tree's parent_id)
                                 EXISTS (SELECT 1 FROM pg_constraint f
                                           JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = ANY (f.conkey)
                                          WHERE f.conrelid = v.rel AND f.confrelid = v.rel AND f.contype = 'f'
                                            AND v.detail -> 'values' ? a.attname) AS self_reference,
                                 -- (two rows with the key spelled alike: given it by decisions)
                                 EXISTS (SELECT 1 FROM tdm.violation w
                                          WHERE w.run_id = v.run_id AND w.rel = v.rel AND w.kind = 'unique'
                                            AND w.detail ->> 'constraint' = v.detail ->> 'constraint'
                                            AND (w.detail -> 'values')::text = (v.detail -> 'values')::text
                                            AND w.row_key <> v.row_key)
                                 -- (else alike only as jsonb spells them: no decision gave them)
                                 AND EXISTS (SELECT 1 FROM tdm.decision d JOIN tdm.conflict c USING (conflict_id)
                                              WHERE c.run_id = v.run_id AND c.rel = v.rel
                                                AND (d.renames IS NOT NULL OR d.merged IS NOT NULL)) AS same_spelling
                 FROM tdm.violation v
                WHERE v.run_id = run.run_id AND v.kind = 'unique'
                  AND v.detail ->> 'with' = 'other collected rows'
                  AND NOT EXISTS (SELECT 1 FROM jsonb_each(v.detail -> 'values') e WHERE e.value = 'null')
                  AND NOT tdm._computed_violation(v, the_target)
                  AND NOT jsonb_build_array(v.rel::oid, v.detail -> 'values') = ANY (merge_made_keys)
                  AND NOT jsonb_build_array(v.rel::oid, v.detail -> 'values') = ANY (rename_made_keys)
                  AND NOT tdm._decision_gave_key(v)
                ORDER BY 1, 2, 3 LOOP
        see_violations := see_violations || CASE WHEN t.primary_key AND NOT t.natural AND t.same_spelling THEN
             ' Rows given the same primary key (two decisions'' renames, taken at once, say) cannot both'
          || ' load: decide one of their conflicts again with another key.'
          WHEN t.primary_key AND NOT t.natural THEN
             ' Rows whose primary keys the target calls equal but that are spelled differently (under a'
          || ' case-insensitive collation, say) form no conflict: detection compares primary keys as they are'
          || ' spelled (numeric, float, bpchar and citext keys as their types compare; jsonb, arrays and ranges'
          || ' as spelled, {1.0} and {1.00} apart). Make the environments spell them alike, then tag again;'
          || ' under a case-insensitive collation, registering the key''s columns as a natural key with'
          || ' normalize_keys (tdm.manage_table) makes them one conflict.'
          WHEN t.natural AND t.self_reference THEN
             ' Rows the target''s unique keys call equal form no conflict: their natural key holds a reference to'
          || ' the table''s own rows (a tree''s parent_id), which rows are grouped by as each environment holds it,'
          || ' so one node under its parent''s other ids in two environments is not found as one. Register a'
          || ' natural key of the row''s own instead (a slug, a full path: tdm.manage_table natural_keys), or give'
          || ' the environments the tree''s ids alike, then tag again.'
          WHEN t.natural AND t.normalized THEN
             ' Rows the target''s unique keys call equal form no conflict, though the key is compared with'
          || ' normalize_keys (case and spaces folded): the key''s collation ignores what normalize_keys keeps'
          || ' (accents, or a character''s Unicode form: é as one code point or two). Make the environments spell'
          || ' them alike, then tag again; or keep one of them: decide the distinct_entities conflict that gave'
          || ' the other a new key (SELECT tdm.resolve(''<conflict>'', ''keep'', ''<env>'', rationale =>'
          || ' ''...'');).'
          WHEN t.natural THEN
             ' Rows the target''s unique keys call equal but that are spelled differently form no conflict:'
          || ' under a case-insensitive collation, register such a natural key with normalize_keys'
          || ' (tdm.manage_table); a jsonb, array or range key (1.0 and 1.00 in it) is compared as spelled:'
          || ' make the environments spell it alike, then tag again.'
          ELSE
             ' Rows that share a unique key that is not a registered natural key form no conflict: register'
          || ' its columns as one (tdm.manage_table natural_keys, with the table''s other options again), then'
          || ' consolidate again and decide; or change the rows.' END;
      END LOOP;
      -- (A rule's merge that filled a NULL of a unique key with another
      -- member's value, making the key another row's: overruled by a
      -- decision.)
      IF merge_made IS NOT NULL THEN
        see_violations := see_violations
          || format(' Rule non_conflicting_merge filled a NULL of a unique key from another member, and the'
                    || ' merged row holds another row''s key (a collected row''s, or an earlier release''s):'
                    || ' conflict %s. Decide it (keep one member:'
                    || ' SELECT tdm.resolve(''<conflict>'', ''keep'', ''<env>'', rationale => ''...'');), then'
                    || ' consolidate again.', merge_made);
      END IF;
      -- (A unique key declared NULLS NOT DISTINCT: a key with a NULL
      -- matches no row in detection, as natural keys never do.)
      IF EXISTS (SELECT 1 FROM tdm.violation v
                  WHERE v.run_id = run.run_id AND v.kind = 'unique'
                    AND EXISTS (SELECT 1 FROM jsonb_each(v.detail -> 'values') e
                                 WHERE e.value = 'null')) THEN
        see_violations := see_violations
          || ' Rows whose unique key holds a NULL where the key counts NULLs as equal (NULLS NOT DISTINCT)'
          || ' form no conflict: detection matches no natural key that holds a NULL. Give them values in the'
          || ' environments (a column an environment lacks is read as NULL, as tagging''s schema_drift warnings'
          || ' say: add it there first), then tag again; where the NULL is meant (a tree''s roots have no'
          || ' parent_id), register a natural key the rows hold whole instead (a full path).';
      END IF;
      -- (Another release's rows in the target meet the release's only
      -- here: conflicts are detected against master's rows.)
      IF EXISTS (SELECT 1 FROM tdm.violation v
                  WHERE v.run_id = run.run_id AND v.kind = 'unique'
                    AND v.detail ->> 'with' = 'rows of other releases in ' || tdm._target_table(the_target, v.rel)::text
                    AND NOT tdm._computed_violation(v, the_target)
                    AND NOT jsonb_build_array(v.rel::oid, v.detail -> 'values') = ANY (merge_made_keys)
                    AND NOT tdm._decision_gave_key(v)) THEN
        -- (an archived release's rows stay in staging, out of master: it
        -- is restored, not promoted, p321)
        archived_others := ARRAY(SELECT DISTINCT other.release
                                   FROM tdm.violation v
                                   JOIN tdm.release other ON other.release = v.detail -> 'other' ->> 'release'
                                  WHERE v.run_id = run.run_id AND v.kind = 'unique' AND other.status = 'archived'
                                  ORDER BY other.release);
        see_violations := see_violations
          || format(' Rows that share a key with another release''s rows in %s: releases are settled against'
                    || ' master''s rows, as conflicts (re-keyed by the rules), not against others in %s. %s'
                    || ' then consolidate this one again; where it is in master'
                    || ' already, its rows meet this one''s as conflicts only when the key is a natural key:'
                    || ' register its columns with tdm.manage_table (natural_keys). Or change the rows.',
                    the_target, the_target,
                    CASE WHEN cardinality(archived_others) = 0 THEN 'Promote that release first (tdm.promote),'
                         ELSE format('%s archived: bring it back into master first (SELECT %s) (and promote'
                                     ' first any other that is not in master: tdm.promote),',
                                     CASE WHEN cardinality(archived_others) = 1
                                          THEN format('Release %s is', archived_others[1])
                                          ELSE format('Releases %s are', array_to_string(archived_others, ', ')) END,
                                     (SELECT string_agg(format('tdm.restore_release(%L)', a), ', ')
                                        FROM unnest(archived_others) AS a)) END)
          -- (rows a failed run left: no release's, p297)
          || coalesce(' The other rows may be ones '
                      || tdm._failed_runs_left(ARRAY(SELECT DISTINCT v.detail -> 'other' ->> 'release'
                                                       FROM tdm.violation v
                                                      WHERE v.run_id = run.run_id AND v.kind = 'unique'),
                                               the_target)
                      || format(' loaded into %s, which a rollback failed and left there (tdm.run): those master'
                                || ' does not hold are no release''s; delete them from %s (children first), then'
                                || ' consolidate again.', the_target, the_target), '');
      END IF;
      -- (A reviewer's rename or merged key that another release took in
      -- the target since: the decision is what changes.)
      -- (Or one another row of the release holds: a masked rename that
      -- masks to another row's value, say.)
      decided_keys := (SELECT string_agg(DISTINCT v.detail -> 'decision' ->> 'conflict_id', ', ')
                         FROM tdm.violation v
                        WHERE v.run_id = run.run_id AND v.kind = 'unique'
                          AND v.detail ->> 'with' IN ('rows of other releases in '
                                                      || tdm._target_table(the_target, v.rel)::text,
                                                      'other collected rows')
                          AND NOT jsonb_build_array(v.rel::oid, v.detail -> 'values') = ANY (rename_made_keys)
                          AND tdm._decision_gave_key(v));
      IF decided_keys IS NOT NULL THEN
        see_violations := see_violations
          || format(' Rows given a key that another row holds (of the release, or of another release in %s) by a'
                    || ' decision (renames, merged values) cannot load: decide conflict %s again with other keys.',
                    the_target, decided_keys);
      END IF;
      IF EXISTS (SELECT 1 FROM tdm.violation v
                  WHERE v.run_id = run.run_id AND v.kind = 'unique' AND tdm._computed_violation(v, the_target)) THEN
        see_violations := see_violations
          || ' Rows that a partial unique index or one on expressions calls equal form no conflict:'
          || ' detection compares natural keys, as the columns are. Where an expression folds case and spaces'
          || ' (lower(email)), register the column as a natural key with normalize_keys (tdm.manage_table),'
          || ' consolidate again and decide. Where it computes something else (COALESCE(lower(domain), ''''),'
          || ' which makes NULLs equal), add a stored generated column holding it in every environment and'
          || ' the target and register that in the natural key. Else change the rows in the environments,'
          || ' then tag again.';
      END IF;
      -- (A CHECK over references the run translated: two accounts merged
      -- into one make a follow of the one by the other a follow of itself.)
      -- (Two references of the row to one parent table that the CHECK
      -- reads, equal now, and a merge of that parent's rows into the
      -- row they name: what the CHECK refuses is what the merge made.)
      translated_into := (SELECT string_agg(DISTINCT coalesce(km.conflict_id, '(an earlier release''s)'), ', ')
                            FROM tdm.violation v
                            JOIN tdm._managed_edges() e ON e.child = v.rel AND v.detail -> 'values' ?| e.columns
                            JOIN tdm._managed_edges() f ON f.child = v.rel AND f.parent = e.parent AND f.name <> e.name
                                                       AND cardinality(f.columns) = cardinality(e.columns)
                                                       AND v.detail -> 'values' ?| f.columns
                                                       AND NOT EXISTS (SELECT FROM unnest(e.columns, f.columns) AS p(a, b)
                                                                        WHERE (v.detail -> 'values' -> p.a)
                                                                              IS DISTINCT FROM (v.detail -> 'values' -> p.b))
                            JOIN tdm.key_map km ON km.run_id = v.run_id AND km.rel = e.parent
                                               AND km.env = v.row_key ->> 'env' AND km.reason = 'merged'
                                               AND NOT EXISTS (SELECT FROM unnest(e.columns, e.ref_columns) AS x(c, r)
                                                                WHERE v.detail -> 'values' ? x.c
                                                                  AND km.new_key ->> x.r
                                                                      IS DISTINCT FROM v.detail -> 'values' ->> x.c)
                           WHERE v.run_id = run.run_id AND v.kind = 'check');
      IF translated_into IS NOT NULL THEN
        see_violations := see_violations
          || format(' A CHECK over references refuses rows as the run translated them (account_id <>'
                    || ' target_account_id, once two accounts were merged into one): tdm.key_map gives each'
                    || ' translation and its conflict (%s). Decide that conflict otherwise (keep_all keeps the'
                    || ' parents apart), or untag the row in its environment (tdm.violation''s row_key says'
                    || ' which), then tag and consolidate again.', translated_into);
      END IF;
      IF EXISTS (SELECT 1 FROM tdm.violation v
                  WHERE v.run_id = run.run_id AND v.kind = 'check'
                    AND v.detail ->> 'with' IS NOT NULL) THEN
        see_violations := see_violations
          || ' Rows an exclusion constraint refuses together (two bookings of one room at once) form no'
          || ' conflict: change the rows in the environments, then tag and consolidate again.';
      END IF;
      -- (By whether the key is the primary key or a natural key: conflicts
      -- matched those with master's rows as collected, so a decision's
      -- renames or merged values gave it.)
      FOR t IN SELECT DISTINCT tdm._registered_key(v.rel, ARRAY(SELECT jsonb_object_keys(v.detail -> 'values')))
                                 AS registered
                 FROM tdm.violation v
                WHERE v.run_id = run.run_id AND v.kind = 'unique'
                  AND v.detail ->> 'with' LIKE 'rows of other releases in master.%'
                  AND NOT tdm._computed_violation(v, the_target)
                  AND NOT jsonb_build_array(v.rel::oid, v.detail -> 'values') = ANY (merge_made_keys)
                ORDER BY 1 LOOP
        see_violations := see_violations || CASE WHEN t.registered THEN
             ' Rows given a primary or natural key of master''s rows of earlier releases by a decision'
          || ' (renames, merged values) cannot load: decide '
          || coalesce('conflict ' || tdm._decision_made_violations(run.run_id), 'their conflicts')
          || ' again with other keys.'
          ELSE
             ' Rows that share a unique key with master''s rows of earlier releases meet them as conflicts'
          || ' only when the key is a natural key: register its columns with tdm.manage_table'
          || ' (natural_keys, with the table''s other options again), then consolidate again and decide;'
          || ' or change the rows.' END;
      END LOOP;
      -- (Errors are what make it invalid; warnings, recorded beside them
      -- in tdm.violation, are counted apart.)
      warnings := (SELECT count(*) FROM tdm.violation v WHERE v.run_id = run.run_id AND v.severity = 'warning');
      counted := errors || ' violation(s)'
                 || CASE WHEN warnings > 0 THEN format(' of severity error (and %s warning(s))', warnings) ELSE '' END;
      IF load_message IS NULL THEN
        RAISE NOTICE 'consolidate: run % of % is invalid: %, nothing loaded', run.run_id, the_release, counted
          USING HINT = see_violations;
      ELSE
        RAISE NOTICE 'consolidate: run % of % is invalid: %, nothing loaded', run.run_id, the_release, counted
          USING DETAIL = format('The load was tried and refused: %s.', substr(load_message, length('consolidate: ') + 1)),
                HINT = see_violations;
      END IF;
    ELSE
      phase_ms := tdm._add_ms(phase_ms, 'load', since);
      -- Every collected row is accounted for.
      IF collected_total <> loaded + merged + deleted THEN
        RAISE EXCEPTION 'consolidate: row accounting failed: % collected, % loaded + % merged + % deleted',
          collected_total, loaded, merged, deleted USING ERRCODE = 'internal_error';
      END IF;
      IF decided > 0 THEN  -- (else no need to read every conflict of the run again)
        UPDATE tdm.conflict c SET status = 'applied'
         WHERE c.run_id = run.run_id AND c.status = 'decided';
      END IF;
      -- (The decisions as applied: tdm.decision is keyed by conflict, and a
      -- run of the release into another target may change them later.)
      UPDATE tdm.run x SET rows_loaded = loaded, decisions = tdm._run_decisions(run.run_id)
       WHERE x.run_id = run.run_id;
      IF the_target = tdm._staging_target() THEN
        -- (Unless the release was tagged again meanwhile: its lock is then
        -- not the one this run was checked against.)
        UPDATE tdm.release x SET status = 'consolidated'
         WHERE x.release = the_release AND x.status = 'locked'
           AND x.locked_at IS NOT DISTINCT FROM r.locked_at;
        IF (SELECT x.locked_at FROM tdm.release x WHERE x.release = the_release)
           IS DISTINCT FROM r.locked_at THEN
          RAISE NOTICE 'consolidate: release % was tagged again while run % loaded it; consolidate it again before promoting it',
            the_release, run.run_id;
        END IF;
      ELSIF r.status = 'locked' THEN
        -- (A run into another target is a rehearsal: only the staging
        -- target's makes the release ready to promote. Said, for a DBA
        -- who meant this schema to be staging.)
        RAISE NOTICE 'consolidate: release % stays locked: run % loaded %, and only a consolidation into % makes a release ready to promote',
          the_release, run.run_id, tdm._quoted(the_target), quote_ident(tdm._staging_target())
          USING HINT = CASE WHEN tdm._staging_target() = 'staging' AND to_regnamespace('staging') IS NULL
                            THEN 'The managed tables are in several schemas, so the staging target is the schema'
                                 ' named staging: rename this one to staging (ALTER SCHEMA ... RENAME TO staging),'
                                 ' or create staging with a copy of each table, then consolidate into it.'
                            ELSE format('Consolidate it there: %s', tdm._consolidate_call(the_release)) END;
      END IF;
      final_status := 'completed';
    END IF;
  END IF;

  UPDATE tdm.run x
     SET status = final_status, phase_ms = phase_ms,
         finished_at = CASE WHEN final_status = 'completed' THEN clock_timestamp() END
   WHERE x.run_id = run.run_id RETURNING * INTO run;
  UPDATE tdm.job j SET status = 'completed', finished_at = clock_timestamp(),
                       detail = j.detail || jsonb_build_object('run_status', final_status,
                                                               'phase_ms', phase_ms)
                                || CASE WHEN run.decisions_gone IS NOT NULL
                                        THEN jsonb_build_object('decisions_gone', run.decisions_gone)
                                        ELSE '{}' END
   WHERE j.job_id = job;
  -- The last phase: the run's row in the hash-chained trail (its own time
  -- is in the run and the job, not in the row).
  since := clock_timestamp();
  PERFORM tdm._audit('consolidate', the_release, jsonb_build_object(
    'run_id', run.run_id, 'target', the_target, 'status', final_status,
    'rows_collected', run.rows_collected, 'conflicts', run.conflicts,
    'auto_resolved', run.auto_resolved, 'manual', run.manual, 'rows_loaded', run.rows_loaded,
    'rows_merged', run.rows_merged, 'rows_renamed', run.rows_renamed,
    'rows_deleted', run.rows_deleted, 'violations', errors, 'phase_ms', phase_ms));
  phase_ms := tdm._add_ms(phase_ms, 'audit', since);
  UPDATE tdm.run x SET phase_ms = phase_ms WHERE x.run_id = run.run_id;
  UPDATE tdm.job j SET detail = j.detail || jsonb_build_object('phase_ms', phase_ms) WHERE j.job_id = job;
  RETURN run.run_id;
END
$$;
