// tdm._swap_storage(target, spare, target_indexes, spare_indexes): the
// target table takes the spare's storage and the spare the target's, in
// the catalog only; then the spare, now holding what the target held, is
// dropped. The caller holds ACCESS EXCLUSIVE on the target.
//
// Why in the catalog: the time the target is locked must not grow with its
// size. The target keeps its OID, so its foreign keys, triggers, grants,
// views, sequences and statistics targets stay as they are; only the files
// under it change, as CLUSTER and VACUUM FULL change them: relfilenode and
// the size and freeze statistics of the heap and of each index pair, and
// the TOAST table by its link (the spare's rows point at the spare's TOAST
// table, which becomes the target's). PostgreSQL exports no function that
// does this for a table with its indexes (finish_heap_swap rebuilds every
// index), hence this one.
#include <algorithm>
#include <vector>

#include "core/common/error.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/rollback/spare.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/toast_internals.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/namespace.h"
#include "commands/tablecmds.h"
#include "nodes/nodes.h"
#include "nodes/pg_list.h"
#include "storage/predicate.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

namespace {

[[noreturn]] void refuse(Relation target, const char *why) {
  ereport(ERROR,
          (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("the storage of %s cannot be swapped: %s",
                                                          RelationGetRelationName(target), why)));
  pg_unreachable();
}

// The same physical row layout: attribute by attribute, dropped included.
bool same_layout(TupleDesc a, TupleDesc b) {
  if (a->natts != b->natts) return false;
  for (int i = 0; i < a->natts; ++i) {
    Form_pg_attribute x = TupleDescAttr(a, i);
    Form_pg_attribute y = TupleDescAttr(b, i);
    if (x->attisdropped != y->attisdropped || x->atttypid != y->atttypid ||
        x->atttypmod != y->atttypmod || x->attlen != y->attlen || x->attalign != y->attalign ||
        x->attbyval != y->attbyval) {
      return false;
    }
  }
  return true;
}

// Two indexes whose storage can stand in for each other: same access
// method, columns, operator families, collations, options, expressions,
// predicate and uniqueness.
bool same_index_definition(Relation a, Relation b) {
  Form_pg_index x = a->rd_index;
  Form_pg_index y = b->rd_index;
  if (a->rd_rel->relam != b->rd_rel->relam || x->indnatts != y->indnatts ||
      x->indnkeyatts != y->indnkeyatts || x->indisunique != y->indisunique ||
      x->indnullsnotdistinct != y->indnullsnotdistinct || x->indisexclusion != y->indisexclusion) {
    return false;
  }
  for (int i = 0; i < x->indnatts; ++i) {
    if (x->indkey.values[i] != y->indkey.values[i]) return false;
  }
  for (int i = 0; i < x->indnkeyatts; ++i) {
    if (a->rd_opfamily[i] != b->rd_opfamily[i] || a->rd_opcintype[i] != b->rd_opcintype[i] ||
        a->rd_indcollation[i] != b->rd_indcollation[i] ||
        a->rd_indoption[i] != b->rd_indoption[i]) {
      return false;
    }
  }
  return equal(RelationGetIndexExpressions(a), RelationGetIndexExpressions(b)) &&
         equal(RelationGetIndexPredicate(a), RelationGetIndexPredicate(b));
}

// A file new in this transaction (TRUNCATE, REINDEX, a swap): under
// wal_level = minimal its changes are synced at commit instead of logged.
bool new_in_transaction(Relation rel) {
  return rel->rd_createSubid != InvalidSubTransactionId ||
         rel->rd_firstRelfilenodeSubid != InvalidSubTransactionId;
}

// The relation's indexes are exactly `expected` (any order). palloc'd
// arrays: an error may end this frame at any call.
bool has_indexes(Relation rel, const Oid *expected, int count) {
  List *list = RelationGetIndexList(rel);
  if (list_length(list) != count) return false;
  auto *actual = static_cast<Oid *>(palloc(sizeof(Oid) * (count + 1)));
  auto *wanted = static_cast<Oid *>(palloc(sizeof(Oid) * (count + 1)));
  int i = 0;
  ListCell *cell;
  foreach (cell, list) actual[i++] = lfirst_oid(cell);
  std::copy(expected, expected + count, wanted);
  std::sort(actual, actual + count);
  std::sort(wanted, wanted + count);
  return std::equal(actual, actual + count, wanted);
}

// Exchanges the storage of two pg_class rows (and their TOAST links when
// `toast_links`).
void swap_class_rows(Relation pg_class, Oid a, Oid b, bool toast_links) {
  HeapTuple row_a = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(a));
  HeapTuple row_b = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(b));
  if (!HeapTupleIsValid(row_a) || !HeapTupleIsValid(row_b)) {
    elog(ERROR, "tdm: relation %u or %u vanished", a, b);
  }
  auto *x = reinterpret_cast<Form_pg_class>(GETSTRUCT(row_a));
  auto *y = reinterpret_cast<Form_pg_class>(GETSTRUCT(row_b));
  if (x->relfilenode == InvalidOid || y->relfilenode == InvalidOid || x->relam != y->relam ||
      x->reltablespace != y->reltablespace || x->relpersistence != y->relpersistence ||
      x->relkind != y->relkind) {
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("the storage of %s and %s cannot be exchanged", NameStr(x->relname),
                           NameStr(y->relname)),
                    errdetail("Their access method, tablespace, persistence or kind differ.")));
  }
  std::swap(x->relfilenode, y->relfilenode);
  std::swap(x->relpages, y->relpages);
  std::swap(x->reltuples, y->reltuples);
  std::swap(x->relallvisible, y->relallvisible);
  if (x->relkind != RELKIND_INDEX) {
    std::swap(x->relfrozenxid, y->relfrozenxid);
    std::swap(x->relminmxid, y->relminmxid);
  }
  if (toast_links) std::swap(x->reltoastrelid, y->reltoastrelid);
  CatalogTupleUpdate(pg_class, &row_a->t_self, row_a);
  CatalogTupleUpdate(pg_class, &row_b->t_self, row_b);
  heap_freetuple(row_a);
  heap_freetuple(row_b);
  // Both entries' files change under them at the next invalidation.
  RelationCloseSmgrByOid(a);
  RelationCloseSmgrByOid(b);
}

