// Display widths for the review queue's grid (tdm._side_by_side): a wide
// character (CJK) takes two columns of a terminal and a combining one none,
// so values cut and padded by characters pushed the grid's columns apart.
//  * tdm._display_width(v): the columns `v` takes.
//  * tdm._display_left(v, width): the longest beginning of `v` that takes
//    at most `width` columns (a wide character is not split).
//  * tdm._display_right(v, width): the longest ending of `v` that does.
#include <algorithm>
#include <string>

#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
}

namespace {

// The columns one character takes, in the database's encoding. The grid
// escapes control characters before it measures (tdm._printable); one left
// is counted as one column, not PostgreSQL's -1.
int character_width(const char *character) {
  const int width = pg_dsplen(character);
  return width < 0 ? 1 : width;
}

// Calls `visit(offset, width)` for each character of `value`, in order, while
// it returns true.
template <typename Visit>
void for_each_character(const std::string &value, Visit visit) {
  for (std::size_t at = 0; at < value.size();) {
    const int length = std::max(pg_mblen(value.data() + at), 1);
    if (!visit(at, character_width(value.data() + at))) return;
    at += static_cast<std::size_t>(length);
  }
}

}  // namespace

TDM_FUNCTION(tdm_display_width) {
  const std::string value = tdm::pg::text_arg(fcinfo, 0, "v");
  int32 width = 0;
  for_each_character(value, [&width](std::size_t, int columns) {
    width += columns;
    return true;
  });
  PG_RETURN_INT32(width);
}

TDM_FUNCTION(tdm_display_left) {
  const std::string value = tdm::pg::text_arg(fcinfo, 0, "v");
  const int32 most = PG_GETARG_INT32(1);
  int32 width = 0;
  std::size_t end = value.size();
  for_each_character(value, [&](std::size_t at, int columns) {
    if (width + columns > most) {
      end = at;
      return false;
    }
    width += columns;
    return true;
  });
  const char *data = value.data();
  return tdm::pg::pg_call([data, end] {
    return PointerGetDatum(cstring_to_text_with_len(data, static_cast<int>(end)));
  });
}

TDM_FUNCTION(tdm_display_right) {
  const std::string value = tdm::pg::text_arg(fcinfo, 0, "v");
  const int32 most = PG_GETARG_INT32(1);
  int64 total = 0;
  for_each_character(value, [&total](std::size_t, int columns) {
    total += columns;
    return true;
  });
  // (The first character from which what is left fits: two passes, no
  // list of the characters, as a value may be megabytes long.)
  int64 before = 0;
  std::size_t start = value.size();
  for_each_character(value, [&](std::size_t at, int columns) {
    if (total - before <= most) {
      start = at;
      return false;
    }
    before += columns;
    return true;
  });
  // (A combining mark is not left without the character it belongs to.)
  std::size_t marks = value.size() - start;
  for_each_character(value.substr(start), [&marks](std::size_t at, int columns) {
    if (columns == 0) return true;
    marks = at;
    return false;
  });
  start += marks;
  const char *data = value.data() + start;
  const std::size_t length = value.size() - start;
  return tdm::pg::pg_call([data, length] {
    return PointerGetDatum(cstring_to_text_with_len(data, static_cast<int>(length)));
  });
}
