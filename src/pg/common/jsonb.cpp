#include "pg/common/jsonb.hpp"

#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}

namespace tdm::pg {

void JsonbBuilder::push(JsonbIteratorToken token, JsonbValue *value) {
  JsonbParseState **state = &state_;
  JsonbValue *result = pg_call([=] { return pushJsonbValue(state, token, value); });
  if (token == WJB_BEGIN_OBJECT || token == WJB_BEGIN_ARRAY) ++depth_;
  if (token == WJB_END_OBJECT || token == WJB_END_ARRAY) {
    if (--depth_ == 0) result_ = result;
  }
}

void JsonbBuilder::value(JsonbValue *value) {
  push(state_ != nullptr && state_->contVal.type == jbvArray ? WJB_ELEM : WJB_VALUE, value);
}

void JsonbBuilder::key(const char *name, std::size_t length) {
  JsonbValue v;
  v.type = jbvString;
  v.val.string.val = const_cast<char *>(name);
  v.val.string.len = static_cast<int>(length);
  push(WJB_KEY, &v);
}

void JsonbBuilder::string(std::string_view text) {
  JsonbValue v;
  v.type = jbvString;
  v.val.string.val = const_cast<char *>(text.data());
  v.val.string.len = static_cast<int>(text.size());
  value(&v);
}

void JsonbBuilder::null() {
  JsonbValue v;
  v.type = jbvNull;
  value(&v);
}

void JsonbBuilder::typed(std::string_view text, char category) {
  JsonbValue v;
  if (category == 'B') {
    v.type = jbvBool;
    v.val.boolean = text == "t" || text == "true";
    value(&v);
    return;
  }
  if (category == 'N' && text != "NaN" && text != "Infinity" && text != "-Infinity") {
    const char *chars = text.data();
    v.type = jbvNumeric;
    v.val.numeric = pg_call([=] {
      return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(chars),
                                                 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    });
    value(&v);
    return;
  }
  if (category == 'J') {
    const char *chars = text.data();
    Jsonb *parsed = pg_call(
        [=] { return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(chars))); });
    v.type = jbvBinary;
    v.val.binary.data = &parsed->root;
    v.val.binary.len = static_cast<int>(VARSIZE(parsed) - VARHDRSZ);
    value(&v);
    return;
  }
  string(text);
}

Datum JsonbBuilder::finish() {
  JsonbValue *result = result_;
  return pg_call([=] { return JsonbPGetDatum(JsonbValueToJsonb(result)); });
}

char json_category(Oid type) {
  const Oid base = pg_call([=] { return getBaseType(type); });
  switch (base) {
    case JSONOID:
    case JSONBOID:
      return 'J';
    // JSON numbers only for the types whose text is a JSON number (money,
    // oid aliases and the like are numeric in PostgreSQL's sense, not here).
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case FLOAT4OID:
    case FLOAT8OID:
    case NUMERICOID:
      return 'N';
    case BOOLOID:
      return 'B';
    default:
      return 'S';
  }
}

}  // namespace tdm::pg
