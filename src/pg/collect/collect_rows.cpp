// tdm._collect_rows(collected, query, release, envs): collection's copy.
// Runs `query` ($1 = the release), whose rows are (environment slot, the
// managed table's columns in order), and inserts into the session's
// temporary table `collected` (tdm_row_hash, the same columns, tdm_env):
// the row hash (also added to the slot's totals, for the release lock),
// the values and the environment's name, in batches through
// table_multi_insert as COPY does. An INSERT .. SELECT would call the hash
// function and insert one row at a time.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/common/error.hpp"
#include "pg/collect/totals.hpp"
#include "pg/common/args.hpp"
#include "pg/common/batch_insert.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/row_hash.hpp"
#include "pg/common/spi.hpp"
#include "pg/jobs/progress.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/rel.h"
}

namespace {

// The collected table: tdm_row_hash, the values, tdm_env. The query:
// the environment's slot, the values.
constexpr int kAddedColumns = 2;

// The query's value columns must be the collected table's, in order,
// between the int8 hash and the text name.
void check_columns(TupleDesc query, TupleDesc collected) {
  if (query->natts - 1 + kAddedColumns != collected->natts ||
      TupleDescAttr(query, 0)->atttypid != INT4OID ||
      TupleDescAttr(collected, 0)->atttypid != INT8OID ||
      TupleDescAttr(collected, collected->natts - 1)->atttypid != TEXTOID) {
    throw tdm::Error(tdm::sqlstate::kDatatypeMismatch,
                     "collect: the query gives " + std::to_string(query->natts - 1) +
                         " columns for a table of " +
                         std::to_string(collected->natts - kAddedColumns) +
                         ", or the slot, hash or name column has another type");
  }
  for (int i = 1; i < query->natts; ++i) {
    if (TupleDescAttr(query, i)->atttypid != TupleDescAttr(collected, i)->atttypid) {
      throw tdm::Error(tdm::sqlstate::kDatatypeMismatch,
                       "collect: column " + std::to_string(i) +
                           " of the query and of the collected table differ in type");
    }
  }
}

}  // namespace

TDM_FUNCTION(tdm_collect_rows) {
  using namespace tdm::pg;
  const Oid collected = oid_arg(fcinfo, 0, "collected");
  const std::string query = text_arg(fcinfo, 1, "query");
  const std::string release = text_arg(fcinfo, 2, "release");
  const std::vector<std::string> envs = text_array_arg(fcinfo, 3, "envs");
  if (envs.size() > static_cast<std::size_t>(kCollectSlots)) {
    throw tdm::Error(
        tdm::sqlstate::kProgramLimitExceeded,
        "tdm collects from at most " + std::to_string(kCollectSlots) + " environments");
  }
  Spi spi;
  Relation relation = pg_call([=] { return table_open(collected, RowExclusiveLock); });
  // Only into a plain temporary table of this session (no privilege is
  // checked), with nothing that inserting in batches would bypass.
  const bool own_temporary = pg_call([=] { return plain_own_temporary(relation); });
  if (!own_temporary) {
    pg_call([=] { table_close(relation, RowExclusiveLock); });
    throw tdm::Error(tdm::sqlstate::kWrongObjectType,
                     "collect: rows go only into a plain temporary table of this session, without "
                     "indexes, constraints, triggers or rules");
  }
  TupleDesc desc = RelationGetDescr(relation);
  std::vector<Datum> names;
  for (const std::string &env : envs) {
    const char *name = env.c_str();
    names.push_back(pg_call([=] { return PointerGetDatum(cstring_to_text(name)); }));
  }
  BatchInsert *batch =
      pg_call([=] { return batch_insert_begin(relation, true, TABLE_INSERT_SKIP_FSM); });
  std::vector<Datum> out_values(desc->natts);
  std::unique_ptr<bool[]> out_nulls(new bool[desc->natts]);
  std::vector<HashedColumn> columns;
  int64 rows = 0;
  // Runs in the executor's frames: PostgreSQL errors leave through Spi's
  // guard; nothing here owns a resource.
  spi.stream(query, {text_param(release)}, [&](TupleTableSlot *row) {
    slot_getallattrs(row);
    const int values = row->tts_tupleDescriptor->natts - 1;
    if (columns.empty()) {
      check_columns(row->tts_tupleDescriptor, desc);
      for (int i = 1; i <= values; ++i) {
        const Form_pg_attribute attribute = TupleDescAttr(row->tts_tupleDescriptor, i);
        columns.push_back(hashed_column(attribute->atttypid));
      }
    }
    const int env = row->tts_isnull[0] ? 0 : DatumGetInt32(row->tts_values[0]);
    if (env < 1 || env > static_cast<int>(names.size())) {
      throw tdm::Error(tdm::sqlstate::kInternalError, "collect: a row of no environment");
    }
    const uint64 hash = hash_row(row->tts_values + 1, row->tts_isnull + 1, columns.data(), values);
    add_to_collect_total(env, hash);
    out_values[0] = Int64GetDatum(static_cast<int64>(hash));
    out_nulls[0] = false;
    std::memcpy(out_values.data() + 1, row->tts_values + 1, sizeof(Datum) * values);
    std::memcpy(out_nulls.get() + 1, row->tts_isnull + 1, sizeof(bool) * values);
    out_values[values + 1] = names[env - 1];
    out_nulls[values + 1] = false;
    batch_insert_row(batch, out_values.data(), out_nulls.get());
    if (++rows % kRowsPerProgressStep == 0) add_rows_done(kRowsPerProgressStep);
  });
  add_rows_done(rows % kRowsPerProgressStep);
  pg_call([=] {
    batch_insert_end(batch);
    table_close(relation, NoLock);
  });
  PG_RETURN_INT64(rows);
}
