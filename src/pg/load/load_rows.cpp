// The load's direct insert: tdm._load_rows(source, target) copies every
// row of a collected table into its target table as COPY would (batches
// through table_multi_insert, index entries added per batch, NOT NULL and
// CHECK constraints checked per row), but without the per-row foreign key
// triggers: tdm._check_loaded_references() then checks each foreign key of
// the loaded tables in one set-based query that locks the referenced rows
// as the triggers would (FOR KEY SHARE). Validation has already found every
// violation; this is the guarantee, at a fraction of the per-row cost.
// Into an empty table the caller owns, the indexes are built after the
// rows (may_build_indexes_after), and rows of a table that was empty are
// not locked (holds_no_rows).
//
// Loaded tables stay registered until they are checked; a transaction that
// would commit or prepare with an unchecked load (or one whose check was
// rolled back to a savepoint) fails, so no caller can use the direct
// insert to skip a foreign key.
//
// Tables the direct insert cannot serve as the executor would (insert
// triggers other than the foreign key checks, rules, row security, stored
// generated columns, partitions, columns that differ in type or collation
// from the collected ones, referenced tables the caller could not read or,
// where rows are locked, lock) get NULL:
// the caller loads them with INSERT.
#include <algorithm>
#include <string>
#include <vector>

#include "core/common/error.hpp"
#include "pg/common/args.hpp"
#include "pg/common/batch_insert.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/row_hash.hpp"
#include "pg/common/spi.hpp"
#include "pg/jobs/progress.hpp"
#include "pg/load/load_rows.hpp"

extern "C" {
#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

namespace {

// Count and hash sum of the key columns of every row of `source`: what
// the foreign key check reads must be what was loaded.
struct Fingerprint {
  int64 rows = 0;
  uint64 sum = 0;
  bool operator==(const Fingerprint &other) const { return rows == other.rows && sum == other.sum; }
};

// The source's columns that feed the target's foreign keys, as they were
// at load: the check reads them by name, so each must still be the column
// that was fingerprinted (same position, name, type, typmod, collation).
constexpr int kMaxKeyColumns = INDEX_MAX_KEYS;
struct KeyColumns {
  int count;
  int index[kMaxKeyColumns];  // 0-based
  Oid type[kMaxKeyColumns];
  int32 typmod[kMaxKeyColumns];
  Oid collation[kMaxKeyColumns];
  NameData name[kMaxKeyColumns];
};

// A direct load of this transaction: the subtransaction that made it, and
// the one whose check covers it (none yet). A check rolled back with its
// subtransaction (its locks released with it) no longer covers the load.
struct DirectLoad {
  uint64 id;
  Oid source;
  Oid target;
  bool fresh;  // the target held no row: this transaction's rows only
  Fingerprint print;
  KeyColumns keys;
  SubTransactionId loaded_in;
  SubTransactionId checked_in;
};

// Few entries (one per managed table); reserved before use so that the
// callbacks below never allocate.
// (never destroyed: no global destructor runs at the backend's exit)
std::vector<DirectLoad> &direct_loads = *new std::vector<DirectLoad>;
uint64 next_load_id = 1;
// A check runs user code (operators, policies): no load may start inside.
bool checking = false;

// Whether this transaction loaded `rel` from empty (its rows are all this
// transaction's, and no other session may write it until commit).
bool loaded_from_empty(Oid rel) {
  for (const DirectLoad &load : direct_loads) {
    if (load.target == rel && load.fresh) return true;
  }
  return false;
}

void on_transaction(XactEvent event, void *) {
  switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PARALLEL_PRE_COMMIT:
    case XACT_EVENT_PRE_PREPARE:
      for (const DirectLoad &load : direct_loads) {
        if (load.checked_in != InvalidSubTransactionId) continue;
        const char *name = get_rel_name(load.target);
        direct_loads.clear();
        ereport(ERROR, (errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
                        errmsg("load: rows were inserted into \"%s\" without their foreign keys "
                               "checked",
                               name != nullptr ? name : "?"),
                        errhint("tdm._load_rows is followed by tdm._check_loaded_references() in "
                                "the same transaction; tdm.consolidate does both.")));
      }
      break;
    default:
      direct_loads.clear();  // committed or rolled back: nothing pending
      checking = false;
      break;
  }
}

void on_subtransaction(SubXactEvent event, SubTransactionId subtransaction, SubTransactionId parent,
                       void *) {
  if (event == SUBXACT_EVENT_ABORT_SUB) {
    direct_loads.erase(
        std::remove_if(direct_loads.begin(), direct_loads.end(),
                       [&](const DirectLoad &load) { return load.loaded_in == subtransaction; }),
        direct_loads.end());
    for (DirectLoad &load : direct_loads) {
      if (load.checked_in == subtransaction) load.checked_in = InvalidSubTransactionId;
    }
  } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
    for (DirectLoad &load : direct_loads) {
      if (load.loaded_in == subtransaction) load.loaded_in = parent;
      if (load.checked_in == subtransaction) load.checked_in = parent;
    }
  }
}

