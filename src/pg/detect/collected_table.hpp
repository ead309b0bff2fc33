// A managed table's collected rows, as detection reads them: the model
// from the catalog, and the two passes over the temporary table (key
// hashes and locations of every row, then the full rows of the
// candidates only).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/common/memory_budget.hpp"
#include "core/detect/model.hpp"
#include "pg/common/spi.hpp"

namespace tdm::pg {

struct CollectedTable {
  Oid rel = InvalidOid;
  std::string collected;   // the temporary table, quoted and schema-qualified
  std::uint64_t rows = 0;  // as counted (or bounded) by the caller; 0: not counted
  detect::TableModel model;
  std::vector<Oid> column_types;  // per model column
  // Per model column outside the primary key: its values are read in their
  // key form (a numeric without a fixed scale without its scale's zeros,
  // a bpchar without its trailing blanks), as its type compares them.
  std::vector<bool> canonical;
  // Per compared reference of the model (detect::TableModel::
  // compared_references): its constraint's name, the table it references
  // (this one, or a reference cycle's parent compared after it), that
  // table's collected rows, the columns it references (quoted, in its
  // columns' order), that table's model and natural keys (none: its
  // references are compared as values), and where earlier releases' rows
  // of that table are loaded (master's table, then the managed table; in
  // consolidation only).
  struct Referenced {
    std::string name;
    Oid rel = InvalidOid;
    std::string collected;
    std::vector<std::string> columns;
    std::shared_ptr<const CollectedTable> model;         // the referenced table's (null: this one)
    std::vector<std::vector<std::size_t>> natural_keys;  // its own, in its model's columns
    std::vector<std::string> loaded;
  };
  std::vector<Referenced> referenced;
  std::vector<std::string> reference_names;  // their constraints' names, a parameter of `referents`
  std::string referents;  // the query that reads what they reference (referent_sql)
  // Per borrowed natural key (detect::TableModel::borrowed_keys): its
  // value over the collected row `t`, text (the subtype row's key); the
  // query that reads them for rows at locations $1; and the indexes made
  // on the subtypes' collected rows for it, dropped after detection.
  std::vector<std::string> borrowed_sql;
  std::string borrowed;
  std::vector<std::string> borrowed_indexes;
};

// A row's location (ctid) as detect::SourceRow::location holds it, and back.
inline std::uint64_t pack_location(ItemPointerData tid) {
  return (std::uint64_t{ItemPointerGetBlockNumberNoCheck(&tid)} << 16) |
         ItemPointerGetOffsetNumberNoCheck(&tid);
}
inline ItemPointerData unpack_location(std::uint64_t location) {
  ItemPointerData tid;
  ItemPointerSet(&tid, static_cast<BlockNumber>(location >> 16),
                 static_cast<OffsetNumber>(location & 0xFFFF));
  return tid;
}

// Environments (by precedence, then name) and the release's feature plan.
detect::Context load_context(Spi &spi, const std::string &release);

// The model of a managed table whose rows were collected into `collected`.
// `translated`: references to earlier releases' rows read as the keys
// those rows were loaded with (consolidation translates them before
// detection; the preview does not), so a self reference not found among
// the collected rows is looked up in master, then in the managed table.
// `borrow`: with the natural keys borrowed from subtypes (not for a
// subtype's own model, read to spell them).
CollectedTable load_collected_table(Spi &spi, Oid rel, const std::string &collected,
                                    std::uint64_t rows, bool translated, bool borrow = true);

// Runs detection over the collected rows within `budget`, handing the
// conflicts of each partition (sorted by id) to `emit` with their rows.
// Statistics of the run go to `stats`.
struct DetectStats {
  bool spilled = false;    // the key pass ran in SQL
  std::uint64_t rows = 0;  // collected rows read
  std::size_t partitions = 0;
  std::uint64_t candidates = 0;
  double keys_ms = 0;                   // pass 1: key hashes read and grouped
  double rows_ms = 0;                   // pass 2: candidate rows read
  double classify_ms = 0;               // grouping, rules, output
  double rules_ms = 0;                  // of which grouping and rules
  std::size_t row_bytes_estimated = 0;  // per candidate row, as planned
  std::size_t row_bytes_held = 0;       // per candidate row, as held (largest partition)
};
using EmitFn = std::function<void(const std::vector<detect::Conflict> &conflicts,
                                  const std::vector<detect::SourceRow> &rows)>;
void detect_collected(Spi &spi, const CollectedTable &table, const detect::Context &context,
                      const MemoryBudget &budget, const EmitFn &emit, DetectStats *stats);

}  // namespace tdm::pg
