#include "pg/detect/collected_table.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <unordered_map>

#include "core/common/error.hpp"
#include "core/detect/classify.hpp"
#include "core/detect/grouping.hpp"
#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
}

namespace tdm::pg {
namespace {

// A collected row: tdm_row_hash, the values, tdm_env (attribute numbers).
constexpr int kFirstValueColumn = 2;

std::size_t column_index(const detect::TableModel &model, const std::string &name) {
  auto it = std::find(model.columns.begin(), model.columns.end(), name);
  if (it == model.columns.end()) {
    throw Error(sqlstate::kUndefinedColumn,
                "column \"" + name + "\" of " + model.name + " is not in its collected rows");
  }
  return static_cast<std::size_t>(it - model.columns.begin());
}

// SQL for one key's text over alias t, NULL when any column is NULL; each
// column in its key form, as detection compares it (a decimal without its
// scale's zeros, citext lower-cased).
// `partly_null`: NULL only when every column is, a NULL column spelled as
// detect::kReferentNull (a referenced row's key: a root's (NULL, 'music')
// still names it).
std::string key_text_sql(const CollectedTable &table, const std::vector<std::size_t> &key,
                         bool normalize, const std::string &alias = "t", bool partly_null = false) {
  const detect::TableModel &model = table.model;
  std::vector<std::string> parts;
  std::vector<std::string> null_checks;
  for (std::size_t column : key) {
    if (column >= model.columns.size()) {  // a borrowed key: text already, over t
      const std::string &ref = table.borrowed_sql.at(column - model.columns.size());
      null_checks.push_back(ref + " IS NULL");
      parts.push_back(ref);
      continue;
    }
    std::string ref = alias + "." + quote_ident(model.columns[column]);
    null_checks.push_back(ref + " IS NULL");
    std::string text = ref + "::text";
    switch (column < model.key_forms.size() ? model.key_forms[column] : detect::KeyForm::kText) {
      case detect::KeyForm::kDecimal:
        text = "trim_scale(" + ref + ")::text";
        break;
      case detect::KeyForm::kFloat:
        text = "CASE WHEN " + ref + " = 0 THEN '0' ELSE " + ref + "::text END";
        break;
      case detect::KeyForm::kCaseless:
        text = "lower(" + ref + "::text)";
        break;
      case detect::KeyForm::kInterval:
        text = "tdm._interval_key(" + ref + ")";
        break;
      case detect::KeyForm::kPadded:  // (the ::text cast drops a bpchar's trailing blanks)
      case detect::KeyForm::kText:
        break;
    }
    if (normalize) text = "lower(btrim(" + text + ", E' \\t\\n\\r\\f\\x0b'))";
    if (partly_null && key.size() > 1) text = "coalesce(" + text + ", E'\\x02')";
    parts.push_back(text);
  }
  if (parts.size() == 1) return parts.front();
  std::string joined;
  for (std::size_t i = 0; i < parts.size(); ++i) joined += (i ? ", " : "") + parts[i];
  std::string null_key;
  for (std::size_t i = 0; i < null_checks.size(); ++i) {
    null_key += (i ? (partly_null ? " AND " : " OR ") : "") + null_checks[i];
  }
  return "CASE WHEN " + null_key + " THEN NULL ELSE concat_ws(E'\\x1f', " + joined + ") END";
}

// The primary key's hash expression. Keys are compared as text; a
// one-column integer, uuid or text key is equal exactly when its text is,
// so its type's own hash serves, without printing every value.
std::string pk_hash_sql(const CollectedTable &table) {
  const detect::TableModel &model = table.model;
  if (model.pk.size() == 1) {
    const std::string ref = "t." + quote_ident(model.columns[model.pk.front()]);
    switch (table.column_types[model.pk.front()]) {
      case INT2OID:
      case INT4OID:
      case INT8OID:
        return "hashint8extended(" + ref + "::int8, 0)";
      case UUIDOID:
        return "uuid_hash_extended(" + ref + ", 0)";
      case TEXTOID:
      case VARCHAROID:
        return "hashtextextended(" + ref + "::text, 0)";
      default:
        break;
    }
  }
  return "hashtextextended(" + key_text_sql(table, model.pk, false) + ", 0)";
}

// One hash expression per key kind: the primary key, then each natural key.
std::vector<std::string> key_hash_sql(const CollectedTable &table) {
  const detect::TableModel &model = table.model;
  std::vector<std::string> exprs;
  exprs.push_back(pk_hash_sql(table));
  for (std::size_t i = 0; i < model.natural_keys.size(); ++i) {
    exprs.push_back("hashtextextended(" +
                    key_text_sql(table, model.natural_keys[i], model.normalize_keys) + ", " +
                    std::to_string(i + 1) + ")");
  }
  return exprs;
}

// The query that reads, for the collected rows at locations $1 (text[]
// of tids), the natural keys of the row each compared reference names
// (CollectedTable::referenced). In the preview (`translated` false),
// references are the environments' keys: the collected row of the same
// environment with that key. In consolidation, references to earlier
// releases' rows were translated to the keys those rows were loaded with
// (tdm._translate_earlier noted them in pg_temp.tdm_earlier_fk, for $2,
// the table, and $3, the names of its compared references): the row of
// that key where releases are loaded (master's table, then the managed
// table), and none for a reference to a row an earlier release deleted;
// the collected row otherwise, else the loaded row (an earlier release's
// row whose key did not change). Empty when no referenced table has a
// natural key to tell rows by.
std::string referent_sql(const CollectedTable &table, bool translated) {
  const detect::TableModel &model = table.model;
  if (std::all_of(table.referenced.begin(), table.referenced.end(),
                  [](const CollectedTable::Referenced &r) { return r.natural_keys.empty(); })) {
    return "";
  }
  std::string select = "SELECT t.ctid::text";
  std::string joins;
  for (std::size_t i = 0; i < table.referenced.size(); ++i) {
    const CollectedTable::Referenced &referenced = table.referenced[i];
    if (referenced.natural_keys.empty()) {
      select += ", NULL::text";  // (compared as values)
      continue;
    }
    const CollectedTable &of = referenced.model ? *referenced.model : table;
    auto natural_keys = [&](const std::string &alias) {
      std::string keys = "concat_ws(E'\\x1e'";
      for (const auto &key : referenced.natural_keys) {
        keys +=
            ", coalesce(" + key_text_sql(of, key, of.model.normalize_keys, alias, true) + ", '')";
      }
      return keys + ")";
    };
    auto same_key = [&](const std::string &alias) {
      std::string condition;
      for (std::size_t k = 0; k < referenced.columns.size(); ++k) {
        condition += " AND " + alias + "." + referenced.columns[k] + " = t." +
                     quote_ident(model.columns[model.compared_references[i][k]]);
      }
      return condition;
    };
    const std::string n = std::to_string(i);
    const std::string r = "r" + n;  // the collected row
    const std::string e = "e" + n;  // noted by tdm._translate_earlier: orphan or not
    if (translated) {
      joins +=
          " LEFT JOIN LATERAL (SELECT bool_or(x.orphan) AS orphan FROM pg_temp.tdm_earlier_fk x"
          " WHERE x.rel = $2 AND x.edge = ($3::text[])[" +
          std::to_string(i + 1) + "] AND x.env = t.tdm_env AND x.row_hash = t.tdm_row_hash) " + e +
          " ON true";
    }
    joins += " LEFT JOIN " + referenced.collected + " " + r + " ON " + r + ".tdm_env = t.tdm_env" +
             (translated ? " AND " + e + ".orphan IS NULL" : "") + same_key(r);
    select += ", CASE WHEN " + r + ".ctid IS NOT NULL THEN " + natural_keys(r);
    std::string not_found = r + ".ctid IS NULL AND " + e + ".orphan IS NOT TRUE";
    if (translated) {
      // The environment's row a decision deleted (pg_temp.tdm_deleted: an
      // employee whose department was deleted, in this release or an
      // earlier one): its natural keys as it was, so two environments'
      // rows that name different deleted and kept managers by the same
      // local key do not look alike. Matched by the referenced columns'
      // values as it held them, whichever key the reference names. (Not
      // for a reference to an earlier release's row that is still there.)
      // (Joined by hash: a later release's rows name earlier releases'
      // rows, not found among the collected rows, by the thousand.)
      const std::string d = "d" + n;
      joins +=
          " LEFT JOIN (SELECT true AS tdm_deleted_row, x.env AS tdm_deleted_env,"
          " x.earlier AS tdm_deleted_earlier, (jsonb_populate_record(NULL::" +
          referenced.collected + ", x.old_row)).* FROM pg_temp.tdm_deleted x WHERE x.rel = " +
          std::to_string(referenced.rel) + "::oid::regclass) " + d + " ON " + r +
          ".ctid IS NULL AND " + d + ".tdm_deleted_env = t.tdm_env AND " + d +
          ".tdm_deleted_earlier = coalesce(" + e + ".orphan, false) AND " + e +
          ".orphan IS NOT FALSE" + same_key(d);
      select += " WHEN " + d + ".tdm_deleted_row THEN " + natural_keys(d);
      not_found += " AND " + d + ".tdm_deleted_row IS NULL";
    }
    for (std::size_t j = 0; j < referenced.loaded.size(); ++j) {
      const std::string l = "l" + n + "_" + std::to_string(j);  // a loaded row
      joins += " LEFT JOIN " + referenced.loaded[j] + " " + l + " ON " + not_found + same_key(l);
      select += " WHEN " + l + ".ctid IS NOT NULL THEN " + natural_keys(l);
      not_found += " AND " + l + ".ctid IS NULL";
    }
    select += " END";
  }
  return select + " FROM " + table.collected + " t" + joins +
         " WHERE t.ctid = ANY ($1::text[]::tid[])";
}

// Adds to each of `rows` holding `held` values the `added` values that
// `query` reads for it (by location, $1; its first column the location).
void add_values(Spi &spi, const std::string &query, std::vector<Param> params, std::size_t held,
                std::size_t added, std::vector<detect::SourceRow> &rows);

// Adds to each of `rows` the natural keys of the rows its compared
// references name (detect::TableModel::compared_references), read by table.referents,
// after its borrowed keys (read by table.borrowed).
void add_referents(Spi &spi, const CollectedTable &table, std::vector<detect::SourceRow> &rows) {
  const std::size_t columns = table.model.columns.size();
  if (!table.borrowed.empty()) {
    add_values(spi, table.borrowed, {}, columns, table.borrowed_sql.size(), rows);
  }
  if (table.referents.empty()) return;
  add_values(spi, table.referents,
             {oid_param(REGCLASSOID, table.rel), text_array_param(table.reference_names)},
             columns + table.borrowed_sql.size(), table.model.compared_references.size(), rows);
}

void add_values(Spi &spi, const std::string &query, std::vector<Param> params, std::size_t held,
                std::size_t added, std::vector<detect::SourceRow> &rows) {
  if (rows.empty()) return;
  std::unordered_map<std::uint64_t, std::size_t> by_location;
  std::vector<std::string> locations;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    by_location.emplace(rows[i].location, i);
    const ItemPointerData tid = unpack_location(rows[i].location);
    locations.push_back("(" + std::to_string(ItemPointerGetBlockNumberNoCheck(&tid)) + "," +
                        std::to_string(ItemPointerGetOffsetNumberNoCheck(&tid)) + ")");
  }
  // Streamed (the rows' own values are the budget's; these come on top);
  // read as text by one reader, whose state outlives the scan's batches.
  // (The locations' array and the reader's state are freed on return, not
  // held by SPI until the detection ends: one call per partition.)
  ScratchContext scratch("tdm detect locations");
  ScratchContext::Use use(scratch);
  const MemoryContext reader_context = CurrentMemoryContext;
  std::unique_ptr<TupleText> reader;
  params.insert(params.begin(), text_array_param(locations));
  spi.stream(query, params, [&](TupleTableSlot *found) {
    if (!reader) {
      reader = std::make_unique<TupleText>(found->tts_tupleDescriptor, reader_context);
    }
    const char *const *texts = reader->read(found);  // ctid, one per value added
    unsigned block = 0;
    unsigned offset = 0;
    if (!texts[0] || std::sscanf(texts[0], "(%u,%u)", &block, &offset) != 2) return;
    ItemPointerData location;
    ItemPointerSet(&location, block, static_cast<OffsetNumber>(offset));
    auto it = by_location.find(pack_location(location));
    if (it == by_location.end()) return;
    detect::RowValues &values = rows[it->second].values;
    if (values.size() != held) return;   // (a second match: the first is kept)
    std::size_t bytes = values.bytes();  // (at least what it holds: one allocation)
    for (std::size_t i = 0; i < added; ++i) {
      bytes += (texts[1 + i] ? std::strlen(texts[1 + i]) : 0) + 1;
    }
    values.reserve(held + added, bytes);
    for (std::size_t i = 0; i < added; ++i) {
      values.push_back(texts[1 + i] ? detect::ValueView(texts[1 + i]) : std::nullopt);
    }
  });
}

std::uint64_t partition_of(std::int64_t label, std::size_t partitions) {
  std::uint64_t x = static_cast<std::uint64_t>(label) * 0x9E3779B97F4A7C15ULL;
  return (x >> 17) % partitions;
}

// Converts one collected tuple into a SourceRow.
class RowConverter {
 public:
  RowConverter(const CollectedTable &table, const detect::Context &context)
      : table_(table), context_(CurrentMemoryContext) {
    for (std::size_t i = 0; i < context.environments.size(); ++i) {
      env_index_[context.environments[i].name] = i;
    }
  }