// Whether a constraint is the copy of another (conparentid).
bool is_partition_copy(Oid constraint) {
  HeapTuple tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(constraint));
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for constraint %u", constraint);
  const bool copy = OidIsValid(reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple))->conparentid);
  ReleaseSysCache(tuple);
  return copy;
}

// Whether inserting into `target` by batches does what an INSERT would:
// no trigger but the foreign keys' checks, no rule, no row security, no
// stored generated column, a plain table; and whether the caller may read
// the tables its foreign keys reference and, where the check must lock
// their rows, lock them.
bool direct_insert_serves(Relation target) {
  const Form_pg_class form = target->rd_rel;
  // (A partition: INSERT into it checks its partition bound.)
  if (form->relkind != RELKIND_RELATION || form->relispartition || form->relhasrules ||
      form->relrowsecurity) {
    return false;
  }
  const TupleDesc desc = RelationGetDescr(target);
  if (desc->constr != nullptr && desc->constr->has_generated_stored) return false;
  if (const TriggerDesc *triggers = target->trigdesc) {
    for (int i = 0; i < triggers->numtriggers; ++i) {
      const Trigger &trigger = triggers->triggers[i];
      if (TRIGGER_FOR_INSERT(trigger.tgtype) &&
          RI_FKey_trigger_type(trigger.tgfoid) != RI_TRIGGER_FK) {
        return false;  // a user trigger, or a deferrable unique constraint's recheck
      }
    }
  }
  // A copy: the catalog lookups below may rebuild the relcache entry.
  List *foreign_keys = static_cast<List *>(copyObjectImpl(RelationGetFKeyList(target)));
  ListCell *cell;
  foreach (cell, foreign_keys) {
    const ForeignKeyCacheInfo *key = lfirst_node(ForeignKeyCacheInfo, cell);
    // A constraint that references a partitioned table has a copy per
    // partition; the partitions are read through that table.
    if (is_partition_copy(key->conoid)) continue;
    const Oid parent = key->confrelid;
    if (pg_class_aclcheck(parent, GetUserId(), ACL_SELECT) != ACLCHECK_OK) return false;
    Relation referenced = table_open(parent, AccessShareLock);
    const bool row_security = referenced->rd_rel->relrowsecurity;
    // Row locks (FOR KEY SHARE needs UPDATE) unless this transaction
    // loaded it from empty first.
    const bool needs_row_locks =
        referenced->rd_rel->relkind == RELKIND_PARTITIONED_TABLE || !loaded_from_empty(parent);
    table_close(referenced, AccessShareLock);
    if (row_security) return false;
    if (needs_row_locks && pg_class_aclcheck(parent, GetUserId(), ACL_UPDATE) != ACLCHECK_OK) {
      return false;
    }
  }
  return true;
}

