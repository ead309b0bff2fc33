// tdm._copy_rows(source, storage, hashed): copies every row of `source`
// into the empty table `storage` (same columns) and returns the row count
// and checksum of the copied rows, in one pass.
//
// Why not CREATE TABLE AS and a checksum query: that reads the data twice.
// Here rows go in batches through table_multi_insert, as COPY does (one WAL
// record per page rather than per row), and each row is hashed as it
// passes, so a snapshot costs no more than CREATE TABLE AS of the same rows.
// `hashed` lists the attribute numbers of `source` that the checksum covers,
// in the order tdm._hash_args gives them (the managed table's columns).
#include <string>
#include <vector>

#include "core/common/error.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/row_hash.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace {

constexpr int kBatchRows = 1000;
constexpr Size kBatchBytes = 64 * 1024;

struct Copied {
  int64 rows;
  __int128 sum;
};

// Runs under one pg_call: plain data only, PostgreSQL cleans up the scan,
// slots and buffers itself if an error ends the transaction.
Copied copy_rows(Oid source_oid, Oid storage_oid, const int16 *hashed, int hashed_count) {
  Relation source = table_open(source_oid, AccessShareLock);
  Relation storage = table_open(storage_oid, RowExclusiveLock);
  TupleDesc desc = RelationGetDescr(source);
  TupleDesc storage_desc = RelationGetDescr(storage);
  // The source's live columns, in order, are the storage's columns. With
  // no dropped column in the source, tuples are copied as they are.
  auto *live = static_cast<AttrNumber *>(palloc(sizeof(AttrNumber) * (desc->natts + 1)));
  int live_count = 0;
  for (int i = 0; i < desc->natts; ++i) {
    if (!TupleDescAttr(desc, i)->attisdropped) live[live_count++] = static_cast<AttrNumber>(i);
  }
  if (live_count != storage_desc->natts) {
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("snapshot storage %s does not have the columns of %s",
                           RelationGetRelationName(storage), RelationGetRelationName(source))));
  }
  const bool same_layout = live_count == desc->natts;
  // The hashed columns' type facts, and where chunks of them end.
  auto *columns =
      static_cast<tdm::pg::HashedColumn *>(palloc(sizeof(tdm::pg::HashedColumn) * hashed_count));
  for (int i = 0; i < hashed_count; ++i) {
    if (hashed[i] < 1 || hashed[i] > desc->natts) elog(ERROR, "no column %d to hash", hashed[i]);
    Form_pg_attribute attribute = TupleDescAttr(desc, hashed[i] - 1);
    columns[i] = {attribute->attlen, attribute->attbyval};
  }
  const int chunks = (hashed_count + tdm::pg::kHashChunk - 1) / tdm::pg::kHashChunk;
  auto *chunk_hashes = static_cast<Datum *>(palloc(sizeof(Datum) * (chunks + 1)));
  auto *chunk_nulls = static_cast<bool *>(palloc0(sizeof(bool) * (chunks + 1)));
  auto *chunk_columns =
      static_cast<tdm::pg::HashedColumn *>(palloc(sizeof(tdm::pg::HashedColumn) * (chunks + 1)));
  for (int c = 0; c < chunks; ++c) chunk_columns[c] = {8, true};
  auto *values = static_cast<Datum *>(palloc(sizeof(Datum) * (hashed_count + 1)));
  auto *nulls = static_cast<bool *>(palloc(sizeof(bool) * (hashed_count + 1)));

  TableScanDesc scan = table_beginscan(source, GetActiveSnapshot(), 0, nullptr);
  TupleTableSlot *read = table_slot_create(source, nullptr);
  TupleTableSlot **batch =
      static_cast<TupleTableSlot **>(palloc(sizeof(TupleTableSlot *) * kBatchRows));
  for (int i = 0; i < kBatchRows; ++i) {
    batch[i] = same_layout ? table_slot_create(storage, nullptr)
                           : MakeSingleTupleTableSlot(storage_desc, &TTSOpsVirtual);
  }
  BulkInsertState bulk = GetBulkInsertState();
  const CommandId command = GetCurrentCommandId(true);
  int pending = 0;
  Size pending_bytes = 0;
  Copied copied{0, 0};
  auto flush = [&] {
    if (pending == 0) return;
    table_multi_insert(storage, batch, pending, command, 0, bulk);
    for (int i = 0; i < pending; ++i) ExecClearTuple(batch[i]);
    pending = 0;
    pending_bytes = 0;
  };
  while (table_scan_getnextslot(scan, ForwardScanDirection, read)) {
    CHECK_FOR_INTERRUPTS();
    slot_getallattrs(read);
    for (int i = 0; i < hashed_count; ++i) {
      values[i] = read->tts_values[hashed[i] - 1];
      nulls[i] = read->tts_isnull[hashed[i] - 1];
    }
    uint64 hash;
    if (hashed_count <= tdm::pg::kHashChunk) {
      hash = tdm::pg::hash_values(values, nulls, columns, hashed_count);
    } else {
      for (int c = 0; c < chunks; ++c) {
        const int first = c * tdm::pg::kHashChunk;
        const int count = std::min(tdm::pg::kHashChunk, hashed_count - first);
        chunk_hashes[c] = Int64GetDatum(static_cast<int64>(
            tdm::pg::hash_values(values + first, nulls + first, columns + first, count)));
      }
      hash = tdm::pg::hash_values(chunk_hashes, chunk_nulls, chunk_columns, chunks);
    }
    copied.rows += 1;
    copied.sum += static_cast<int64>(hash);

    TupleTableSlot *out = batch[pending];
    if (same_layout) {
      ExecCopySlot(out, read);
      pending_bytes += ExecFetchSlotHeapTuple(out, false, nullptr)->t_len;
    } else {
      ExecClearTuple(out);
      for (int i = 0; i < live_count; ++i) {
        out->tts_values[i] = read->tts_values[live[i]];
        out->tts_isnull[i] = read->tts_isnull[live[i]];
      }
      ExecStoreVirtualTuple(out);
      ExecMaterializeSlot(out);  // its own copy: the scan moves on
      pending_bytes += heap_compute_data_size(storage_desc, out->tts_values, out->tts_isnull);
    }
    if (++pending == kBatchRows || pending_bytes >= kBatchBytes) flush();
  }
  flush();
  FreeBulkInsertState(bulk);
  table_finish_bulk_insert(storage, 0);
  table_endscan(scan);
  ExecDropSingleTupleTableSlot(read);
  for (int i = 0; i < kBatchRows; ++i) ExecDropSingleTupleTableSlot(batch[i]);
  table_close(storage, NoLock);
  table_close(source, NoLock);
  return copied;
}

}  // namespace