  detect::SourceRow convert(TupleTableSlot *slot) {
    if (!reader_) reader_ = std::make_unique<TupleText>(slot->tts_tupleDescriptor, context_);
    detect::SourceRow row;
    const std::size_t columns = table_.model.columns.size();
    const char *const *texts = reader_->read(slot);  // tdm_row_hash, columns..., tdm_env
    const char *env = texts[kFirstValueColumn - 1 + columns];
    auto it = env ? env_index_.find(env) : env_index_.end();
    if (it == env_index_.end()) {
      throw Error(sqlstate::kInternalError, "collected row of unknown environment");
    }
    row.env = it->second;
    row.location = pack_location(slot->tts_tid);
    if (texts[0]) row.source = std::strtoll(texts[0], nullptr, 10);
    std::size_t bytes = 0;
    for (std::size_t c = 0; c < columns; ++c) {
      const char *text = texts[kFirstValueColumn - 1 + c];
      bytes += (text ? std::strlen(text) : 0) + 1;
    }
    row.values.reserve(columns, bytes);
    for (std::size_t c = 0; c < columns; ++c) {
      const char *text = texts[kFirstValueColumn - 1 + c];
      if (!text) {
        row.values.push_back(std::nullopt);
      } else if (table_.canonical[c]) {
        row.values.push_back(detect::canonical_value(text, table_.model.key_forms[c]));
      } else {
        row.values.push_back(detect::ValueView(text));
      }
    }
    if (table_.model.updated_at) {
      std::size_t c = *table_.model.updated_at;
      auto ts = slot_value(slot, kFirstValueColumn + static_cast<int>(c));
      if (ts) {
        Oid type = table_.column_types[c];
        if (type == TIMESTAMPTZOID || type == TIMESTAMPOID) row.ts = DatumGetInt64(*ts);
        if (type == DATEOID) {
          const DateADT date = DatumGetDateADT(*ts);
          row.ts = DATE_IS_NOBEGIN(date) ? std::numeric_limits<std::int64_t>::min()
                   : DATE_IS_NOEND(date) ? std::numeric_limits<std::int64_t>::max()
                                         : static_cast<std::int64_t>(date) * USECS_PER_DAY;
        }
      }
    }
    return row;
  }

