// tdm._row_hash(VARIADIC "any"): a 64-bit hash of a row's values, computed
// on their binary form (no output functions, independent of TimeZone and
// DateStyle). Collection stores it per row; the release lock's checksum is
// the sum over an environment's tagged rows, so it does not depend on order.
#include "pg/common/bridge.hpp"

extern "C" {
#include "common/hashfn.h"
#include "utils/lsyscache.h"
}

namespace {

struct ArgumentTypes {
  int count;
  int16 length[FUNC_MAX_ARGS];
  bool by_value[FUNC_MAX_ARGS];
};

// Type facts are looked up once per call site (cached in fn_extra).
ArgumentTypes *argument_types(FunctionCallInfo fcinfo) {
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

}  // namespace

TDM_FUNCTION(tdm_row_hash) {
  const ArgumentTypes *types = argument_types(fcinfo);
  uint64 hash = 0x7464'6d00'0000'0001ULL;
  for (int i = 0; i < types->count; ++i) {
    if (PG_ARGISNULL(i)) {
      hash = hash_combine64(hash, 0x6e75'6c6cULL + static_cast<uint64>(i));
      continue;
    }
    Datum value = PG_GETARG_DATUM(i);
    uint64 part;
    if (types->by_value[i]) {
      part = hash_bytes_uint32_extended(static_cast<uint32>(value), value >> 32);
    } else if (types->length[i] == -1) {
      struct varlena *detoasted =
          tdm::pg::pg_call([value] { return pg_detoast_datum_packed((struct varlena *)value); });
      part = hash_bytes_extended(reinterpret_cast<const unsigned char *>(VARDATA_ANY(detoasted)),
                                 static_cast<int>(VARSIZE_ANY_EXHDR(detoasted)), i);
    } else if (types->length[i] == -2) {
      const char *text = DatumGetCString(value);
      part = hash_bytes_extended(reinterpret_cast<const unsigned char *>(text),
                                 static_cast<int>(strlen(text)), i);
    } else {
      part = hash_bytes_extended(reinterpret_cast<const unsigned char *>(DatumGetPointer(value)),
                                 types->length[i], i);
    }
    hash = hash_combine64(hash, part);
  }
  PG_RETURN_INT64(static_cast<int64>(hash));
}
