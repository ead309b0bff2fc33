// Names as SQL spells them, for messages the core writes: quoted unless
// the name is a plain lower-case identifier, quotes inside doubled. (The
// adapter's quote_identifier also quotes keywords: statements a HINT gives
// to run are spelled with it, through TableShape::sql_name.)
#pragma once

#include <string>
#include <string_view>

namespace tdm {

inline std::string quoted_name(std::string_view name) {
  bool plain = !name.empty() && (name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z'));
  for (char c : name) {
    plain = plain && (c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
  }
  if (plain) return std::string(name);
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

}  // namespace tdm