// The 0-based column of `desc` named `name`, or -1.
int column_named(TupleDesc desc, const char *name) {
  for (int i = 0; i < desc->natts; ++i) {
    const Form_pg_attribute column = TupleDescAttr(desc, i);
    if (!column->attisdropped && strcmp(NameStr(column->attname), name) == 0) return i;
  }
  return -1;
}

// Whether each column of `target`'s foreign keys has a column of the same
// name in `source` that `keys` holds as it was recorded. With `record`,
// records them instead; false when there are too many.
bool match_key_columns(Relation target, TupleDesc source, KeyColumns *keys, bool record) {
  const TupleDesc desc = RelationGetDescr(target);
  List *foreign_keys = static_cast<List *>(copyObjectImpl(RelationGetFKeyList(target)));
  if (record) keys->count = 0;
  ListCell *cell;
  foreach (cell, foreign_keys) {
    const ForeignKeyCacheInfo *key = lfirst_node(ForeignKeyCacheInfo, cell);
    for (int i = 0; i < key->nkeys; ++i) {
      const int column =
          column_named(source, NameStr(TupleDescAttr(desc, key->conkey[i] - 1)->attname));
      if (column < 0) return false;
      int known = 0;
      while (known < keys->count && keys->index[known] != column) ++known;
      if (known == keys->count) {
        if (!record || keys->count == kMaxKeyColumns) return false;
        const Form_pg_attribute attribute = TupleDescAttr(source, column);
        keys->index[known] = column;
        keys->type[known] = attribute->atttypid;
        keys->typmod[known] = attribute->atttypmod;
        keys->collation[known] = attribute->attcollation;
        keys->name[known] = attribute->attname;
        keys->count += 1;
      }
    }
  }
  if (record) return true;
  for (int i = 0; i < keys->count; ++i) {
    if (keys->index[i] >= source->natts) return false;
    const Form_pg_attribute attribute = TupleDescAttr(source, keys->index[i]);
    if (attribute->attisdropped || attribute->atttypid != keys->type[i] ||
        attribute->atttypmod != keys->typmod[i] || attribute->attcollation != keys->collation[i] ||
        strcmp(NameStr(attribute->attname), NameStr(keys->name[i])) != 0) {
      return false;
    }
  }
  return true;
}

// Adds a row's key columns to a fingerprint; what detoasting allocates
// goes to `scratch`, reset here.
void add_to_fingerprint(Fingerprint *print, TupleTableSlot *row, const KeyColumns &keys,
                        const tdm::pg::HashedColumn *types, Datum *values, bool *nulls,
                        MemoryContext scratch) {
  for (int i = 0; i < keys.count; ++i) {
    values[i] = row->tts_values[keys.index[i]];
    nulls[i] = row->tts_isnull[keys.index[i]];
  }
  MemoryContext previous = MemoryContextSwitchTo(scratch);
  print->rows += 1;
  print->sum += tdm::pg::hash_row(values, nulls, types, keys.count);
  MemoryContextSwitchTo(previous);
  MemoryContextReset(scratch);
}

tdm::pg::HashedColumn *hashed_columns(TupleDesc desc, const KeyColumns &keys) {
  auto *types = static_cast<tdm::pg::HashedColumn *>(
      palloc(sizeof(tdm::pg::HashedColumn) * (keys.count + 1)));
  for (int i = 0; i < keys.count; ++i) {
    const Form_pg_attribute column = TupleDescAttr(desc, keys.index[i]);
    types[i] = tdm::pg::hashed_column(column->atttypid);
  }
  return types;
}

