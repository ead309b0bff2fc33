-- The message, DETAIL and HINT of the error a statement raises (NULLs if
-- it raises none).
CREATE FUNCTION pg_temp.error_of(statement text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
CREATE FUNCTION pg_temp.hint_of(statement text) RETURNS text LANGUAGE sql AS $$
  SELECT (pg_temp.error_of(statement)).hint
$$;
