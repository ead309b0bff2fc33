// Rows inserted into a table in batches through table_multi_insert, as COPY
// does: one WAL record per page rather than per row, and the target page
// found once per batch. Used by the snapshot's copy, by collection and by
// the load (which adds the index entries of each batch).
#pragma once

#include "pg/common/postgres.hpp"

extern "C" {
#include "access/heapam.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"
}

namespace tdm::pg {

// PostgreSQL-side state (palloc'd, no destructor): every call runs under
// pg_call or in PostgreSQL's own frames.
struct BatchInsert {
  Relation relation;
  TupleTableSlot **slots;
  int pending;
  Size pending_bytes;
  BulkInsertState bulk;
  CommandId command;
  int options;
  // What inserting a batch allocates (the prepared tuples, TOAST copies),
  // freed after each batch.
  MemoryContext batch_context;
  // Called after each batch is in the table, before its slots are cleared
  // (the slots' tts_tid are set): the load inserts index entries there.
  void (*inserted)(void *arg, TupleTableSlot **slots, int count);
  void *inserted_arg;
};

// `tuple_slots`: heap-tuple slots (rows copied in with ExecCopySlot), else
// virtual slots of the table's descriptor (filled value by value, then
// materialized). `options`: table_multi_insert's.
BatchInsert *batch_insert_begin(Relation relation, bool tuple_slots, int options);

// The slot to fill with the next row.
inline TupleTableSlot *batch_insert_slot(BatchInsert *batch) {
  return batch->slots[batch->pending];
}

// The row in batch_insert_slot() is complete, `bytes` long: inserts the
// batch once it is full.
void batch_insert_added(BatchInsert *batch, Size bytes);

// Forms a row of the table from `values` in the next slot's memory, where
// it waits for its batch, and adds it (heap-tuple slots only).
void batch_insert_row(BatchInsert *batch, const Datum *values, const bool *nulls);

// A plain temporary table of this session (whose privileges are its
// owner's) with nothing that inserting in batches would bypass: no index,
// constraint, NOT NULL, trigger or rule.
bool plain_own_temporary(Relation relation);

// Inserts what is pending and releases the slots and the bulk state.
void batch_insert_end(BatchInsert *batch);

}  // namespace tdm::pg