// Whether `source` is still what was loaded into `target`: the same key
// columns, holding the same values (PostgreSQL-side, under pg_call).
bool unchanged_since_load(const DirectLoad &load) {
  Relation target = table_open(load.target, AccessShareLock);
  Relation source = table_open(load.source, AccessShareLock);
  KeyColumns keys = load.keys;
  if (!match_key_columns(target, RelationGetDescr(source), &keys, false)) {
    table_close(source, AccessShareLock);
    table_close(target, AccessShareLock);
    return false;
  }
  const tdm::pg::HashedColumn *types = hashed_columns(RelationGetDescr(source), keys);
  auto *values = static_cast<Datum *>(palloc(sizeof(Datum) * (keys.count + 1)));
  auto *nulls = static_cast<bool *>(palloc(sizeof(bool) * (keys.count + 1)));
  MemoryContext scratch =
      AllocSetContextCreate(CurrentMemoryContext, "tdm load keys", ALLOCSET_SMALL_SIZES);
  Fingerprint print;
  TableScanDesc scan = table_beginscan(source, GetActiveSnapshot(), 0, nullptr);
  TupleTableSlot *row = table_slot_create(source, nullptr);
  while (table_scan_getnextslot(scan, ForwardScanDirection, row)) {
    CHECK_FOR_INTERRUPTS();
    slot_getallattrs(row);
    add_to_fingerprint(&print, row, keys, types, values, nulls, scratch);
  }
  ExecDropSingleTupleTableSlot(row);
  table_endscan(scan);
  MemoryContextDelete(scratch);
  table_close(source, AccessShareLock);
  table_close(target, AccessShareLock);
  return print == load.print;
}

// For each column of `target`, the 0-based column of `source` of the same
// name (-1 for a dropped column); false when one is missing or differs in
// type or collation (which an INSERT would coerce, or compare otherwise).
bool map_columns(TupleDesc source, TupleDesc target, int *from) {
  for (int i = 0; i < target->natts; ++i) {
    const Form_pg_attribute column = TupleDescAttr(target, i);
    from[i] = -1;
    if (column->attisdropped) continue;
    from[i] = column_named(source, NameStr(column->attname));
    if (from[i] < 0) return false;
    const Form_pg_attribute candidate = TupleDescAttr(source, from[i]);
    if (candidate->atttypid != column->atttypid || candidate->atttypmod != column->atttypmod ||
        candidate->attcollation != column->attcollation) {
      return false;
    }
  }
  return true;
}

// The executor state index insertion and constraint checks need: the
// target as the only range table entry, which also checks the caller's
// INSERT privilege on the columns given (ExecCheckRTPerms, as COPY does);
// the indexes opened unless they are built after the rows.
struct Inserting {
  EState *estate;
  ResultRelInfo *result;
};

Inserting begin_inserting(Relation target, bool with_indexes) {
  RangeTblEntry *entry = makeNode(RangeTblEntry);
  entry->rtekind = RTE_RELATION;
  entry->relid = RelationGetRelid(target);
  entry->relkind = target->rd_rel->relkind;
  entry->rellockmode = RowExclusiveLock;
  entry->requiredPerms = ACL_INSERT;
  const TupleDesc desc = RelationGetDescr(target);
  for (int i = 0; i < desc->natts; ++i) {
    if (!TupleDescAttr(desc, i)->attisdropped) {
      entry->insertedCols =
          bms_add_member(entry->insertedCols, i + 1 - FirstLowInvalidHeapAttributeNumber);
    }
  }
  List *range_table = list_make1(entry);
  ExecCheckRTPerms(range_table, true);
  Inserting inserting{CreateExecutorState(), makeNode(ResultRelInfo)};
  ExecInitRangeTable(inserting.estate, range_table);
  InitResultRelInfo(inserting.result, target, 1, nullptr, 0);
  if (with_indexes) ExecOpenIndices(inserting.result, false);
  return inserting;
}

