// Classification of conflict groups and the auto-resolution rule chain
// (DESIGN.md section 4): kinds, entities split by rule 0, rules 1-5, manual
// review with its priority, suggestions, rationales and stable ids.
#pragma once

#include <vector>

#include "core/detect/model.hpp"

namespace tdm::detect {

// All conflicts among `rows` (rows of one table; every row of a group must
// be present). Conflicts are ordered by their first member's row index.
std::vector<Conflict> detect_conflicts(const TableModel &table, const Context &context,
                                       const std::vector<SourceRow> &rows);

// The stable id of a conflict: "C-" + 12 hex of SHA-1 over the release, the
// table, a scope ("entity" or "key"), the key and the sorted member sources.
// The release is part of it so a reviewer's decision (keyed by the id)
// never carries over to another release's conflict on the same key.
std::string conflict_id(const std::string &release, const std::string &table,
                        const std::string &scope, const std::string &key,
                        std::vector<std::string> sources);

}  // namespace tdm::detect