 private:
  const CollectedTable &table_;
  std::unordered_map<std::string, std::size_t> env_index_;
  MemoryContext context_;              // outlives the scans' batches
  std::unique_ptr<TupleText> reader_;  // for the query's tuple descriptor
};

// Bytes a candidate row is expected to take as a SourceRow.
std::size_t row_bytes_estimate(Spi &spi, const CollectedTable &table, std::uint64_t row_count) {
  // On-disk bytes per collected row, TOAST included, stand for the text the
  // row's values take; or the text of the first rows, where that is more
  // (values TOAST compressed, which detection holds whole).
  auto width = spi.value(
      "SELECT greatest(pg_table_size($1::regclass) / greatest($2::bigint, 1),"
      "                (SELECT avg(octet_length(row(t.*)::text))::bigint FROM (SELECT * FROM " +
          table.collected + " LIMIT 1000) t))",
      {text_param(table.collected), text_param(std::to_string(row_count))});
  std::size_t text_width = width ? std::stoul(*width) : 0;
  if (text_width == 0) text_width = 32 * table.model.columns.size();
  // A SourceRow holds its values in one buffer (text and an offset each);
  // exact grouping adds a key map entry per row while it runs. Measured on
  // the benchmark's users: 236 bytes held per row for 150 on disk.
  return sizeof(detect::SourceRow) + table.model.columns.size() * 5 + text_width + 96;
}

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void classify_partition(const CollectedTable &table, const detect::Context &context,
                        std::vector<detect::SourceRow> &rows, const EmitFn &emit,
                        DetectStats *stats) {
  if (!rows.empty()) {
    std::size_t held = rows.capacity() * sizeof(detect::SourceRow);
    for (const detect::SourceRow &row : rows) held += row.values.bytes() - sizeof(row.values);
    stats->row_bytes_held = std::max(stats->row_bytes_held, held / rows.size());
  }
  const auto start = Clock::now();
  std::vector<detect::Conflict> conflicts = detect::detect_conflicts(table.model, context, rows);
  std::sort(conflicts.begin(), conflicts.end(),
            [](const detect::Conflict &a, const detect::Conflict &b) { return a.id < b.id; });
  stats->rules_ms += ms_since(start);
  emit(conflicts, rows);
  rows.clear();
  stats->classify_ms += ms_since(start);
}

}  // namespace

