// tdm._order_tables: the managed tables parents first
// (tdm::setup::order_tables), for tdm._table_order, which reads the
// catalog. Every stage works its tables in this order, many times a
// call: the graph is ordered here, in time linear in its size.
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/common/error.hpp"
#include "core/setup/table_order.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
}

namespace {

using tdm::setup::OrderedTable;
using tdm::setup::TableReference;

// Position of each table in `tables`.
class Positions {
 public:
  explicit Positions(const std::vector<Oid> &tables) {
    for (std::size_t i = 0; i < tables.size(); ++i) position_.emplace(tables[i], i);
  }
  std::size_t of(Oid table) const {
    const auto found = position_.find(table);
    if (found == position_.end()) {
      throw tdm::Error(tdm::sqlstate::kInvalidParameterValue,
                       "table order: a reference names a table not in the list");
    }
    return found->second;
  }

 private:
  std::unordered_map<Oid, std::size_t> position_;
};

template <typename T, typename U>
void require_pairs(const std::vector<T> &a, const std::vector<U> &b, const char *what) {
  if (a.size() != b.size()) {
    throw tdm::Error(tdm::sqlstate::kInvalidParameterValue,
                     std::string("table order: ") + what + " must pair up");
  }
}

}  // namespace

// tdm._order_tables(tables oid[], children oid[], parents oid[],
//                   key_tables oid[], key_groups int2[], key_parents oid[])
// RETURNS oid[]: `tables` in the tie-break order (by name); a foreign key
// per (children[i], parents[i]); per natural-key group (key_tables[i],
// key_groups[i]) the tables its references lead to, one row each
// (key_parents[i], 0 for a group holding no reference).
TDM_FUNCTION(tdm_order_tables) {
  using tdm::pg::int2_array_arg;
  using tdm::pg::oid_array_arg;
  const std::vector<Oid> tables = oid_array_arg(fcinfo, 0, "tables");
  const std::vector<Oid> children = oid_array_arg(fcinfo, 1, "children");
  const std::vector<Oid> parents = oid_array_arg(fcinfo, 2, "parents");
  const std::vector<Oid> key_tables = oid_array_arg(fcinfo, 3, "key_tables");
  const std::vector<int16> key_groups = int2_array_arg(fcinfo, 4, "key_groups");
  const std::vector<Oid> key_parents = oid_array_arg(fcinfo, 5, "key_parents");
  require_pairs(children, parents, "children and parents");
  require_pairs(key_tables, key_groups, "key_tables and key_groups");
  require_pairs(key_tables, key_parents, "key_tables and key_parents");

  const Positions positions(tables);
  std::vector<TableReference> references;
  references.reserve(children.size());
  for (std::size_t i = 0; i < children.size(); ++i) {
    references.push_back({positions.of(children[i]), positions.of(parents[i])});
  }
  // (groups in their order, each table's)
  std::map<std::pair<std::size_t, int16>, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < key_tables.size(); ++i) {
    std::vector<std::size_t> &leads_to = groups[{positions.of(key_tables[i]), key_groups[i]}];
    if (key_parents[i] != InvalidOid) leads_to.push_back(positions.of(key_parents[i]));
  }
  std::vector<OrderedTable> ordered(tables.size());
  for (auto &[group, leads_to] : groups) {
    ordered[group.first].key_group_parents.push_back(std::move(leads_to));
  }

  std::vector<Datum> order;
  for (std::size_t position : tdm::setup::order_tables(ordered, references)) {
    order.push_back(ObjectIdGetDatum(tables[position]));
  }
  const Datum result = tdm::pg::pg_call([&] {
    return PointerGetDatum(construct_array(order.data(), static_cast<int>(order.size()), OIDOID,
                                           sizeof(Oid), true, TYPALIGN_INT));
  });
  PG_RETURN_DATUM(result);
}
