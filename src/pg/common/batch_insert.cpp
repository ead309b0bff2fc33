#include "pg/common/batch_insert.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/memutils.h"
}

namespace tdm::pg {
namespace {

constexpr int kBatchRows = 1000;
constexpr Size kBatchBytes = 64 * 1024;

void flush(BatchInsert *batch) {
  if (batch->pending == 0) return;
  MemoryContext previous = MemoryContextSwitchTo(batch->batch_context);
  table_multi_insert(batch->relation, batch->slots, batch->pending, batch->command, batch->options,
                     batch->bulk);
  if (batch->inserted != nullptr) {
    batch->inserted(batch->inserted_arg, batch->slots, batch->pending);
  }
  MemoryContextSwitchTo(previous);
  MemoryContextReset(batch->batch_context);
  for (int i = 0; i < batch->pending; ++i) ExecClearTuple(batch->slots[i]);
  batch->pending = 0;
  batch->pending_bytes = 0;
}

}  // namespace

BatchInsert *batch_insert_begin(Relation relation, bool tuple_slots, int options) {
  auto *batch = static_cast<BatchInsert *>(palloc0(sizeof(BatchInsert)));
  batch->relation = relation;
  batch->slots = static_cast<TupleTableSlot **>(palloc(sizeof(TupleTableSlot *) * kBatchRows));
  // Heap-tuple slots, not the table's buffer slots: copying a row read
  // from a buffer into a buffer slot keeps a pin on the buffer for every
  // row of the batch, which the resource owner then tracks in a hash.
  for (int i = 0; i < kBatchRows; ++i) {
    batch->slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(relation),
                                               tuple_slots ? &TTSOpsHeapTuple : &TTSOpsVirtual);
  }
  batch->bulk = GetBulkInsertState();
  batch->command = GetCurrentCommandId(true);
  batch->options = options;
  batch->batch_context =
      AllocSetContextCreate(CurrentMemoryContext, "tdm batch insert", ALLOCSET_DEFAULT_SIZES);
  return batch;
}

void batch_insert_added(BatchInsert *batch, Size bytes) {
  batch->pending_bytes += bytes;
  if (++batch->pending == kBatchRows || batch->pending_bytes >= kBatchBytes) flush(batch);
}

void batch_insert_row(BatchInsert *batch, const Datum *values, const bool *nulls) {
  TupleTableSlot *out = batch_insert_slot(batch);
  MemoryContext previous = MemoryContextSwitchTo(out->tts_mcxt);
  HeapTuple tuple = heap_form_tuple(RelationGetDescr(batch->relation), const_cast<Datum *>(values),
                                    const_cast<bool *>(nulls));
  MemoryContextSwitchTo(previous);
  ExecStoreHeapTuple(tuple, out, true);
  batch_insert_added(batch, tuple->t_len);
}

bool plain_own_temporary(Relation relation) {
  Form_pg_class form = relation->rd_rel;
  if (form->relkind != RELKIND_RELATION || form->relpersistence != RELPERSISTENCE_TEMP ||
      !isTempNamespace(RelationGetNamespace(relation)) || form->relhasindex ||
      form->relchecks > 0 || form->relhastriggers || form->relhasrules) {
    return false;
  }
  TupleDesc desc = RelationGetDescr(relation);
  for (int i = 0; i < desc->natts; ++i) {
    if (TupleDescAttr(desc, i)->attnotnull) return false;
  }
  return true;
}

void batch_insert_end(BatchInsert *batch) {
  flush(batch);
  FreeBulkInsertState(batch->bulk);
  table_finish_bulk_insert(batch->relation, batch->options);
  for (int i = 0; i < kBatchRows; ++i) ExecDropSingleTupleTableSlot(batch->slots[i]);
  MemoryContextDelete(batch->batch_context);
}

}  // namespace tdm::pg