detect::Context load_context(Spi &spi, const std::string &release) {
  detect::Context context;
  context.release = release;
  for (auto &row : spi.query("SELECT name, precedence::text FROM tdm.environment"
                             " ORDER BY precedence, name",
                             {}, true)) {
    context.environments.push_back({row[0].value(), std::stoi(row[1].value())});
  }
  // Rows of earlier releases that tdm._collect_earlier added from master.
  detect::Environment master;
  master.name = "master";
  master.fixed = true;
  context.environments.push_back(master);
  for (auto &row : spi.query("SELECT feature, priority::text FROM tdm.feature WHERE release = $1",
                             {text_param(release)}, true)) {
    context.feature_priority[row[0].value()] = std::stoi(row[1].value());
  }
  return context;
}

namespace {

// The natural keys `table` borrows from its subtypes (tdm._borrowed_keys;
// detect::TableModel::borrowed_keys): each a natural-key group of one
// virtual column, its value the subtype row's key text, read through an
// index made on the subtype's collected rows (dropped after detection).
// In consolidation (`translated`), master's rows of the table (an earlier
// release's, tdm._collect_earlier) read master's subtype rows.
void add_borrowed_keys(Spi &spi, CollectedTable &table, bool translated) {
  detect::TableModel &model = table.model;
  auto found = spi.query(
      "SELECT b.child::oid::text, format('pg_temp.%I', tdm._collected_name(b.child)),"
      "       b.key_group::text, tdm._fk_match(b.child, b.name, 't', 'c'),"
      "       (SELECT string_agg(format('%I', c), ', ') FROM unnest(b.columns) AS c),"
      "       format('%s (%s)', b.child, array_to_string(b.key_columns, ', ')),"
      "       CASE WHEN $2::bool THEN (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
      "                            JOIN pg_namespace n ON n.oid = c.relnamespace"
      "                           WHERE c.oid = tdm._target_table('master', b.child)) END"
      "  FROM tdm._borrowed_keys($1) b",
      {oid_param(REGCLASSOID, table.rel), text_param(std::string(translated ? "true" : "false"))},
      true);
  if (found.empty()) return;
  std::string select = "SELECT t.ctid::text";
  for (auto &row : found) {
    const Oid child = static_cast<Oid>(std::stoul(row[0].value()));
    const std::string &child_collected = row[1].value();
    // (the group as the subtype's own model reads it)
    CollectedTable subtype = load_collected_table(spi, child, child_collected, 0, false, false);
    const std::vector<std::size_t> &key =
        subtype.model.natural_keys.at(std::stoul(row[2].value()) - 1);
    const std::string key_text = key_text_sql(subtype, key, subtype.model.normalize_keys, "c");
    const std::string &same_row = row[3].value();
    std::string expr = "(SELECT " + key_text + " FROM " + child_collected +
                       " c WHERE c.tdm_env = t.tdm_env AND " + same_row + " LIMIT 1)";
    if (row[6]) {
      expr = "CASE WHEN t.tdm_env = 'master' THEN (SELECT " + key_text + " FROM " + *row[6] +
             " c WHERE " + same_row + " LIMIT 1) ELSE " + expr + " END";
    }
    const std::string index = "tdm_borrowed_" + std::to_string(table.rel) + "_" +
                              std::to_string(table.borrowed_sql.size());
    spi.value("CREATE INDEX " + quote_ident(index) + " ON " + child_collected + " (tdm_env, " +
              row[4].value() + ")");
    table.borrowed_indexes.push_back("pg_temp." + quote_ident(index));
    model.natural_keys.push_back({model.columns.size() + table.borrowed_sql.size()});
    model.borrowed_keys.push_back(row[5].value());
    table.borrowed_sql.push_back(expr);
    select += ", " + expr;
  }
  table.borrowed =
      select + " FROM " + table.collected + " t WHERE t.ctid = ANY ($1::text[]::tid[])";
}

}  // namespace

