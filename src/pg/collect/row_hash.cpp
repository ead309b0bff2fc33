// Row hashes of collected rows, computed on the values' binary form (no
// output functions; independent of TimeZone and DateStyle).
//  * tdm._row_hash(VARIADIC "any"): the hash of one row.
//  * tdm._collect_row_hash(slot, VARIADIC "any"): the same hash, also added
//    to the running count and sum of `slot` (one per environment), so that
//    collection checks the release lock without reading its rows again;
//    tdm._collect_totals() returns and clears those sums.
// A lock's checksum is the sum of an environment's row hashes: it does not
// depend on row order.
#include <array>
#include <string>

#include "core/common/error.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "common/hashfn.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
}

namespace {

struct ArgumentTypes {
  int count;
  int16 length[FUNC_MAX_ARGS];
  bool by_value[FUNC_MAX_ARGS];
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
      Oid type = get_fn_expr_argtype(fcinfo->flinfo, i);
      get_typlenbyval(type, &found->length[i], &found->by_value[i]);
    }
    fcinfo->flinfo->fn_extra = found;
    return found;
  });
}

uint64 hash_arguments(FunctionCallInfo fcinfo, int first) {
  const ArgumentTypes *types = argument_types(fcinfo);
  uint64 hash = 0x7464'6d00'0000'0001ULL;
  for (int i = first; i < types->count; ++i) {
    const int position = i - first;
    if (PG_ARGISNULL(i)) {
      hash = hash_combine64(hash, 0x6e75'6c6cULL + static_cast<uint64>(position));
      continue;
    }
    Datum value = PG_GETARG_DATUM(i);
    const unsigned char *bytes;
    int length;
    if (types->by_value[i]) {
      hash =
          hash_combine64(hash, hash_bytes_uint32_extended(static_cast<uint32>(value), value >> 32));
      continue;
    }
    if (types->length[i] == -1) {
      auto *varlena = reinterpret_cast<struct varlena *>(DatumGetPointer(value));
      if (VARATT_IS_EXTENDED(varlena)) {  // compressed or toasted: expand first
        varlena = tdm::pg::pg_call([varlena] { return pg_detoast_datum_packed(varlena); });
      }
      bytes = reinterpret_cast<const unsigned char *>(VARDATA_ANY(varlena));
      length = static_cast<int>(VARSIZE_ANY_EXHDR(varlena));
    } else if (types->length[i] == -2) {
      bytes = reinterpret_cast<const unsigned char *>(DatumGetCString(value));
      length = static_cast<int>(strlen(DatumGetCString(value)));
    } else {
      bytes = reinterpret_cast<const unsigned char *>(DatumGetPointer(value));
      length = types->length[i];
    }
    hash = hash_combine64(hash, hash_bytes_extended(bytes, length, position));
  }
  return hash;
}

// Running totals of collection, one per environment slot. Plain data: no
// global destructor.
struct Total {
  int64 rows;
  __int128 sum;
};
constexpr int kSlots = 256;
std::array<Total, kSlots> g_totals{};

std::string to_decimal(__int128 value) {
  if (value == 0) return "0";
  const bool negative = value < 0;
  unsigned __int128 magnitude =
      negative ? -static_cast<unsigned __int128>(value) : static_cast<unsigned __int128>(value);
  std::string digits;
  while (magnitude > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  return negative ? "-" + digits : digits;
}

}  // namespace

TDM_FUNCTION(tdm_row_hash) {
  PG_RETURN_INT64(static_cast<int64>(hash_arguments(fcinfo, 0)));
}

TDM_FUNCTION(tdm_collect_row_hash) {
  const int slot = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT32(0);
  if (slot < 1 || slot > kSlots) {
    throw tdm::Error(tdm::sqlstate::kProgramLimitExceeded,
                     "tdm collects from at most " + std::to_string(kSlots) + " environments");
  }
  const int64 hash = static_cast<int64>(hash_arguments(fcinfo, 1));
  Total &total = g_totals[slot - 1];
  total.rows += 1;
  total.sum += hash;
  PG_RETURN_INT64(hash);
}

// tdm._collect_totals(): (slot, row_count, checksum) of the slots used since
// the last call, which clears them.
TDM_FUNCTION(tdm_collect_totals) {
  tdm::pg::pg_call([fcinfo] { InitMaterializedSRF(fcinfo, 0); });
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  for (int slot = 0; slot < kSlots; ++slot) {
    Total &total = g_totals[slot];
    if (total.rows == 0) continue;
    const std::string checksum = to_decimal(total.sum);
    const char *text = checksum.c_str();
    const int64 rows = total.rows;
    total = Total{};
    tdm::pg::pg_call([=] {
      Datum values[3] = {Int32GetDatum(slot + 1), Int64GetDatum(rows),
                         PointerGetDatum(cstring_to_text(text))};
      bool nulls[3] = {false, false, false};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return (Datum)0;
}
