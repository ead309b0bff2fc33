#include "core/setup/table_order.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include <boost/dynamic_bitset.hpp>

#include "core/common/error.hpp"

namespace tdm::setup {
namespace {

// Tables not placed yet, and how many references of each lead to them.
class Placement {
 public:
  Placement(std::size_t count, const std::vector<TableReference> &references)
      : parents_of_(count), children_of_(count), unplaced_parents_(count, 0), unplaced_(count) {
    unplaced_.set();
    for (const TableReference &reference : references) {
      if (reference.child == reference.parent) continue;
      parents_of_[reference.child].push_back(reference.parent);
      children_of_[reference.parent].push_back(reference.child);
      ++unplaced_parents_[reference.child];
    }
    for (std::size_t table = 0; table < count; ++table) {
      if (unplaced_parents_[table] == 0) ready_.insert(table);
    }
  }

  bool done() const { return unplaced_.none(); }
  bool unplaced(std::size_t table) const { return unplaced_.test(table); }
  // The first unplaced table whose parents are all placed, if any.
  bool next_ready(std::size_t *table) const {
    if (ready_.empty()) return false;
    *table = *ready_.begin();
    return true;
  }

  void place(std::size_t table) {
    unplaced_.reset(table);
    ready_.erase(table);
    for (std::size_t child : children_of_[table]) {
      if (--unplaced_parents_[child] == 0 && unplaced_.test(child)) ready_.insert(child);
    }
  }

  // Per unplaced table, the unplaced tables its references lead to,
  // directly or through other unplaced tables (itself, in a cycle).
  std::vector<boost::dynamic_bitset<>> unplaced_ancestors() const {
    const std::size_t count = parents_of_.size();
    std::vector<boost::dynamic_bitset<>> ancestors(count, boost::dynamic_bitset<>(count));
    std::vector<std::size_t> pending;
    for (std::size_t table = 0; table < count; ++table) {
      if (!unplaced_.test(table)) continue;
      boost::dynamic_bitset<> &found = ancestors[table];
      pending.assign(1, table);
      while (!pending.empty()) {
        const std::size_t at = pending.back();
        pending.pop_back();
        for (std::size_t parent : parents_of_[at]) {
          if (unplaced_.test(parent) && !found.test(parent)) {
            found.set(parent);
            pending.push_back(parent);
          }
        }
      }
    }
    return ancestors;
  }

 private:
  std::vector<std::vector<std::size_t>> parents_of_;
  std::vector<std::vector<std::size_t>> children_of_;
  std::vector<std::size_t> unplaced_parents_;  // references to unplaced tables
  boost::dynamic_bitset<> unplaced_;
  std::set<std::size_t> ready_;  // unplaced, every parent placed
};

// Where only cycles are left: the table to enter them at (see the header).
std::size_t cycle_entry(const std::vector<OrderedTable> &tables, const Placement &placement) {
  const std::vector<boost::dynamic_bitset<>> ancestors = placement.unplaced_ancestors();
  bool found = false;
  std::tuple<bool, bool, std::size_t> best;
  for (std::size_t table = 0; table < tables.size(); ++table) {
    if (!placement.unplaced(table)) continue;
    bool heads_its_cycle = true;
    for (std::size_t a = ancestors[table].find_first(); a != boost::dynamic_bitset<>::npos;
         a = ancestors[table].find_next(a)) {
      if (!ancestors[a].test(table)) {
        heads_its_cycle = false;
        break;
      }
    }
    if (!heads_its_cycle) continue;
    const auto &groups = tables[table].key_group_parents;
    const bool tells_apart = std::any_of(groups.begin(), groups.end(), [&](const auto &parents) {
      return std::none_of(parents.begin(), parents.end(),
                          [&](std::size_t parent) { return placement.unplaced(parent); });
    });
    // (false sorts first)
    const auto rank = std::make_tuple(!tells_apart, groups.empty(), table);
    if (!found || rank < best) best = rank;
    found = true;
  }
  if (found) return std::get<2>(best);
  for (std::size_t table = 0; table < tables.size(); ++table) {
    if (placement.unplaced(table)) return table;
  }
  return 0;
}

}  // namespace

std::vector<std::size_t> order_tables(const std::vector<OrderedTable> &tables,
                                      const std::vector<TableReference> &references) {
  const std::size_t count = tables.size();
  const auto known = [count](std::size_t table) { return table < count; };
  for (const TableReference &reference : references) {
    if (!known(reference.child) || !known(reference.parent)) {
      throw Error(sqlstate::kInternalError, "table order: a reference to an unknown table");
    }
  }
  for (const OrderedTable &table : tables) {
    for (const auto &parents : table.key_group_parents) {
      if (!std::all_of(parents.begin(), parents.end(), known)) {
        throw Error(sqlstate::kInternalError,
                    "table order: a key group references an unknown table");
      }
    }
  }
  Placement placement(tables.size(), references);
  std::vector<std::size_t> order;
  order.reserve(tables.size());
  while (!placement.done()) {
    std::size_t next;
    if (!placement.next_ready(&next)) next = cycle_entry(tables, placement);
    placement.place(next);
    order.push_back(next);
  }
  return order;
}

}  // namespace tdm::setup