CollectedTable load_collected_table(Spi &spi, Oid rel, const std::string &collected,
                                    std::uint64_t rows, bool translated, bool borrow) {
  CollectedTable table;
  table.rel = rel;
  table.collected = collected;
  table.rows = rows;
  detect::TableModel &model = table.model;
  const std::vector<Param> rel_param = {oid_param(REGCLASSOID, rel)};
  for (auto &row : spi.query("SELECT a.attname::text, a.atttypid::oid::text,"
                             "       tdm._key_form(a.atttypid, a.atttypmod)"
                             "  FROM pg_attribute a"
                             " WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped"
                             " ORDER BY a.attnum",
                             rel_param, true)) {
    model.columns.push_back(row[0].value());
    table.column_types.push_back(static_cast<Oid>(std::stoul(row[1].value())));
    table.canonical.push_back(row[2] == "decimal" || row[2] == "padded");
    model.key_forms.push_back(row[2] == "decimal"    ? detect::KeyForm::kDecimal
                              : row[2] == "float"    ? detect::KeyForm::kFloat
                              : row[2] == "caseless" ? detect::KeyForm::kCaseless
                              : row[2] == "interval" ? detect::KeyForm::kInterval
                              : row[2] == "padded"   ? detect::KeyForm::kPadded
                                                     : detect::KeyForm::kText);
  }
  auto settings = spi.query(
      "SELECT format('%I.%I', n.nspname, c.relname), m.updated_at_column, m.release_column,"
      "       m.feature_column, m.surrogate_key::text, m.normalize_keys::text"
      "  FROM tdm.managed_table m JOIN pg_class c ON c.oid = m.rel"
      "  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE m.rel = $1",
      rel_param, true);
  if (settings.empty()) throw Error(sqlstate::kUndefinedObject, "table is not managed by tdm");
  model.name = settings[0][0].value();
  model.rekeyable = spi.value("SELECT tdm._rekeyable($1)::text", rel_param).value_or("") == "true";
  model.key_reference =
      spi.value("SELECT tdm._key_parent($1)::text", rel_param).value_or(std::string());
  if (auto renamed = spi.value("SELECT tdm._renamed_key_column($1)", rel_param)) {
    model.renamed_key_column = column_index(model, *renamed);
  }
  if (settings[0][1]) model.updated_at = column_index(model, *settings[0][1]);
  model.release_column = column_index(model, settings[0][2].value());
  model.feature_column = column_index(model, settings[0][3].value());
  model.surrogate_key = settings[0][4].value() == "true";
  model.normalize_keys = settings[0][5].value() == "true";
  // Key columns, one row per column: (role, group, column).
  for (auto &row :
       spi.query("SELECT 'pk', 0, c, o FROM tdm.managed_table m,"
                 "       unnest(m.pk_columns) WITH ORDINALITY AS u(c, o) WHERE m.rel = $1"
                 " UNION ALL"
                 " SELECT 'nk', g.o, btrim(c.c), c.o FROM tdm.managed_table m,"
                 "       unnest(m.natural_keys) WITH ORDINALITY AS g(spec, o),"
                 "       unnest(string_to_array(g.spec, ',')) WITH ORDINALITY AS c(c, o)"
                 " WHERE m.rel = $1"
                 " UNION ALL"
                 " SELECT 'core', 0, c, o FROM tdm.managed_table m,"
                 "       unnest(m.core_columns) WITH ORDINALITY AS u(c, o) WHERE m.rel = $1"
                 " UNION ALL"
                 " SELECT 'bookkeeping', 0, c, o FROM tdm.managed_table m,"
                 "       unnest(m.bookkeeping_columns) WITH ORDINALITY AS u(c, o) WHERE m.rel = $1"
                 " ORDER BY 1, 2, 4",
                 rel_param, true)) {
    const std::string &role = row[0].value();
    std::size_t column = column_index(model, row[2].value());
    if (role == "pk") {
      model.pk.push_back(column);
    } else if (role == "core") {
      model.core.push_back(column);
    } else if (role == "bookkeeping") {
      model.bookkeeping.push_back(column);
    } else {
      std::size_t group = std::stoul(row[1].value());
      if (model.natural_keys.size() < group) model.natural_keys.resize(group);
      model.natural_keys[group - 1].push_back(column);
    }
  }
  // Compared references (detect::TableModel::compared_references), one
  // row per column, in key order: foreign keys to the table itself, and
  // (for the full model) a reference cycle's entry into a parent compared
  // after this table (tdm._table_order), whose keys are the environments'
  // still; each with its referenced table's collected rows, where they
  // exist.
  // (The order is asked only of a table in a reference cycle: most are
  // in none, and it reads every managed table's references.)
  const bool in_cycle =
      borrow &&
      spi.value(
          "WITH RECURSIVE edge AS (SELECT m.rel AS child, to_regclass(fk->>'references') AS parent"
          "                         FROM tdm.managed_table m,"
          "                              jsonb_array_elements(m.foreign_keys) AS fk),"
          " reached (rel) AS (SELECT e.parent FROM edge e WHERE e.child = $1 AND e.parent <> $1"
          "                   UNION SELECT e.parent FROM reached r JOIN edge e ON e.child = r.rel)"
          " SELECT EXISTS (SELECT FROM reached WHERE rel = $1)::text",
          rel_param) == "true";
  std::string previous;
  for (auto &row : spi.query(
           "WITH o AS MATERIALIZED (SELECT * FROM tdm._table_order() WHERE $2::bool)"
           " SELECT fk->>'name', u.c, quote_ident(u.r), p.oid::oid::text,"
           "        format('pg_temp.%I', tdm._collected_name(p.oid))"
           "   FROM tdm.managed_table m, jsonb_array_elements(m.foreign_keys) AS fk,"
           "        LATERAL (SELECT to_regclass(fk->>'references') AS oid) p,"
           "        unnest(ARRAY(SELECT jsonb_array_elements_text(fk->'columns')),"
           "               ARRAY(SELECT jsonb_array_elements_text(fk->'ref_columns')))"
           "          WITH ORDINALITY AS u(c, r, o)"
           "  WHERE m.rel = $1"
           "    AND (p.oid = m.rel"
           "         OR (p.oid IN (SELECT op.rel FROM o op JOIN o oc ON oc.rel = $1 WHERE "
           "op.step > oc.step)"
           "             AND to_regclass(format('pg_temp.%I', tdm._collected_name(p.oid))) "
           "IS NOT NULL))"
           "  ORDER BY p.oid <> m.rel, 1, u.o",
           {oid_param(REGCLASSOID, rel), text_param(std::string(in_cycle ? "true" : "false"))},
           true)) {
    if (table.referenced.empty() || row[0].value() != previous) {
      previous = row[0].value();
      model.compared_references.emplace_back();
      table.reference_names.push_back(previous);
      CollectedTable::Referenced referenced;
      referenced.name = previous;
      referenced.rel = static_cast<Oid>(std::stoul(row[3].value()));
      if (referenced.rel == rel) {
        referenced.collected = collected;
      } else {
        // (its model, read to spell its natural keys)
        referenced.collected = row[4].value();
        referenced.model = std::make_shared<const CollectedTable>(
            load_collected_table(spi, referenced.rel, referenced.collected, 0, false, false));
      }
      table.referenced.push_back(std::move(referenced));
    }
    model.compared_references.back().push_back(column_index(model, row[1].value()));
    table.referenced.back().columns.push_back(row[2].value());
  }
  // Columns of references to other tables that share columns with a key
  // and go past it, to a partitioned parent's partition key or into the
  // primary key (detect::TableModel::parent_columns).
  for (auto &row : spi.query(
           "SELECT DISTINCT u.c FROM tdm.managed_table m,"
           " jsonb_array_elements(m.foreign_keys) AS fk,"
           " LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(fk->'columns')) AS cols) f,"
           " LATERAL (SELECT m.pk_columns AS k UNION ALL"
           "   SELECT ARRAY(SELECT btrim(x) FROM unnest(string_to_array(s, ',')) AS x)"
           "     FROM unnest(m.natural_keys) AS s) keys,"
           " unnest(f.cols, ARRAY(SELECT jsonb_array_elements_text(fk->'ref_columns'))) AS u(c, r)"
           " WHERE m.rel = $1 AND to_regclass(fk->>'references') IS DISTINCT FROM m.rel"
           "   AND f.cols && keys.k AND u.c <> ALL (keys.k)"
           "   AND (u.c = ANY (m.pk_columns)"
           "        OR u.r IN (SELECT a.attname::text FROM pg_partitioned_table p"
           "                     CROSS JOIN LATERAL unnest(p.partattrs::int2[]) AS k(n)"
           "                     JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.n"
           "                    WHERE p.partrelid = to_regclass(fk->>'references')))"
           " ORDER BY 1",
           rel_param, true)) {
    model.parent_columns.push_back(column_index(model, row[0].value()));
  }
  // Primary-key values keep their spelling, scale included (a member's
  // key finds its row, and its children, by it); they are grouped by
  // their key form all the same.
  for (std::size_t column : model.pk) table.canonical[column] = false;
  // The referenced tables' natural keys (their own: a borrowed one is
  // over alias t), and where their earlier releases' rows are loaded.
  const bool loaded_rows =
      translated && spi.value("SELECT to_regclass('pg_temp.tdm_earlier_fk') IS NOT NULL") == "t";
  for (CollectedTable::Referenced &referenced : table.referenced) {
    const detect::TableModel &of = referenced.model ? referenced.model->model : model;
    std::copy_if(of.natural_keys.begin(), of.natural_keys.end(),
                 std::back_inserter(referenced.natural_keys),
                 [&](const std::vector<std::size_t> &key) {
                   return std::all_of(key.begin(), key.end(),
                                      [&](std::size_t c) { return c < of.columns.size(); });
                 });
    if (!loaded_rows) continue;
    for (auto &row : spi.query("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
                               "  JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE c.oid IN (tdm._target_table('master', $1), $1)"
                               " ORDER BY c.oid = $1",
                               {oid_param(REGCLASSOID, referenced.rel)}, true)) {
      referenced.loaded.push_back(row[0].value());
    }
  }
  table.referents = referent_sql(table, loaded_rows);
  if (borrow) add_borrowed_keys(spi, table, translated);
  return table;
}

