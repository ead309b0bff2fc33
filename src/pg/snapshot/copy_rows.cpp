// tdm._copy_rows(source, storage, hashed): copies every row of `source`
// into the empty table `storage` (same columns) and returns the row count
// and checksum of the copied rows, in one pass.
//
// Why not CREATE TABLE AS and a checksum query: that reads the data twice.
// Here rows go in batches through table_multi_insert (BatchInsert), and
// each row is hashed as it passes, so a snapshot costs no more than CREATE
// TABLE AS of the same rows (whose free space map it skips too: the
// storage is new).
// `hashed` lists the attribute numbers of `source` that the checksum covers,
// in the order tdm._hash_args gives them (the table's own columns).
#include <string>
#include <vector>

#include "core/common/error.hpp"
#include "pg/common/args.hpp"
#include "pg/common/batch_insert.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/row_hash.hpp"
#include "pg/snapshot/copy_rows.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
}

namespace {

// The positions (0-based) of a descriptor's live columns, in order.
int live_columns(TupleDesc desc, AttrNumber *live) {
  int count = 0;
  for (int i = 0; i < desc->natts; ++i) {
    if (!TupleDescAttr(desc, i)->attisdropped) live[count++] = static_cast<AttrNumber>(i);
  }
  return count;
}

}  // namespace