TDM_FUNCTION(tdm_copy_rows) {
  const Oid source = tdm::pg::oid_arg(fcinfo, 0, "source");
  const Oid storage = tdm::pg::oid_arg(fcinfo, 1, "storage");
  if (PG_ARGISNULL(2)) {
    throw tdm::Error(tdm::sqlstate::kInvalidParameterValue, "the hashed columns must not be NULL");
  }
  std::vector<int16> hashed;
  tdm::pg::pg_call([&] {
    ArrayType *array = PG_GETARG_ARRAYTYPE_P(2);
    Datum *items;
    bool *item_nulls;
    int count;
    deconstruct_array(array, INT2OID, sizeof(int16), true, TYPALIGN_SHORT, &items, &item_nulls,
                      &count);
    hashed.resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) hashed[i] = item_nulls[i] ? 0 : DatumGetInt16(items[i]);
  });
  const int16 *columns = hashed.data();
  const int count = static_cast<int>(hashed.size());
  const Copied copied =
      tdm::pg::pg_call([=] { return copy_rows(source, storage, columns, count); });
  tdm::pg::RowHashTotal total;
  total.rows = copied.rows;
  total.sum = copied.sum;
  const std::string checksum = total.checksum();
  const char *text = checksum.c_str();
  return tdm::pg::pg_call([=] {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE) {
      elog(ERROR, "tdm._copy_rows must return a record");
    }
    desc = BlessTupleDesc(desc);
    Datum out[2] = {Int64GetDatum(copied.rows), PointerGetDatum(cstring_to_text(text))};
    bool out_nulls[2] = {false, false};
    return HeapTupleGetDatum(heap_form_tuple(desc, out, out_nulls));
  });
}
