// Minimal JSON text building for the core's outputs (no JSON library in
// Debian 12's Boost 1.74). Values that come from PostgreSQL as JSON text
// are embedded as they are.
#pragma once

#include <string>
#include <string_view>

namespace tdm::json {

// Appends `text` as a JSON string literal (quoted and escaped).
void append_string(std::string &out, std::string_view text);

// `text` as a JSON string literal.
std::string quote(std::string_view text);

}  // namespace tdm::json