namespace {

// The rows in shared components, found in memory: their locations, and
// their components' labels (detect::HashGrouper).
struct Candidates {
  std::uint64_t rows = 0;                  // rows read
  std::vector<std::uint64_t> shared;       // by row: (row, label), detect::candidate_*
  std::vector<ItemPointerData> locations;  // one per entry of `shared`

  std::int64_t key_of(std::size_t i) const { return detect::candidate_label(shared[i]); }
  // What the arrays hold, kept through every partition of pass 2.
  std::size_t bytes() const {
    return shared.capacity() * sizeof(std::uint64_t) +
           locations.capacity() * sizeof(ItemPointerData);
  }
};

// Thrown from the scan of pass 1 when its rows would not fit the budget.
struct OverBudget {};

// Rows and blocks of the collected table, as planned before pass 1: the
// caller's count of rows (or bound on them), or an estimate, its blocks
// times the rows of its first block.
struct RowPlan {
  std::uint64_t rows = 0;
  std::uint64_t blocks = 0;
  bool counted = false;
};

RowPlan plan_rows(Spi &spi, const CollectedTable &table) {
  auto plan = spi.query(
      "SELECT pg_relation_size($1::regclass) / current_setting('block_size')::int,"
      "       (SELECT count(*) FROM " +
          table.collected + " t WHERE t.ctid < '(1,0)'::tid)",
      {text_param(table.collected)});
  RowPlan result;
  result.blocks = std::stoull(plan.at(0)[0].value());
  result.counted = table.rows > 0;
  result.rows = result.counted ? table.rows : result.blocks * std::stoull(plan.at(0)[1].value());
  return result;
}

// Pass 1 in memory: the location and key hashes of every row, grouped,
// then the candidates' locations. Returns false, having kept nothing, when
// the grouping or the candidates would not fit in `budget`. The arrays
// are sized by the plan and grow while the budget allows, counting the
// old buffer while a new one is filled; a scan that outgrows it stops.
bool group_in_memory(Spi &spi, const CollectedTable &table,
                     const std::vector<std::string> &key_exprs, const MemoryBudget &budget,
                     Candidates *found) {
  const std::size_t key_kinds = key_exprs.size();
  const std::size_t limit = budget.limit();
  const std::size_t per_row = detect::HashGrouper::bytes_needed(1, key_kinds);
  const std::size_t most_rows = std::numeric_limits<std::uint32_t>::max() - 1;  // (row numbers)
  const RowPlan plan = plan_rows(spi, table);
  if (plan.counted && detect::HashGrouper::bytes_needed(plan.rows, key_kinds) > limit) return false;
  detect::RowLocations read_at;
  read_at.reserve(std::min<std::uint64_t>(plan.blocks + 64, limit / 4 / read_at.run_bytes()));
  // Rows the arrays may hold with the locations as they are, and with an
  // array of `held` rows being copied (the largest: the last one).
  auto rows_that_fit = [&](std::size_t held) {
    const std::size_t used = read_at.bytes() + held * sizeof(std::uint64_t);
    if (used >= limit) return std::size_t{0};
    return std::min({(limit - read_at.bytes()) / per_row,
                     (limit - used) / (key_kinds * sizeof(std::uint64_t)), most_rows});
  };
  std::vector<std::vector<std::uint64_t>> hashes(key_kinds);
  // (An estimate with a margin: growing costs the old buffer too, so an
  // estimate a little short would leave a table that fits no room.)
  const std::uint64_t wanted = plan.rows + (plan.counted ? 0 : plan.rows / 4) + 64;
  const std::size_t planned = std::min<std::uint64_t>(wanted, rows_that_fit(0));
  for (auto &kind : hashes) kind.reserve(planned);
  std::string sql = "SELECT t.ctid";
  for (const std::string &expr : key_exprs) sql += ", " + expr;
  sql += " FROM " + table.collected + " t";
  try {
    spi.stream(sql, {}, [&](TupleTableSlot *row) {
      const std::size_t n = hashes.front().size();
      if (n == hashes.front().capacity()) {
        // More rows than planned: room for half as many again, or what fits.
        const std::size_t more = std::min(n + n / 2 + 1024, rows_that_fit(n));
        if (more <= n) throw OverBudget{};
        for (auto &kind : hashes) kind.reserve(more);
      }
      if (read_at.full()) {
        // (Gaps between rows: a run each. The old runs and the new.)
        const std::size_t runs = read_at.bytes() / read_at.run_bytes();
        const std::size_t more_runs = 2 * runs + 64;
        if (detect::HashGrouper::bytes_needed(hashes.front().capacity(), key_kinds) +
                (runs + more_runs) * read_at.run_bytes() >
            limit) {
          throw OverBudget{};
        }
        read_at.reserve(more_runs);
      }
      const auto *tid = reinterpret_cast<ItemPointer>(DatumGetPointer(*slot_value(row, 1)));
      read_at.add(ItemPointerGetBlockNumberNoCheck(tid), ItemPointerGetOffsetNumberNoCheck(tid));
      for (std::size_t k = 0; k < key_kinds; ++k) {
        auto h = slot_value(row, static_cast<int>(k) + 2);
        hashes[k].push_back(h ? static_cast<std::uint64_t>(DatumGetInt64(*h)) | 1 : 0);
      }
    });
  } catch (const OverBudget &) {
    return false;
  }
  if (detect::HashGrouper::bytes_needed(hashes.front().capacity(), key_kinds) + read_at.bytes() >
      limit) {
    return false;
  }
  Candidates result;
  result.rows = hashes.front().size();
  std::vector<std::uint64_t> &shared = result.shared;
  if (key_kinds == 1) {
    shared = detect::group_single_key_kind(std::move(hashes.front()));
  } else {
    detect::HashGrouper grouper(result.rows);
    for (std::size_t k = 1; k < key_kinds; ++k) grouper.add_key_kind(hashes[k]);
    shared = grouper.candidates(hashes.front());
  }
  hashes.clear();
  // The grouping's result (as allocated), a location per candidate and the
  // rows' locations they are looked up in.
  const std::size_t candidate_bytes = shared.capacity() * sizeof(std::uint64_t) +
                                      shared.size() * sizeof(ItemPointerData) + read_at.bytes();
  if (candidate_bytes > limit) return false;
  result.locations.reserve(shared.size());
  for (std::uint64_t candidate : shared) {
    const auto [block, offset] = read_at.at(detect::candidate_row(candidate));
    ItemPointerData tid;
    ItemPointerSet(&tid, block, offset);
    result.locations.push_back(tid);
  }
  *found = std::move(result);
  return true;
}

}  // namespace

