// tdm._make_spare(target, storage, hashed, name): builds, from a snapshot's
// copy of a target table, the table a rollback swaps into the target's
// place (its "spare"), and returns it with its index pairs, row count and
// checksum.
//
// Why a table built this way: a rollback that exchanges storage
// (tdm._swap_storage) needs, for the target and for every one of its
// indexes, storage of exactly the same physical layout: the same
// attributes as the target, dropped ones included (a plain CREATE TABLE
// cannot make those), and indexes of the same definitions. So the spare is
// created from the target's own tuple descriptor, as CLUSTER creates its
// new heap, filled from the snapshot's copy (rows frozen: the table is new
// in this transaction, and after a swap even a transaction older than the
// rollback sees the restored rows), and indexed after the rows are in.
// Every row is hashed on the way, so the caller checks the spare against
// the snapshot's checksum before it is ever swapped in.
#include <string>
#include <vector>

#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/rollback/spare.hpp"
#include "pg/snapshot/copy_rows.hpp"

extern "C" {
#include "access/attmap.h"
#include "access/genam.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/dependency.h"
#include "catalog/heap.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "catalog/toasting.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_utilcmd.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
}

namespace {

struct Spare {
  Oid spare;
  ArrayType *target_indexes;
  ArrayType *spare_indexes;
  tdm::pg::CopiedRows copied;
};

// autovacuum_enabled = false, for the table or (`toast`) its TOAST table:
// an autovacuum on a spare would make the swap wait for it with the
// target locked, and a spare's rows are frozen and never change.
Datum autovacuum_off(bool toast) {
  DefElem *option = makeDefElem(pstrdup("autovacuum_enabled"),
                                reinterpret_cast<Node *>(makeString(pstrdup("false"))), -1);
  if (toast) option->defnamespace = pstrdup("toast");
  const char *valid_namespaces[] = HEAP_RELOPT_NAMESPACES;
  return transformRelOptions((Datum)0, list_make1(option), toast ? "toast" : nullptr,
                             const_cast<char **>(valid_namespaces), false, false);
}

ArrayType *oid_array(const Oid *oids, int count) {
  auto *items = static_cast<Datum *>(palloc(sizeof(Datum) * (count + 1)));
  for (int i = 0; i < count; ++i) items[i] = ObjectIdGetDatum(oids[i]);
  return construct_array(items, count, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
}

}  // namespace

namespace tdm::pg {

void require_replace_rights(Relation target) {
  // Every one of them (pg_class_aclcheck would accept any one): the swap
  // replaces the rows whoever owns the table.
  const AclMode needed = ACL_SELECT | ACL_INSERT | ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE;
  if (pg_class_aclmask(RelationGetRelid(target), GetUserId(), needed, ACLMASK_ALL) != needed) {
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to replace the rows of %s", RelationGetRelationName(target)),
             errhint("A rollback needs SELECT, INSERT, UPDATE, DELETE and TRUNCATE on the target's "
                     "tables.")));
  }
}

}  // namespace tdm::pg