namespace tdm::pg {

CopiedRows copy_rows(Oid source_oid, Relation storage, const int16 *hashed, int hashed_count,
                     int insert_options) {
  Relation source = table_open(source_oid, AccessShareLock);
  // Rows are read through the table's own storage: a partitioned table has
  // none (its rows are its partitions'), nor has a foreign table.
  if (source->rd_rel->relkind != RELKIND_RELATION) {
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("cannot copy the rows of \"%s\" directly: it is not a plain table",
                           RelationGetRelationName(source)),
                    errhint("Copy them with INSERT ... SELECT.")));
  }
  // The caller reads the source, as CREATE TABLE AS would need. (Writing
  // the storage is checked where it comes from: tdm._copy_rows's caller
  // names it; a rollback's spare is tdm's own, owned like its target.)
  const AclResult readable = pg_class_aclcheck(source_oid, GetUserId(), ACL_SELECT);
  if (readable != ACLCHECK_OK) {
    aclcheck_error(readable, get_relkind_objtype(source->rd_rel->relkind),
                   RelationGetRelationName(source));
  }
  // Every row, as CREATE TABLE AS would not copy them: policies that hide
  // rows from the caller refuse the copy (tdm.snapshot says so first).
  if (check_enable_rls(source_oid, InvalidOid, true) == RLS_ENABLED) {
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("cannot copy the rows of \"%s\": row-level security applies to it",
                           RelationGetRelationName(source)),
                    errhint("Copy it as a role that row security does not apply to.")));
  }
  TupleDesc desc = RelationGetDescr(source);
  TupleDesc storage_desc = RelationGetDescr(storage);
  // The source's live columns, in order, are the storage's live columns.
  // With no dropped column on either side, tuples are copied as they are.
  auto *live = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * (desc->natts + 1)));
  auto *storage_live =
      static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * (storage_desc->natts + 1)));
  const int live_count = live_columns(desc, live);
  if (live_count != live_columns(storage_desc, storage_live)) {
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("cannot copy the rows of %s into %s: their columns differ",
                           RelationGetRelationName(source), RelationGetRelationName(storage))));
  }
  // Tuples are copied as stored: each column pair of one type, and a
  // NOT NULL column of the storage checked row by row (a table of
  // tdm_snapshot laid out as a target has them; the snapshot's copy not).
  auto *not_null = static_cast<int *>(palloc(sizeof(int) * (live_count + 1)));
  int not_null_count = 0;
  for (int i = 0; i < live_count; ++i) {
    Form_pg_attribute from = TupleDescAttr(desc, live[i]);
    Form_pg_attribute into = TupleDescAttr(storage_desc, storage_live[i]);
    if (from->atttypid != into->atttypid || from->atttypmod != into->atttypmod) {
      ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                      errmsg("cannot copy the rows of %s into %s: column %s is %s there, %s here",
                             RelationGetRelationName(source), RelationGetRelationName(storage),
                             quote_identifier(NameStr(from->attname)),
                             format_type_with_typemod(from->atttypid, from->atttypmod),
                             format_type_with_typemod(into->atttypid, into->atttypmod))));
    }
    if (into->attnotnull) not_null[not_null_count++] = i;
  }
  // Rows stored before an ADD COLUMN ... DEFAULT lack that column (its
  // value is in the catalog): those are copied value by value too.
  bool fast_defaults = false;
  for (int i = 0; i < desc->natts; ++i) fast_defaults |= TupleDescAttr(desc, i)->atthasmissing;
  const bool same_layout =
      live_count == desc->natts && live_count == storage_desc->natts && !fast_defaults;
  // The hashed columns' type facts.
  auto *columns =
      static_cast<tdm::pg::HashedColumn *>(palloc(sizeof(tdm::pg::HashedColumn) * hashed_count));
  for (int i = 0; i < hashed_count; ++i) {
    if (hashed[i] < 1 || hashed[i] > desc->natts) elog(ERROR, "no column %d to hash", hashed[i]);
    Form_pg_attribute attribute = TupleDescAttr(desc, hashed[i] - 1);
    columns[i] = tdm::pg::hashed_column(attribute->atttypid);
  }
  auto *values = static_cast<Datum *>(palloc(sizeof(Datum) * (hashed_count + 1)));
  auto *nulls = static_cast<bool *>(palloc(sizeof(bool) * (hashed_count + 1)));

  // (Hashing detoasts values: freed row by row, not held to the end.)
  MemoryContext row_context =
      AllocSetContextCreate(CurrentMemoryContext, "tdm copied row", ALLOCSET_SMALL_SIZES);
  TableScanDesc scan = table_beginscan(source, GetActiveSnapshot(), 0, nullptr);
  TupleTableSlot *read = table_slot_create(source, nullptr);
  tdm::pg::BatchInsert *batch = tdm::pg::batch_insert_begin(storage, same_layout, insert_options);
  CopiedRows copied{0, 0};
  while (table_scan_getnextslot(scan, ForwardScanDirection, read)) {
    CHECK_FOR_INTERRUPTS();
    slot_getallattrs(read);
    for (int i = 0; i < not_null_count; ++i) {
      if (read->tts_isnull[live[not_null[i]]]) {
        ereport(ERROR,
                (errcode(ERRCODE_NOT_NULL_VIOLATION),
                 errmsg("a row of %s has no value in column %s, which %s requires",
                        RelationGetRelationName(source),
                        quote_identifier(NameStr(TupleDescAttr(desc, live[not_null[i]])->attname)),
                        RelationGetRelationName(storage))));
      }
    }
    for (int i = 0; i < hashed_count; ++i) {
      values[i] = read->tts_values[hashed[i] - 1];
      nulls[i] = read->tts_isnull[hashed[i] - 1];
    }
    MemoryContext before = MemoryContextSwitchTo(row_context);
    const uint64 hash = tdm::pg::hash_row(values, nulls, columns, hashed_count);
    MemoryContextSwitchTo(before);
    MemoryContextReset(row_context);
    copied.rows += 1;
    copied.sum += static_cast<int64>(hash);

    TupleTableSlot *out = tdm::pg::batch_insert_slot(batch);
    Size bytes;
    if (same_layout) {
      ExecCopySlot(out, read);
      bytes = ExecFetchSlotHeapTuple(out, false, nullptr)->t_len;
    } else {
      ExecClearTuple(out);
      for (int i = 0; i < storage_desc->natts; ++i) out->tts_isnull[i] = true;
      for (int i = 0; i < live_count; ++i) {
        out->tts_values[storage_live[i]] = read->tts_values[live[i]];
        out->tts_isnull[storage_live[i]] = read->tts_isnull[live[i]];
      }
      ExecStoreVirtualTuple(out);
      ExecMaterializeSlot(out);  // its own copy: the scan moves on
      bytes = heap_compute_data_size(storage_desc, out->tts_values, out->tts_isnull);
    }
    tdm::pg::batch_insert_added(batch, bytes);
  }
  tdm::pg::batch_insert_end(batch);
  MemoryContextDelete(row_context);
  table_endscan(scan);
  ExecDropSingleTupleTableSlot(read);
  table_close(source, NoLock);
  return copied;
}

}  // namespace tdm::pg