// BatchInsert's hook: the batch's rows are in the heap, their index
// entries go in (unique and exclusion constraints checked there).
void insert_index_entries(void *arg, TupleTableSlot **slots, int count) {
  auto *inserting = static_cast<Inserting *>(arg);
  for (int i = 0; i < count; ++i) {
    // Rechecks are for deferrable constraints, whose trigger sends the
    // table to INSERT: none here.
    list_free(ExecInsertIndexTuples(inserting->result, slots[i], inserting->estate, false, false,
                                    nullptr, NIL));
    ResetPerTupleExprContext(inserting->estate);
  }
}

// Whether `rel` holds no row visible here. Of a target (but the rows its
// release had, deleted by this transaction): the load then takes a SHARE
// lock on it until commit, so no other session writes it meanwhile: rows
// that reference it need no row locks (tdm._check_references sees the lock).
bool holds_no_rows(Relation rel) {
  TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, nullptr);
  TupleTableSlot *row = table_slot_create(rel, nullptr);
  const bool empty = !table_scan_getnextslot(scan, ForwardScanDirection, row);
  ExecDropSingleTupleTableSlot(row);
  table_endscan(scan);
  return empty;
}

// Whether an empty target's indexes may be built after its rows, as
// pg_restore does, rather than entry by entry: the caller owns it (REINDEX
// needs it), nothing of this session has it or an index open, and its
// indexes are free now. Sorted builds write a fraction of the WAL and
// compare keys far fewer times; the price is REINDEX's locks until commit
// (ACCESS EXCLUSIVE on the indexes, taken here): other sessions, which
// still see the release's rows this transaction deleted, wait even to plan
// a query on the table. A session reading the table now keeps them: the
// load, which holds the audit trail's head, inserts entry by entry rather
// than wait for it (every audited call would wait behind that reader).
bool may_build_indexes_after(Relation target) {
  if (!pg_class_ownercheck(RelationGetRelid(target), GetUserId()) || target->rd_refcnt != 1 ||
      AfterTriggerPendingOnRel(RelationGetRelid(target))) {
    return false;
  }
  List *indexes = RelationGetIndexList(target);
  if (indexes == NIL) return false;
  List *locked = NIL;
  bool free = true;
  ListCell *cell;
  foreach (cell, indexes) {
    const Oid index_oid = lfirst_oid(cell);
    Relation index = index_open(index_oid, AccessShareLock);
    const bool idle = index->rd_refcnt == 1;
    index_close(index, AccessShareLock);
    if (!idle || !ConditionalLockRelationOid(index_oid, AccessExclusiveLock)) {
      free = false;
      break;
    }
    locked = lappend_oid(locked, index_oid);
  }
  if (!free) {
    // (Nothing was done under them: the ones taken go back at once.)
    foreach (cell, locked) UnlockRelationOid(lfirst_oid(cell), AccessExclusiveLock);
  }
  return free;
}

struct Loaded {
  int64 rows;  // -1: the target needs INSERT
  bool fresh;
  Fingerprint print;
  KeyColumns keys;
};

