#include "pg/common/args.hpp"

#include "core/common/error.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace tdm::pg {

namespace {

// "detect_conflicts: release must not be NULL", as the SQL functions say it.
void require_not_null(FunctionCallInfo fcinfo, int n, const char *name) {
  if (!PG_ARGISNULL(n)) return;
  const Oid function = fcinfo->flinfo != nullptr ? fcinfo->flinfo->fn_oid : InvalidOid;
  const char *caller =
      pg_call([=] { return OidIsValid(function) ? get_func_name(function) : nullptr; });
  throw Error(sqlstate::kNullValueNotAllowed,
              (caller != nullptr ? std::string(caller) + ": " : std::string()) + name +
                  " must not be NULL");
}

std::string datum_to_string(Datum datum) {
  char *chars = pg_call([datum] { return TextDatumGetCString(datum); });
  return std::string(chars);
}

}  // namespace

std::optional<std::string> optional_text_arg(FunctionCallInfo fcinfo, int n) {
  if (PG_ARGISNULL(n)) return std::nullopt;
  return datum_to_string(PG_GETARG_DATUM(n));
}

std::string text_arg(FunctionCallInfo fcinfo, int n, const char *name) {
  require_not_null(fcinfo, n, name);
  return datum_to_string(PG_GETARG_DATUM(n));
}

namespace {

// An array argument's elements: NULL and NULL elements are refused.
template <typename T, typename Convert>
std::vector<T> array_arg(FunctionCallInfo fcinfo, int n, const char *name, Oid element_type,
                         Convert convert) {
  require_not_null(fcinfo, n, name);
  Datum raw = PG_GETARG_DATUM(n);
  ArrayType *array = pg_call([raw] { return DatumGetArrayTypeP(raw); });
  Datum *items = nullptr;
  bool *nulls = nullptr;
  int count = 0;
  pg_call([&] {
    int16 length;
    bool by_value;
    char align;
    get_typlenbyvalalign(element_type, &length, &by_value, &align);
    deconstruct_array(array, element_type, length, by_value, align, &items, &nulls, &count);
  });
  std::vector<T> values;
  values.reserve(count);
  for (int i = 0; i < count; ++i) {
    if (nulls[i]) {
      throw Error(sqlstate::kInvalidParameterValue,
                  std::string(name) + " must not contain NULL elements");
    }
    values.push_back(convert(items[i]));
  }
  return values;
}

}  // namespace

std::vector<std::string> text_array_arg(FunctionCallInfo fcinfo, int n, const char *name) {
  return array_arg<std::string>(fcinfo, n, name, TEXTOID, datum_to_string);
}

std::vector<int16> int2_array_arg(FunctionCallInfo fcinfo, int n, const char *name) {
  return array_arg<int16>(fcinfo, n, name, INT2OID, [](Datum d) { return DatumGetInt16(d); });
}

std::vector<Oid> oid_array_arg(FunctionCallInfo fcinfo, int n, const char *name) {
  return array_arg<Oid>(fcinfo, n, name, OIDOID, [](Datum d) { return DatumGetObjectId(d); });
}

bool bool_arg(FunctionCallInfo fcinfo, int n, const char *name) {
  require_not_null(fcinfo, n, name);
  return PG_GETARG_BOOL(n);
}

Oid oid_arg(FunctionCallInfo fcinfo, int n, const char *name) {
  require_not_null(fcinfo, n, name);
  return PG_GETARG_OID(n);
}

}  // namespace tdm::pg
