#include "pg/setup/catalog_reader.hpp"

#include "core/common/error.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/typcache.h"
}

namespace tdm::pg {

setup::TableShape read_table_shape(Spi &spi, Oid rel) {
  const std::vector<Param> args = {oid_param(OIDOID, rel)};
  auto relation = spi.query(
      "SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text"
      "  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
      " WHERE c.oid = $1",
      args, true);
  if (relation.empty()) {
    throw Error(sqlstate::kUndefinedObject,
                "relation with OID " + std::to_string(rel) + " does not exist");
  }
  setup::TableShape shape;
  shape.display_name = relation[0][0].value();
  shape.sql_name = [](const std::string &name) { return quote_ident(name); };
  const std::string kind = relation[0][1].value();
  if (kind != "r" && kind != "p") {
    throw Error(sqlstate::kInvalidTableDefinition, shape.display_name + " is not a table",
                "tdm manages ordinary and partitioned tables (relkind '" + kind + "' given).");
  }

  for (auto &row : spi.query("SELECT a.attname::text, format_type(a.atttypid, a.atttypmod),"
                             "       (SELECT t.typcategory = 'S' FROM pg_catalog.pg_type t"
                             "         WHERE t.oid = tdm._base_type(a.atttypid))::text,"
                             "       a.atttypid::text, (a.attgenerated <> '')::text"
                             "  FROM pg_catalog.pg_attribute a"
                             " WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped"
                             " ORDER BY a.attnum",
                             args, true)) {
    const Oid type = static_cast<Oid>(std::stoul(row[3].value()));
    // (The type cache resolves domains, binary-compatible classes such as
    // varchar's, and arrays whose element type has none.)
    const bool comparable = pg_call(
        [=] { return lookup_type_cache(type, TYPECACHE_BTREE_OPFAMILY)->btree_opf != InvalidOid; });
    shape.columns.push_back(setup::Column{row[0].value(), row[1].value(), row[2].value() == "true",
                                          comparable, row[4].value() == "true"});
  }

  for (auto &row : spi.query("SELECT a.attname::text"
                             "  FROM pg_catalog.pg_constraint con,"
                             "       unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)"
                             "  JOIN pg_catalog.pg_attribute a"
                             "    ON a.attrelid = $1 AND a.attnum = k.attnum"
                             " WHERE con.conrelid = $1 AND con.contype = 'p'"
                             " ORDER BY k.ord",
                             args, true)) {
    shape.primary_key.push_back(row[0].value());
  }
  return shape;
}

}  // namespace tdm::pg
