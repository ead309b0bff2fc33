// Row hashes of collected rows (pg/common/row_hash.hpp):
//  * tdm._row_hash(VARIADIC "any"): the hash of one row.
//  * the running count and sum of the hashes per environment slot, which
//    collection adds to (tdm._collect_rows) so that it checks the release
//    lock without reading its rows again; tdm._collect_totals() returns
//    and clears them.
#include <array>
#include <string>

#include "pg/collect/totals.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/row_hash.hpp"

extern "C" {
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
}

namespace {

using tdm::pg::HashedColumn;

struct ArgumentTypes {
  int count;
  HashedColumn columns[FUNC_MAX_ARGS];
};

// Type facts are looked up once per call site (cached in fn_extra).
const ArgumentTypes *argument_types(FunctionCallInfo fcinfo) {
  auto *types = static_cast<ArgumentTypes *>(fcinfo->flinfo->fn_extra);
  if (types != nullptr) return types;
  return tdm::pg::pg_call([fcinfo] {
    auto *found = static_cast<ArgumentTypes *>(
        MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ArgumentTypes)));
    found->count = PG_NARGS();
    for (int i = 0; i < found->count; ++i) {
      found->columns[i] = tdm::pg::hashed_column(get_fn_expr_argtype(fcinfo->flinfo, i));
    }
    fcinfo->flinfo->fn_extra = found;
    return found;
  });
}

uint64 hash_arguments(FunctionCallInfo fcinfo, int first) {
  const ArgumentTypes *types = argument_types(fcinfo);
  const int count = types->count - first;
  Datum values[FUNC_MAX_ARGS];
  bool nulls[FUNC_MAX_ARGS];
  for (int i = 0; i < count; ++i) {
    nulls[i] = PG_ARGISNULL(first + i);
    values[i] = nulls[i] ? Datum(0) : PG_GETARG_DATUM(first + i);
  }
  const HashedColumn *columns = types->columns + first;
  // Called once per collected row: the error bridge only where PostgreSQL
  // is called (detoasting, an enum's label), which plain values do not need.
  if (!tdm::pg::needs_postgres(values, nulls, columns, count)) {
    return tdm::pg::hash_values(values, nulls, columns, count);
  }
  return tdm::pg::pg_call([&] { return tdm::pg::hash_values(values, nulls, columns, count); });
}

// Running totals of collection, one per environment slot. Plain data: no
// global destructor.
constexpr int kSlots = tdm::pg::kCollectSlots;
std::array<tdm::pg::RowHashTotal, kSlots> g_totals{};

}  // namespace

void tdm::pg::add_to_collect_total(int slot, uint64 hash) {
  g_totals[slot - 1].add(hash);
}

TDM_FUNCTION(tdm_row_hash) {
  PG_RETURN_INT64(static_cast<int64>(hash_arguments(fcinfo, 0)));
}

// tdm._collect_totals(): (slot, row_count, checksum) of the slots used since
// the last call, which clears them.
TDM_FUNCTION(tdm_collect_totals) {
  tdm::pg::pg_call([fcinfo] { InitMaterializedSRF(fcinfo, 0); });
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  for (int slot = 0; slot < kSlots; ++slot) {
    tdm::pg::RowHashTotal &total = g_totals[slot];
    if (total.rows == 0) continue;
    const std::string checksum = total.checksum();
    const char *text = checksum.c_str();
    const int64 rows = total.rows;
    total = tdm::pg::RowHashTotal{};
    tdm::pg::pg_call([=] {
      Datum values[3] = {Int32GetDatum(slot + 1), Int64GetDatum(rows),
                         PointerGetDatum(cstring_to_text(text))};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return (Datum)0;
}