// PostgreSQL-side (under pg_call).
Loaded load_rows(Oid source_oid, Oid target_oid) {
  Relation target = table_open(target_oid, RowExclusiveLock);
  Relation source = table_open(source_oid, AccessShareLock);
  // Rows come only from a temporary table of this session the caller may
  // read: the collected rows.
  if (source->rd_rel->relkind != RELKIND_RELATION ||
      source->rd_rel->relpersistence != RELPERSISTENCE_TEMP ||
      !isTempNamespace(RelationGetNamespace(source))) {
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("load: rows are loaded only from a temporary table of this session, not "
                           "from \"%s\"",
                           RelationGetRelationName(source))));
  }
  const AclResult readable = pg_class_aclcheck(source_oid, GetUserId(), ACL_SELECT);
  if (readable != ACLCHECK_OK) {
    aclcheck_error(readable, get_relkind_objtype(source->rd_rel->relkind),
                   RelationGetRelationName(source));
  }
  const TupleDesc desc = RelationGetDescr(target);
  auto *from = static_cast<int *>(palloc(sizeof(int) * (desc->natts + 1)));
  Loaded loaded{};
  if (!direct_insert_serves(target) || !map_columns(RelationGetDescr(source), desc, from) ||
      !match_key_columns(target, RelationGetDescr(source), &loaded.keys, true)) {
    table_close(source, AccessShareLock);
    table_close(target, NoLock);
    loaded.rows = -1;
    return loaded;
  }
  // Nothing to load (a table the release brings no row of): no index
  // rebuild or SHARE lock on a table that gains nothing, and nothing for
  // the foreign key check to read.
  if (holds_no_rows(source)) {
    table_close(source, NoLock);
    table_close(target, NoLock);
    return loaded;
  }
  const tdm::pg::HashedColumn *key_types = hashed_columns(RelationGetDescr(source), loaded.keys);
  auto *key_values = static_cast<Datum *>(palloc(sizeof(Datum) * (loaded.keys.count + 1)));
  auto *key_nulls = static_cast<bool *>(palloc(sizeof(bool) * (loaded.keys.count + 1)));
  MemoryContext scratch =
      AllocSetContextCreate(CurrentMemoryContext, "tdm load keys", ALLOCSET_SMALL_SIZES);
  // (SHARE keeps other writers out while the rows count as fresh; one
  // writing now is not waited for, the audit's head held: entry by entry.)
  loaded.fresh = holds_no_rows(target) && ConditionalLockRelationOid(target_oid, ShareLock);
  const bool indexes_after = loaded.fresh && may_build_indexes_after(target);
  Inserting inserting = begin_inserting(target, !indexes_after);
  const bool constrained = desc->constr != nullptr;
  auto *values = static_cast<Datum *>(palloc(sizeof(Datum) * (desc->natts + 1)));
  auto *nulls = static_cast<bool *>(palloc(sizeof(bool) * (desc->natts + 1)));

  TableScanDesc scan = table_beginscan(source, GetActiveSnapshot(), 0, nullptr);
  TupleTableSlot *read = table_slot_create(source, nullptr);
  tdm::pg::BatchInsert *batch = tdm::pg::batch_insert_begin(target, true, 0);
  if (inserting.result->ri_NumIndices > 0) {
    batch->inserted = insert_index_entries;
    batch->inserted_arg = &inserting;
  }
  while (table_scan_getnextslot(scan, ForwardScanDirection, read)) {
    CHECK_FOR_INTERRUPTS();
    slot_getallattrs(read);
    for (int i = 0; i < desc->natts; ++i) {
      values[i] = from[i] < 0 ? Datum(0) : read->tts_values[from[i]];
      nulls[i] = from[i] < 0 || read->tts_isnull[from[i]];
    }
    // Formed once, in the slot's memory: it waits there for its batch.
    TupleTableSlot *out = tdm::pg::batch_insert_slot(batch);
    MemoryContext previous = MemoryContextSwitchTo(out->tts_mcxt);
    HeapTuple tuple = heap_form_tuple(desc, values, nulls);
    MemoryContextSwitchTo(previous);
    ExecStoreHeapTuple(tuple, out, true);
    if (constrained) {
      ExecConstraints(inserting.result, out, inserting.estate);
      ResetPerTupleExprContext(inserting.estate);
    }
    tdm::pg::batch_insert_added(batch, tuple->t_len);
    add_to_fingerprint(&loaded.print, read, loaded.keys, key_types, key_values, key_nulls, scratch);
    if (loaded.print.rows % tdm::pg::kRowsPerProgressStep == 0) {
      tdm::pg::add_rows_done(tdm::pg::kRowsPerProgressStep);
    }
  }
  tdm::pg::add_rows_done(loaded.print.rows % tdm::pg::kRowsPerProgressStep);
  tdm::pg::batch_insert_end(batch);
  MemoryContextDelete(scratch);
  table_endscan(scan);
  ExecDropSingleTupleTableSlot(read);
  ExecCloseIndices(inserting.result);
  FreeExecutorState(inserting.estate);
  table_close(source, NoLock);
  table_close(target, NoLock);
  if (indexes_after) {
    // Unique and exclusion constraints are checked as the indexes are built.
    ReindexParams params{};
    reindex_relation(target_oid, REINDEX_REL_CHECK_CONSTRAINTS, &params);
  }
  loaded.rows = loaded.print.rows;
  return loaded;
}

}  // namespace