namespace {

void drop_borrowed_indexes(Spi &spi, const CollectedTable &table) {
  for (const std::string &index : table.borrowed_indexes) spi.value("DROP INDEX " + index);
}

}  // namespace

void detect_collected(Spi &spi, const CollectedTable &table, const detect::Context &context,
                      const MemoryBudget &budget, const EmitFn &emit, DetectStats *stats) {
  const std::vector<std::string> key_exprs = key_hash_sql(table);
  RowConverter converter(table, context);
  std::vector<detect::SourceRow> rows;
  *stats = DetectStats{};

  auto phase_start = Clock::now();
  Candidates candidates;
  if (group_in_memory(spi, table, key_exprs, budget, &candidates)) {
    stats->rows = candidates.rows;
    stats->candidates = candidates.locations.size();
    const std::size_t row_bytes = row_bytes_estimate(spi, table, stats->rows);
    stats->row_bytes_estimated = row_bytes;
    stats->keys_ms = ms_since(phase_start);

    // Pass 2: the candidates' full rows, fetched by location, one partition
    // of components at a time.
    // (each partition in what the candidates leave of the budget)
    const std::size_t partitions =
        budget.partitions_for(stats->candidates * row_bytes, candidates.bytes());
    stats->partitions = partitions;
    for (std::size_t p = 0; p < partitions; ++p) {
      phase_start = Clock::now();
      std::vector<ItemPointerData> wanted;
      for (std::size_t i = 0; i < candidates.locations.size(); ++i) {
        if (partition_of(candidates.key_of(i), partitions) == p) {
          wanted.push_back(candidates.locations[i]);
        }
      }
      spi.fetch(table.collected, std::move(wanted),
                [&](TupleTableSlot *row) { rows.push_back(converter.convert(row)); });
      add_referents(spi, table, rows);
      stats->rows_ms += ms_since(phase_start);
      classify_partition(table, context, rows, emit, stats);
    }
    drop_borrowed_indexes(spi, table);
    return;
  }

  // Pass 1 does not fit: PostgreSQL computes the components (and spills).
  stats->spilled = true;
  stats->rows = table.rows;
  if (stats->rows == 0)
    stats->rows = std::stoull(spi.value("SELECT count(*) FROM " + table.collected).value());
  const std::size_t row_bytes = row_bytes_estimate(spi, table, stats->rows);
  stats->row_bytes_estimated = row_bytes;
  auto labelled = spi.value("SELECT tdm._spill_labels($1::regclass, $2)",
                            {text_param(table.collected), text_array_param(key_exprs)});
  stats->candidates = labelled ? std::stoull(*labelled) : 0;
  stats->keys_ms = ms_since(phase_start);
  const std::size_t partitions = budget.partitions_for(stats->candidates * row_bytes);
  stats->partitions = partitions;
  for (std::size_t p = 0; p < partitions; ++p) {
    phase_start = Clock::now();
    // The partition's locations from the (narrow) labels table, then its rows.
    std::vector<ItemPointerData> wanted;
    spi.stream("SELECT row_ctid, label FROM pg_temp.tdm_labels", {}, [&](TupleTableSlot *row) {
      if (partition_of(DatumGetInt64(*slot_value(row, 2)), partitions) != p) return;
      wanted.push_back(*reinterpret_cast<ItemPointer>(DatumGetPointer(*slot_value(row, 1))));
    });
    spi.fetch(table.collected, std::move(wanted),
              [&](TupleTableSlot *row) { rows.push_back(converter.convert(row)); });
    add_referents(spi, table, rows);
    stats->rows_ms += ms_since(phase_start);
    classify_partition(table, context, rows, emit, stats);
  }
  drop_borrowed_indexes(spi, table);
}

}  // namespace tdm::pg