// `to` takes the storage parameters of `from` (none when `from` is
// InvalidOid): the spare's TOAST table becomes the target's, with the
// target's TOAST settings, not the spare's (autovacuum off).
void copy_reloptions(Relation pg_class, Oid from, Oid to) {
  Datum options = (Datum)0;
  bool missing = true;
  HeapTuple source = nullptr;
  if (OidIsValid(from)) {
    source = SearchSysCache1(RELOID, ObjectIdGetDatum(from));
    if (!HeapTupleIsValid(source)) elog(ERROR, "tdm: relation %u vanished", from);
    options = SysCacheGetAttr(RELOID, source, Anum_pg_class_reloptions, &missing);
  }
  HeapTuple row = SearchSysCache1(RELOID, ObjectIdGetDatum(to));
  if (!HeapTupleIsValid(row)) elog(ERROR, "tdm: relation %u vanished", to);
  Datum values[Natts_pg_class] = {};
  bool nulls[Natts_pg_class] = {};
  bool replace[Natts_pg_class] = {};
  values[Anum_pg_class_reloptions - 1] = options;
  nulls[Anum_pg_class_reloptions - 1] = missing;
  replace[Anum_pg_class_reloptions - 1] = true;
  HeapTuple changed = heap_modify_tuple(row, RelationGetDescr(pg_class), values, nulls, replace);
  CatalogTupleUpdate(pg_class, &changed->t_self, changed);
  heap_freetuple(changed);
  ReleaseSysCache(row);
  if (source != nullptr) ReleaseSysCache(source);
}

// A TOAST table now belongs to `owner` (pg_depend follows the link).
void move_toast_dependency(Oid toast, Oid owner) {
  if (!OidIsValid(toast)) return;
  if (deleteDependencyRecordsFor(RelationRelationId, toast, false) != 1) {
    elog(ERROR, "tdm: TOAST table %u does not have exactly one owner", toast);
  }
  const ObjectAddress toast_address = {RelationRelationId, toast, 0};
  const ObjectAddress owner_address = {RelationRelationId, owner, 0};
  recordDependencyOn(&toast_address, &owner_address, DEPENDENCY_INTERNAL);
}

