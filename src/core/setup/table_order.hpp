// The order managed tables are worked in: parents first, by every
// foreign key between them, and a reference cycle entered where its rows
// can be told apart.
#pragma once

#include <cstddef>
#include <vector>

namespace tdm::setup {

// A managed table as the order sees it. Tables are numbered by their
// position in the caller's list, which is also the tie-break (by name).
struct OrderedTable {
  // Per natural-key group of the table, the tables its foreign keys that
  // share a column with the group reference (the table itself for a
  // reference to itself): while one of those is unplaced, the group still
  // holds an environment's own keys and tells no rows apart.
  std::vector<std::vector<std::size_t>> key_group_parents;
};

// A foreign key of `child` to another table, `parent` (references of a
// table to itself do not order it).
struct TableReference {
  std::size_t child;
  std::size_t parent;
};

// The tables' positions, parents first. Of the tables whose parents are
// all placed, the first by position goes next. When none is (only
// cycles are left), the next is a table whose unplaced ancestors all
// descend from it (it is in a cycle nothing unplaced leads into; a table
// that hangs below a cycle is not taken for its entry): of those, one with
// a natural-key group whose references all lead to placed tables, then one
// with natural keys, then the first by position.
std::vector<std::size_t> order_tables(const std::vector<OrderedTable> &tables,
                                      const std::vector<TableReference> &references);

}  // namespace tdm::setup
