#include "pg/common/jsonb.hpp"

#include <algorithm>
#include <cstring>

#include "core/common/error.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
}

namespace tdm::pg {

void JsonbBuilder::add(const JsonbValue &value) {
  if (open_.empty()) {
    root_ = value;
    done_ = true;
    return;
  }
  Frame &frame = open_.back();
  if (frame.object) {
    if (!frame.key_pending) {
      throw Error(sqlstate::kInternalError, "jsonb: an object value without its key");
    }
    frame.pairs.back().value = value;
    frame.key_pending = false;
  } else {
    frame.elems.push_back(value);
  }
}

void JsonbBuilder::key(const char *name, std::size_t length) {
  if (open_.empty() || !open_.back().object || open_.back().key_pending) {
    throw Error(sqlstate::kInternalError, "jsonb: a key outside an object, or without a value");
  }
  open_.back().key_pending = true;
  JsonbPair pair{};
  pair.key.type = jbvString;
  pair.key.val.string.val = const_cast<char *>(name);
  pair.key.val.string.len = static_cast<int>(length);
  open_.back().pairs.push_back(pair);
}

void JsonbBuilder::end_object() {
  if (open_.empty() || !open_.back().object || open_.back().key_pending) {
    throw Error(sqlstate::kInternalError, "jsonb: an object closed without its last value");
  }
  std::vector<JsonbPair> pairs = std::move(open_.back().pairs);
  open_.pop_back();
  // jsonb's key order: shorter keys first, then bytewise; a repeated key
  // keeps its last value, as jsonb does.
  auto key_less = [](const JsonbPair &a, const JsonbPair &b) {
    const int la = a.key.val.string.len;
    const int lb = b.key.val.string.len;
    if (la != lb) return la < lb;
    return std::memcmp(a.key.val.string.val, b.key.val.string.val, la) < 0;
  };
  std::stable_sort(pairs.begin(), pairs.end(), key_less);
  auto last = pairs.begin();
  for (auto pair = pairs.begin(); pair != pairs.end(); ++pair) {
    if (last != pairs.begin() && !key_less(last[-1], *pair)) {
      last[-1] = *pair;  // the same key as the one before: the later value
    } else {
      *last++ = *pair;
    }
  }
  pairs.erase(last, pairs.end());
  pairs_.push_back(std::move(pairs));
  JsonbValue object{};
  object.type = jbvObject;
  object.val.object.nPairs = static_cast<int>(pairs_.back().size());
  object.val.object.pairs = pairs_.back().data();
  add(object);
}

void JsonbBuilder::end_array() {
  if (open_.empty() || open_.back().object) {
    throw Error(sqlstate::kInternalError, "jsonb: an array closed that is not open");
  }
  elems_.push_back(std::move(open_.back().elems));
  open_.pop_back();
  JsonbValue array{};
  array.type = jbvArray;
  array.val.array.nElems = static_cast<int>(elems_.back().size());
  array.val.array.elems = elems_.back().data();
  array.val.array.rawScalar = false;
  add(array);
}

void JsonbBuilder::string(std::string_view text) {
  JsonbValue v{};
  v.type = jbvString;
  v.val.string.val = const_cast<char *>(text.data());
  v.val.string.len = static_cast<int>(text.size());
  add(v);
}

void JsonbBuilder::null() {
  JsonbValue v{};
  v.type = jbvNull;
  add(v);
}

void JsonbBuilder::typed(std::string_view text, char category) {
  JsonbValue v{};
  if (category == 'B') {
    v.type = jbvBool;
    v.val.boolean = text == "t" || text == "true";
    add(v);
    return;
  }
  if (category == 'N' && text != "NaN" && text != "Infinity" && text != "-Infinity") {
    const char *chars = text.data();
    v.type = jbvNumeric;
    v.val.numeric = pg_call([=] {
      return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(chars),
                                                 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
    });
    add(v);
    return;
  }
  // (A json value holding \u0000, which jsonb cannot hold, goes in as its
  // text: a string.)
  if (category == 'J' && text.find("\\u0000") == std::string_view::npos) {
    // Parsed, then unpacked into a tree (JsonbValueToJsonb takes no
    // binary containers inside a tree): pushed as the one element of an
    // array, whose element is the value.
    const char *chars = text.data();
    JsonbValue *element = pg_call([=] {
      Jsonb *parsed = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(chars)));
      JsonbValue binary;
      binary.type = jbvBinary;
      binary.val.binary.data = &parsed->root;
      binary.val.binary.len = static_cast<int>(VARSIZE(parsed) - VARHDRSZ);
      JsonbParseState *state = nullptr;
      pushJsonbValue(&state, WJB_BEGIN_ARRAY, nullptr);
      pushJsonbValue(&state, WJB_ELEM, &binary);
      return &pushJsonbValue(&state, WJB_END_ARRAY, nullptr)->val.array.elems[0];
    });
    add(*element);
    return;
  }
  string(text);
}

Datum JsonbBuilder::finish() {
  if (!done_ || !open_.empty()) throw Error(sqlstate::kInternalError, "jsonb: value not closed");
  JsonbValue *root = &root_;
  return pg_call([=] { return JsonbPGetDatum(JsonbValueToJsonb(root)); });
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
