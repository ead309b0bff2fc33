// Reading fmgr arguments into C++ values (through the error bridge).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg/common/postgres.hpp"

namespace tdm::pg {

// The argument as text; nullopt when SQL NULL.
std::optional<std::string> optional_text_arg(FunctionCallInfo fcinfo, int n);

// The argument as text; a NULL is refused with an error naming `name`.
std::string text_arg(FunctionCallInfo fcinfo, int n, const char *name);

// A text[] argument; NULL and NULL elements are refused.
std::vector<std::string> text_array_arg(FunctionCallInfo fcinfo, int n, const char *name);

// int2[] and oid[] arguments; NULL and NULL elements are refused.
std::vector<int16> int2_array_arg(FunctionCallInfo fcinfo, int n, const char *name);
std::vector<Oid> oid_array_arg(FunctionCallInfo fcinfo, int n, const char *name);

bool bool_arg(FunctionCallInfo fcinfo, int n, const char *name);

Oid oid_arg(FunctionCallInfo fcinfo, int n, const char *name);

}  // namespace tdm::pg
