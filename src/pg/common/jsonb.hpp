// Building jsonb values directly (pushJsonbValue), without printing and
// re-parsing JSON text. Strings handed in must stay alive until finish().
#pragma once

#include <string>
#include <string_view>

#include "pg/common/postgres.hpp"

extern "C" {
#include "utils/jsonb.h"
}

namespace tdm::pg {

class JsonbBuilder {
 public:
  void begin_object() { push(WJB_BEGIN_OBJECT, nullptr); }
  void end_object() { push(WJB_END_OBJECT, nullptr); }
  void begin_array() { push(WJB_BEGIN_ARRAY, nullptr); }
  void end_array() { push(WJB_END_ARRAY, nullptr); }

  void key(const std::string &name) { key(name.data(), name.size()); }
  void key(const char *name, std::size_t length);
  void string(std::string_view text);
  void null();
  // A value in its text form, typed by its PostgreSQL type category:
  // numbers and booleans as JSON numbers and booleans, json/jsonb as JSON,
  // everything else as a string. `text.data()` must be NUL-terminated.
  void typed(std::string_view text, char category);

  // The finished value as a jsonb Datum.
  Datum finish();

 private:
  void push(JsonbIteratorToken token, JsonbValue *value);
  void value(JsonbValue *value);

  JsonbParseState *state_ = nullptr;
  JsonbValue *result_ = nullptr;
  int depth_ = 0;
};

// How a type's values go into JSON: 'J' json/jsonb, 'N' number, 'B'
// boolean, 'S' string (domains as their base type).
char json_category(Oid type);

}  // namespace tdm::pg