namespace {

// Runs under one pg_call (PostgreSQL-style code, no C++ objects).
Spare make_spare(Oid target_oid, Oid storage_oid, const int16 *hashed, int hashed_count,
                 const char *name) {
  Relation target = table_open(target_oid, AccessShareLock);
  if (target->rd_rel->relkind != RELKIND_RELATION) {
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("%s is not a plain table: its storage cannot be swapped",
                           RelationGetRelationName(target))));
  }
  tdm::pg::require_replace_rights(target);
  const Oid namespace_oid = get_namespace_oid("tdm_snapshot", false);
  // (Built from a snapshot's copy only: not from any table the caller reads.)
  if (get_rel_namespace(storage_oid) != namespace_oid) {
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("cannot build a spare of %s from %s: it is not a table of tdm_snapshot",
                           RelationGetRelationName(target), get_rel_name(storage_oid)),
                    errhint("Spares are built from snapshots' copies (tdm.snapshot_table).")));
  }
  // Owned like the target: after a swap its TOAST table is the target's.
  const Oid spare_oid = heap_create_with_catalog(
      name, namespace_oid, target->rd_rel->reltablespace, InvalidOid, InvalidOid, InvalidOid,
      target->rd_rel->relowner, target->rd_rel->relam, RelationGetDescr(target), NIL,
      RELKIND_RELATION, target->rd_rel->relpersistence, false, false, ONCOMMIT_NOOP,
      autovacuum_off(false), false, true, true, InvalidOid, nullptr);
  CommandCounterIncrement();
  if (OidIsValid(target->rd_rel->reltoastrelid)) {
    NewHeapCreateToastTable(spare_oid, autovacuum_off(true), AccessExclusiveLock, InvalidOid);
    CommandCounterIncrement();
  }

  Relation spare = table_open(spare_oid, AccessExclusiveLock);
  Spare made{};
  made.spare = spare_oid;
  made.copied = tdm::pg::copy_rows(storage_oid, spare, hashed, hashed_count,
                                   TABLE_INSERT_SKIP_FSM | TABLE_INSERT_FROZEN);

  // One index per index of the target, same definition, built on the rows.
  // Constraints stay the target's: a swap exchanges storage, not catalogs.
  List *indexes = RelationGetIndexList(target);
  const int count = list_length(indexes);
  auto *target_indexes = static_cast<Oid *>(palloc(sizeof(Oid) * (count + 1)));
  auto *spare_indexes = static_cast<Oid *>(palloc(sizeof(Oid) * (count + 1)));
  AttrMap *map = build_attrmap_by_name(RelationGetDescr(spare), RelationGetDescr(target));
  int made_count = 0;
  ListCell *cell;
  foreach (cell, indexes) {
    Relation index = index_open(lfirst_oid(cell), AccessShareLock);
    if (!index->rd_index->indisvalid || !index->rd_index->indisready ||
        !index->rd_index->indislive) {
      ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                      errmsg("index %s of %s is not valid: the table's storage cannot be swapped",
                             RelationGetRelationName(index), RelationGetRelationName(target)),
                      errhint("REINDEX it or drop it.")));
    }
    Oid constraint = InvalidOid;
    IndexStmt *statement = generateClonedIndexStmt(nullptr, index, map, &constraint);
    if (statement->excludeOpNames == NIL) {
      statement->primary = false;
      statement->isconstraint = false;
      statement->deferrable = false;
      statement->initdeferred = false;
    }
    if (OidIsValid(index->rd_rel->reltablespace)) {
      statement->tableSpace = get_tablespace_name(index->rd_rel->reltablespace);
    }
    const ObjectAddress created = DefineIndex(spare_oid, statement, InvalidOid, InvalidOid,
                                              InvalidOid, false, false, false, false, true);
    target_indexes[made_count] = RelationGetRelid(index);
    spare_indexes[made_count] = created.objectId;
    ++made_count;
    index_close(index, NoLock);
  }
  made.target_indexes = oid_array(target_indexes, made_count);
  made.spare_indexes = oid_array(spare_indexes, made_count);
  table_close(spare, NoLock);
  table_close(target, NoLock);
  return made;
}

}  // namespace

// tdm._make_spare(target regclass, storage regclass, hashed int2[], name text,
//                 OUT spare regclass, OUT target_indexes oid[], OUT spare_indexes oid[],
//                 OUT row_count bigint, OUT checksum text)
TDM_FUNCTION(tdm_make_spare) {
  const Oid target = tdm::pg::oid_arg(fcinfo, 0, "target");
  const Oid storage = tdm::pg::oid_arg(fcinfo, 1, "storage");
  const std::vector<int16> hashed = tdm::pg::int2_array_arg(fcinfo, 2, "hashed");
  const std::string name = tdm::pg::text_arg(fcinfo, 3, "name");
  const int16 *columns = hashed.data();
  const int count = static_cast<int>(hashed.size());
  const char *spare_name = name.c_str();
  const Spare made =
      tdm::pg::pg_call([=] { return make_spare(target, storage, columns, count, spare_name); });
  return tdm::pg::copied_rows_datum(
      fcinfo, made.copied,
      {ObjectIdGetDatum(made.spare), PointerGetDatum(made.target_indexes),
       PointerGetDatum(made.spare_indexes)});
}

// tdm._drop_spare(spare regclass) RETURNS void: drops a spare that will not
// be swapped (stale, or of an older snapshot). Spares are owned like their
// targets, so not necessarily by the caller: only tables of tdm_snapshot.
TDM_FUNCTION(tdm_drop_spare) {
  const Oid spare = tdm::pg::oid_arg(fcinfo, 0, "spare");
  tdm::pg::pg_call([=] {
    // (checked before the lock, which is not taken on just any table, and
    // again after it: as it is, not as it was before the wait)
    const Oid snapshot_namespace = get_namespace_oid("tdm_snapshot", false);
    const auto require_spare = [=] {
      if (get_rel_namespace(spare) != snapshot_namespace ||
          get_rel_relkind(spare) != RELKIND_RELATION) {
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%u is not a table of tdm_snapshot", spare)));
      }
    };
    require_spare();
    LockRelationOid(spare, AccessExclusiveLock);
    require_spare();
    const ObjectAddress address = {RelationRelationId, spare, 0};
    performDeletion(&address, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
  });
  PG_RETURN_VOID();
}