TDM_FUNCTION(tdm_copy_rows) {
  const Oid source = tdm::pg::oid_arg(fcinfo, 0, "source");
  const Oid storage = tdm::pg::oid_arg(fcinfo, 1, "storage");
  const std::vector<int16> hashed = tdm::pg::int2_array_arg(fcinfo, 2, "hashed");
  const int16 *columns = hashed.data();
  const int count = static_cast<int>(hashed.size());
  const tdm::pg::CopiedRows copied = tdm::pg::pg_call([=] {
    Relation into = table_open(storage, RowExclusiveLock);
    const AclResult writable = pg_class_aclcheck(storage, GetUserId(), ACL_INSERT);
    if (writable != ACLCHECK_OK) {
      aclcheck_error(writable, get_relkind_objtype(into->rd_rel->relkind),
                     RelationGetRelationName(into));
    }
    // Rows go in below the executor: only into what a snapshot makes, a new
    // empty table of tdm_snapshot with nothing that would check or index
    // them (an INSERT would run those; this does not).
    const Form_pg_class form = into->rd_rel;
    if (form->relkind != RELKIND_RELATION ||
        RelationGetNamespace(into) != get_namespace_oid("tdm_snapshot", false) ||
        form->relhasindex || form->relhastriggers || form->relhasrules || form->relrowsecurity ||
        form->relchecks > 0 || RelationGetNumberOfBlocks(into) > 0) {
      ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                      errmsg("cannot copy rows into %s: it is not a snapshot's new copy",
                             RelationGetRelationName(into)),
                      errdetail("Rows are copied only into an empty table of tdm_snapshot with no "
                                "index, trigger, rule, policy or check constraint."),
                      errhint("Take snapshots with tdm.snapshot.")));
    }
    const tdm::pg::CopiedRows rows =
        tdm::pg::copy_rows(source, into, columns, count, TABLE_INSERT_SKIP_FSM);
    table_close(into, NoLock);
    return rows;
  });
  return tdm::pg::copied_rows_datum(fcinfo, copied, {});
}

namespace tdm::pg {

Datum copied_rows_datum(FunctionCallInfo fcinfo, const CopiedRows &copied,
                        const std::vector<Datum> &leading) {
  RowHashTotal total;
  total.rows = copied.rows;
  total.sum = copied.sum;
  const std::string checksum = total.checksum();
  const char *text = checksum.c_str();
  const Datum *first = leading.data();
  const int first_count = static_cast<int>(leading.size());
  return pg_call([=] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE ||
        desc->natts != first_count + 2) {
      elog(ERROR, "tdm: a copy must return a record of %d columns", first_count + 2);
    }
    desc = BlessTupleDesc(desc);
    Datum out[8];
    bool out_nulls[8] = {false, false, false, false, false, false, false, false};
    for (int i = 0; i < first_count; ++i) out[i] = first[i];
    out[first_count] = Int64GetDatum(copied.rows);
    out[first_count + 1] = PointerGetDatum(cstring_to_text(text));
    return HeapTupleGetDatum(heap_form_tuple(desc, out, out_nulls));
  });
}

}  // namespace tdm::pg