namespace tdm::pg {

void install_load_callbacks() {
  RegisterXactCallback(on_transaction, nullptr);
  RegisterSubXactCallback(on_subtransaction, nullptr);
}

}  // namespace tdm::pg

TDM_FUNCTION(tdm_load_rows) {
  using namespace tdm::pg;
  const Oid source = oid_arg(fcinfo, 0, "source");
  const Oid target = oid_arg(fcinfo, 1, "target");
  if (checking) {
    throw tdm::Error(tdm::sqlstate::kObjectNotInPrerequisiteState,
                     "load: no load while foreign keys are being checked");
  }
  direct_loads.reserve(direct_loads.size() + 1);
  const Loaded loaded = pg_call([=] { return load_rows(source, target); });
  if (loaded.rows < 0) PG_RETURN_NULL();
  if (loaded.rows == 0) PG_RETURN_INT64(0);  // (nothing loaded: nothing to check)
  direct_loads.push_back({next_load_id++, source, target, loaded.fresh, loaded.print, loaded.keys,
                          GetCurrentSubTransactionId(), InvalidSubTransactionId});
  PG_RETURN_INT64(loaded.rows);
}

namespace {

// Marks a check as running for as long as it is in scope.
class Checking {
 public:
  Checking() { checking = true; }
  ~Checking() { checking = false; }
  Checking(const Checking &) = delete;
  Checking &operator=(const Checking &) = delete;
};

}  // namespace

// Checks the foreign keys of every table loaded directly in this
// transaction and not checked yet (tdm._check_references raises on the
// first violation), then marks those checked. The check reads the source
// tables: each must then still be what was loaded (its key columns and
// their values), or the check fails. Rows of tables this transaction
// loaded from empty are not locked.
TDM_FUNCTION(tdm_check_loaded_references) {
  using namespace tdm::pg;
  if (checking) {
    throw tdm::Error(tdm::sqlstate::kObjectNotInPrerequisiteState,
                     "load: a foreign key check is already running");
  }
  Checking running;
  std::vector<DirectLoad> unchecked;
  std::vector<std::string> fresh;
  for (const DirectLoad &load : direct_loads) {
    if (load.fresh) fresh.push_back(std::to_string(load.target));
    if (load.checked_in == InvalidSubTransactionId) unchecked.push_back(load);
  }
  Spi spi;
  for (const DirectLoad &load : unchecked) {
    spi.query("SELECT tdm._check_references($1, $2, $3::oid[]::regclass[])",
              {oid_param(REGCLASSOID, load.target), oid_param(REGCLASSOID, load.source),
               text_array_param(fresh)});
    const DirectLoad *checked = &load;
    if (!pg_call([=] { return unchanged_since_load(*checked); })) {
      const Oid source = load.source;
      const Oid target = load.target;
      pg_call([=] {
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("load: the rows of %s changed after they were loaded into %s",
                        get_rel_name(source), get_rel_name(target)),
                 errhint("Their foreign keys cannot be checked; roll back and load again.")));
      });
    }
  }
  const SubTransactionId here = GetCurrentSubTransactionId();
  for (DirectLoad &load : direct_loads) {
    for (const DirectLoad &done : unchecked) {
      if (load.id == done.id && load.checked_in == InvalidSubTransactionId) load.checked_in = here;
    }
  }
  PG_RETURN_VOID();
}