// Runs under one pg_call (PostgreSQL-style code, no C++ objects).
void swap_storage(Oid target_oid, Oid spare_oid, const Oid *target_indexes,
                  const Oid *spare_indexes, int index_count) {
  Relation target = table_open(target_oid, AccessExclusiveLock);
  Relation spare = table_open(spare_oid, AccessExclusiveLock);
  if (target->rd_rel->relkind != RELKIND_RELATION || spare->rd_rel->relkind != RELKIND_RELATION) {
    refuse(target, "both must be plain tables");
  }
  tdm::pg::require_replace_rights(target);
  if (RelationGetNamespace(spare) != get_namespace_oid("tdm_snapshot", false)) {
    refuse(target, "a spare is a table of tdm_snapshot");
  }
  if (!same_layout(RelationGetDescr(target), RelationGetDescr(spare))) {
    refuse(target, "its columns changed since the spare was built");
  }
  if (!has_indexes(target, target_indexes, index_count) ||
      !has_indexes(spare, spare_indexes, index_count)) {
    refuse(target, "its indexes changed since the spare was built");
  }
  // Scans, cursors or queued trigger events of this transaction on the
  // target would read the new files with the old one's positions.
  CheckTableNotInUse(target, "swap the storage of");
  CheckTableNotInUse(spare, "swap the storage of");
  // Under wal_level = minimal a spare built in this transaction was not
  // WAL-logged: the target must then count its new files as new too. A
  // target whose files are new in this transaction while the spare's are
  // not would be marked as skipping WAL for files nothing syncs at commit.
  const bool spare_is_new = spare->rd_createSubid != InvalidSubTransactionId;
  bool target_is_new = new_in_transaction(target);
  // Serializable transactions' predicate locks on the rows and pages that
  // are swapped out now cover the whole table, as CLUSTER leaves them.
  CheckTableForSerializableConflictIn(target);
  TransferPredicateLocksToHeapRelation(target);
  const Oid target_toast = target->rd_rel->reltoastrelid;
  const Oid spare_toast = spare->rd_rel->reltoastrelid;
  for (int i = 0; i < index_count; ++i) {
    Relation target_index = index_open(target_indexes[i], AccessExclusiveLock);
    Relation spare_index = index_open(spare_indexes[i], AccessExclusiveLock);
    if (!same_index_definition(target_index, spare_index)) {
      refuse(target,
             psprintf("index %s and its spare %s differ", RelationGetRelationName(target_index),
                      RelationGetRelationName(spare_index)));
    }
    target_is_new = target_is_new || new_in_transaction(target_index);
    TransferPredicateLocksToHeapRelation(target_index);
    index_close(spare_index, NoLock);
    index_close(target_index, NoLock);
  }
  if (!XLogIsNeeded() && target_is_new && !spare_is_new) {
    refuse(target, "its files are new in this transaction and wal_level is minimal");
  }
  table_close(spare, NoLock);
  table_close(target, NoLock);

  Relation pg_class = table_open(RelationRelationId, RowExclusiveLock);
  swap_class_rows(pg_class, target_oid, spare_oid, true);
  for (int i = 0; i < index_count; ++i) {
    swap_class_rows(pg_class, target_indexes[i], spare_indexes[i], false);
  }
  if (OidIsValid(spare_toast)) copy_reloptions(pg_class, target_toast, spare_toast);
  table_close(pg_class, RowExclusiveLock);
  move_toast_dependency(spare_toast, target_oid);
  move_toast_dependency(target_toast, spare_oid);
  CommandCounterIncrement();
  if (spare_is_new) {
    Relation swapped = relation_open(target_oid, NoLock);
    RelationAssumeNewRelfilenode(swapped);
    relation_close(swapped, NoLock);
    for (int i = 0; i < index_count; ++i) {
      Relation index = relation_open(target_indexes[i], NoLock);
      RelationAssumeNewRelfilenode(index);
      relation_close(index, NoLock);
    }
  }

  // The spare holds the target's former rows (its TOAST table included):
  // gone at commit, its files with it.
  const ObjectAddress spare_address = {RelationRelationId, spare_oid, 0};
  performDeletion(&spare_address, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
  CommandCounterIncrement();
  // The TOAST table takes the names PostgreSQL gives the target's.
  if (OidIsValid(spare_toast)) {
    RenameRelationInternal(spare_toast, psprintf("pg_toast_%u", target_oid), true, false);
    RenameRelationInternal(toast_get_valid_index(spare_toast, AccessExclusiveLock),
                           psprintf("pg_toast_%u_index", target_oid), true, true);
    CommandCounterIncrement();
  }
}

}  // namespace

// tdm._swap_storage(target regclass, spare regclass, target_indexes oid[],
//                   spare_indexes oid[]) RETURNS void
TDM_FUNCTION(tdm_swap_storage) {
  const Oid target = tdm::pg::oid_arg(fcinfo, 0, "target");
  const Oid spare = tdm::pg::oid_arg(fcinfo, 1, "spare");
  const std::vector<Oid> target_indexes = tdm::pg::oid_array_arg(fcinfo, 2, "target_indexes");
  const std::vector<Oid> spare_indexes = tdm::pg::oid_array_arg(fcinfo, 3, "spare_indexes");
  if (target_indexes.size() != spare_indexes.size()) {
    throw tdm::Error(tdm::sqlstate::kInvalidParameterValue,
                     "target_indexes and spare_indexes must pair up");
  }
  const Oid *pairs_target = target_indexes.data();
  const Oid *pairs_spare = spare_indexes.data();
  const int count = static_cast<int>(target_indexes.size());
  tdm::pg::pg_call([=] { swap_storage(target, spare, pairs_target, pairs_spare, count); });
  PG_RETURN_VOID();
}
