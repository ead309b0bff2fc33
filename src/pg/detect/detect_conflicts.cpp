// tdm.detect_conflicts(release): the dry run of collection and detection,
// as a materialized set-returning function; tdm._detect_collected(release)
// runs detection alone on rows collected earlier in the transaction.
#include <malloc.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "core/common/error.hpp"
#include "core/common/interrupt.hpp"
#include "core/common/memory_budget.hpp"
#include "core/detect/classify.hpp"
#include "pg/common/args.hpp"
#include "pg/common/batch_insert.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/jsonb.hpp"
#include "pg/common/settings.hpp"
#include "pg/common/spi.hpp"
#include "pg/detect/collected_table.hpp"

extern "C" {
#include "access/table.h"
#include "access/toast_compression.h"
#include "access/toast_internals.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
}

namespace tdm::pg {
namespace {

enum PreviewColumn {
  kId,
  kRel,
  kKind,
  kClass,
  kPriority,
  kRule,
  kSuggestion,
  kRationale,
  kMembers,
  kDiffering,
  kPreviewColumns,
  // tdm._conflict_plan adds what consolidation applies.
  kSurvivor = kPreviewColumns,
  kRekeyed,
  kMerged,
  kSources,
  kPlanColumns
};

// Where each conflict's members are among the collected rows, for the
// apply step that follows in the same transaction: a row per conflict in
// pg_temp.tdm_member_rows (conflict_id text, locations tid[]), the
// members' ctids in member order. Rows located once here are then updated
// and deleted directly, not found again by key in every statement.
class MemberLocations {
 public:
  // Writes into `rel`, which must be a plain temporary table of this
  // session with those two columns.
  explicit MemberLocations(Oid rel) {
    relation_ = pg_call([=] { return table_open(rel, RowExclusiveLock); });
    Relation relation = relation_;
    const bool fits = pg_call([=] {
      TupleDesc desc = RelationGetDescr(relation);
      return plain_own_temporary(relation) && desc->natts == 2 &&
             TupleDescAttr(desc, 0)->atttypid == TEXTOID &&
             TupleDescAttr(desc, 1)->atttypid == get_array_type(TIDOID);
    });
    if (!fits) {
      pg_call([=] { table_close(relation, RowExclusiveLock); });
      throw Error(sqlstate::kWrongObjectType,
                  "pg_temp.tdm_member_rows must be a plain temporary table "
                  "(conflict_id text, locations tid[])");
    }
    batch_ = pg_call([=] { return batch_insert_begin(relation, true, TABLE_INSERT_SKIP_FSM); });
  }

  void add(const detect::Conflict &c, const std::vector<detect::SourceRow> &rows) {
    std::vector<ItemPointerData> tids;
    tids.reserve(c.members.size());
    for (std::size_t row : c.members) tids.push_back(unpack_location(rows[row].location));
    std::vector<Datum> elements;
    for (ItemPointerData &tid : tids) elements.push_back(PointerGetDatum(&tid));
    const char *id = c.id.c_str();
    BatchInsert *batch = batch_;
    pg_call([&] {
      Datum values[2] = {
          PointerGetDatum(cstring_to_text(id)),
          PointerGetDatum(construct_array(elements.data(), static_cast<int>(elements.size()),
                                          TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT))};
      const bool nulls[2] = {false, false};
      batch_insert_row(batch, values, nulls);
    });
  }

  void finish() {
    BatchInsert *batch = batch_;
    Relation relation = relation_;
    pg_call([=] {
      batch_insert_end(batch);
      table_close(relation, NoLock);
    });
  }

 private:
  Relation relation_;
  BatchInsert *batch_;
};

// Appends conflicts to the function's result set; members and differing
// columns are built as jsonb directly from the rows' values.
class PreviewSink {
 public:
  explicit PreviewSink(FunctionCallInfo fcinfo) {
    pg_call([fcinfo] { InitMaterializedSRF(fcinfo, MAT_SRF_BLESS); });
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    store_ = rsinfo->setResult;
    desc_ = rsinfo->setDesc;
    kind_type_ = TupleDescAttr(desc_, kKind)->atttypid;
    with_plan_ = desc_->natts >= kPlanColumns;
  }

  // The plan columns are consolidation's: its collected rows' references
  // to earlier releases' rows are master's keys by then (the preview's
  // are the environments' own).
  bool with_plan() const { return with_plan_; }

  // With the plan columns: also records the members' locations, when the
  // caller made pg_temp.tdm_member_rows for them.
  void record_locations(Spi &spi) {
    if (!with_plan_) return;
    auto rel = spi.value("SELECT to_regclass('pg_temp.tdm_member_rows')::oid");
    if (rel) locations_.emplace(static_cast<Oid>(std::stoul(*rel)));
  }

  // After the last conflict.
  void finish() {
    if (locations_) locations_->finish();
  }

  // The table whose conflicts come next.
  void start_table(const CollectedTable &table, const detect::Context &context) {
    table_ = &table;
    context_ = &context;
    categories_.clear();
    for (Oid type : table.column_types) categories_.push_back(json_category(type));
  }

  void add(const detect::Conflict &c, const std::vector<detect::SourceRow> &rows,
           ScratchContext &scratch) {
    ScratchContext::Use use(scratch);
    Datum values[kPlanColumns];
    bool nulls[kPlanColumns] = {};
    values[kId] = text_datum(c.id);
    values[kRel] = ObjectIdGetDatum(table_->rel);
    values[kKind] = kind_value(c.kind);
    values[kClass] = text_datum(c.complex ? "complex" : "simple");
    values[kPriority] = Int32GetDatum(c.priority);
    values[kRule] = text_datum(detect::to_string(c.rule));
    values[kSuggestion] = text_datum(c.suggestion);
    values[kRationale] = text_datum(c.rationale);
    values[kMembers] = stored(members(c, rows));
    values[kDiffering] = stored(differing(c, rows));
    if (with_plan_) plan(c, rows, values, nulls);
    if (locations_) locations_->add(c, rows);
    Tuplestorestate *store = store_;
    TupleDesc desc = desc_;
    pg_call([&] { tuplestore_putvalues(store, desc, values, nulls); });
  }

 private:
  // [{"env", "feature", "ts", "row": {...}}] in tie-break order.
  Datum members(const detect::Conflict &c, const std::vector<detect::SourceRow> &rows) {
    const detect::TableModel &model = table_->model;
    JsonbBuilder json;
    json.begin_array();
    for (std::size_t row : c.members) {
      const detect::SourceRow &source = rows[row];
      json.begin_object();
      json.key("env", 3);
      json.string(context_->environments[source.env].name);
      json.key("feature", 7);
      optional_string(json, source.values[model.feature_column]);
      json.key("ts", 2);
      if (model.updated_at) {
        optional_string(json, source.values[*model.updated_at]);
      } else {
        json.null();
      }
      json.key("row", 3);
      json.begin_object();
      for (std::size_t column = 0; column < model.columns.size(); ++column) {
        json.key(model.columns[column]);
        const detect::ValueView v = source.values[column];
        if (v) {
          json.typed(*v, categories_[column]);
        } else {
          json.null();
        }
      }
      json.end_object();
      json.end_object();
    }
    json.end_array();
    return json.finish();
  }

  // The plan: the survivor's and the re-keyed rows' positions among the
  // members (0-based), the merged row of a non-conflicting merge, and the
  // members' sources.
  void plan(const detect::Conflict &c, const std::vector<detect::SourceRow> &rows, Datum *values,
            bool *nulls) {
    auto position = [&](std::size_t row) {
      return static_cast<int>(std::find(c.members.begin(), c.members.end(), row) -
                              c.members.begin());
    };
    nulls[kSurvivor] = !c.survivor;
    if (c.survivor) values[kSurvivor] = Int32GetDatum(position(*c.survivor));
    std::vector<Datum> rekeyed;
    for (std::size_t row : c.rekeyed) rekeyed.push_back(Int32GetDatum(position(row)));
    values[kSources] = text_datum(sources(c, rows));
    values[kRekeyed] = pg_call([&] {
      return PointerGetDatum(construct_array(rekeyed.data(), static_cast<int>(rekeyed.size()),
                                             INT4OID, sizeof(int32), true, TYPALIGN_INT));
    });
    nulls[kMerged] = c.merged.empty();
    if (c.merged.empty()) return;
    const detect::TableModel &model = table_->model;
    JsonbBuilder json;
    json.begin_object();
    for (std::size_t column = 0; column < model.columns.size(); ++column) {
      json.key(model.columns[column]);
      if (c.merged[column]) {
        json.typed(*c.merged[column], categories_[column]);
      } else {
        json.null();
      }
    }
    json.end_object();
    values[kMerged] = json.finish();
  }

  // The members' rows as collected, what a decision on the conflict is
  // taken on: each one's environment and row hash, sorted. A member's
  // reference translated by its parent's resolution changes neither; its
  // row changed in its environment (tagged again) changes the hash.
  std::string sources(const detect::Conflict &c, const std::vector<detect::SourceRow> &rows) const {
    std::vector<std::string> parts;
    parts.reserve(c.members.size());
    for (std::size_t row : c.members) {
      parts.push_back(context_->environments[rows[row].env].name + ":" +
                      std::to_string(rows[row].source));
    }
    std::sort(parts.begin(), parts.end());
    std::string joined;
    for (const std::string &part : parts) joined += (joined.empty() ? "" : ",") + part;
    return joined;
  }

  // {"column": {"label": value}} for the differing columns only: numbers
  // and booleans as in `members`, json as written (its spacing or key
  // order may be the difference), and a float's -0 as the string "-0" (a
  // JSON number spells it 0, and -0 against 0 may be the difference).
  Datum differing(const detect::Conflict &c, const std::vector<detect::SourceRow> &rows) {
    JsonbBuilder json;
    json.begin_object();
    for (std::size_t column : c.differing) {
      json.key(table_->model.columns[column]);
      json.begin_object();
      const char category = categories_[column] == 'J' ? 'S' : categories_[column];
      for (std::size_t i = 0; i < c.members.size(); ++i) {
        json.key(c.labels[i]);
        const detect::ValueView v = rows[c.members[i]].values[column];
        if (v) {
          json.typed(*v, *v == "-0" ? 'S' : category);
        } else {
          json.null();
        }
      }
      json.end_object();
    }
    json.end_object();
    return json.finish();
  }

  // Consolidation writes every conflict into tdm.conflict: its members and
  // differing values are compressed here, as TOAST would compress them in
  // a row over 2 kB (it leaves smaller rows alone, and these are ~1.6 kB,
  // mostly the same keys and values three times). A run's conflicts then
  // write about half the pages and WAL; readers see the same jsonb.
  Datum stored(Datum value) const {
#ifdef USE_LZ4
    if (!with_plan_) return value;
    return pg_call([=] {
      const Datum compressed = toast_compress_datum(value, TOAST_LZ4_COMPRESSION);
      return compressed != Datum(0) ? compressed : value;
    });
#else
    return value;
#endif
  }

  static void optional_string(JsonbBuilder &json, const detect::ValueView &v) {
    if (v) {
      json.string(*v);
    } else {
      json.null();
    }
  }

  // The enum value of a kind: looked up once per kind (an OID, by value).
  Datum kind_value(detect::Kind kind) {
    std::optional<Datum> &cached = kind_values_[static_cast<std::size_t>(kind)];
    if (!cached) {
      const char *name = detect::to_string(kind);
      Oid kind_type = kind_type_;
      cached = pg_call([=] {
        return DirectFunctionCall2(enum_in, CStringGetDatum(name), ObjectIdGetDatum(kind_type));
      });
    }
    return *cached;
  }

  static Datum text_datum(const std::string &text) {
    const char *chars = text.c_str();
    return pg_call([=] { return PointerGetDatum(cstring_to_text(chars)); });
  }

  Tuplestorestate *store_;
  TupleDesc desc_;
  Oid kind_type_;
  std::array<std::optional<Datum>, static_cast<std::size_t>(detect::Kind::relationship) + 1>
      kind_values_;
  bool with_plan_ = false;
  const CollectedTable *table_ = nullptr;
  const detect::Context *context_ = nullptr;
  std::vector<char> categories_;
  std::optional<MemberLocations> locations_;
};

std::string timings(const DetectStats &stats) {
  auto ms = [](double v) { return std::to_string(static_cast<long>(v)); };
  return std::to_string(stats.partitions) + " partition(s); keys " + ms(stats.keys_ms) +
         " ms, rows " + ms(stats.rows_ms) + " ms, classify " + ms(stats.classify_ms) +
         " ms (rules " + ms(stats.rules_ms) + " ms); row bytes " +
         std::to_string(stats.row_bytes_estimated) + " planned, " +
         std::to_string(stats.row_bytes_held) + " held";
}

// Detects the conflicts of every collected table and adds them to `sink`.
void detect_into(Spi &spi, const std::string &release,
                 const std::vector<std::vector<std::optional<std::string>>> &tables,
                 PreviewSink &sink) {
  const detect::Context context = load_context(spi, release);
  const MemoryBudget budget(static_cast<std::size_t>(work_mem_kb) * 1024);
  ScratchContext scratch("tdm detect output");
  for (const auto &row : tables) {
    const Oid rel = static_cast<Oid>(std::stoul(row[0].value()));
    // (Rows uncounted, 0: pass 1 counts them.)
    const std::uint64_t rows = row.size() > 2 ? std::stoull(row[2].value()) : 0;
    CollectedTable table = load_collected_table(spi, rel, row[1].value(), rows, sink.with_plan());
    DetectStats stats;
    sink.start_table(table, context);
    detect_collected(
        spi, table, context, budget,
        [&](const std::vector<detect::Conflict> &conflicts,
            const std::vector<detect::SourceRow> &rows) {
          // (a partition's conflicts can be many: cancel stays prompt)
          for (const detect::Conflict &c : conflicts) {
            tdm::check_interrupts();
            sink.add(c, rows, scratch);
          }
        },
        &stats);
    const std::string message = table.model.name + ": " + std::to_string(stats.rows) + " rows, " +
                                std::to_string(stats.candidates) + " in groups, " +
                                (stats.partitions > 1 ? "partitioned" : "in one pass") +
                                (stats.spilled ? ", key pass in SQL" : "");
    const char *text = message.c_str();
    const std::string timing = timings(stats);
    const char *timing_text = timing.c_str();
    pg_call([=] {
      if (progress_notices) ereport(NOTICE, (errmsg_internal("detect %s", text)));
      ereport(DEBUG1, (errmsg_internal("detect %s: %s", text, timing_text)));
    });
  }
  sink.finish();
  // The working set is gone: give its pages back to the system, so a
  // long-lived backend does not keep the peak (glibc keeps freed memory).
  malloc_trim(0);
}

}  // namespace
}  // namespace tdm::pg

TDM_FUNCTION(tdm_detect_conflicts) {
  using namespace tdm::pg;
  const std::string release = text_arg(fcinfo, 0, "release");
  PreviewSink sink(fcinfo);
  Spi spi;
  spi.value("SELECT tdm._refuse_read_only('detect_conflicts')");
  auto status = spi.value("SELECT (tdm._require_release_inputs($1, 'detect_conflicts')).status",
                          {text_param(release)});
  if (status.value_or("") == "open") {
    const std::string message =
        "release \"" + release + "\" is not locked: this is a preview of unlocked data";
    const std::string hint = "Lock it with SELECT tdm.tag_release(" + quote_literal(release) + ");";
    const char *m = message.c_str();
    const char *h = hint.c_str();
    pg_call([=] { ereport(NOTICE, (errmsg("%s", m), errhint("%s", h))); });
  }
  // Master's rows of earlier releases are read too: its tables must have
  // the managed tables' columns (as consolidate requires).
  spi.value("SELECT tdm._require_same_columns('detect_conflicts', 'master', false)");
  auto tables = spi.query(
      "SELECT c.rel::oid::text, c.collected::text,"
      "       (c.row_count + tdm._collect_earlier($1, c.rel))::text"
      "  FROM tdm._collect($1) c ORDER BY c.rel::text",
      {text_param(release)});
  detect_into(spi, release, tables, sink);
  return (Datum)0;
}

// tdm._detect_collected(release) and tdm._detect_plan(release): the same
// function; the declared result type says whether the plan columns come too.
TDM_FUNCTION(tdm_detect_collected) {
  using namespace tdm::pg;
  const std::string release = text_arg(fcinfo, 0, "release");
  PreviewSink sink(fcinfo);
  Spi spi;
  // An optional second argument limits detection to one table.
  const bool one_table = PG_NARGS() > 1 && !PG_ARGISNULL(1);
  const Oid only = one_table ? PG_GETARG_OID(1) : InvalidOid;
  auto tables = spi.query(
      "SELECT m.rel::oid::text, c.oid::regclass::text"
      "  FROM tdm.managed_table m"
      "  JOIN pg_class c ON c.oid = to_regclass(format('pg_temp.%I', tdm._collected_name(m.rel)))"
      " WHERE $1 = 0::oid OR m.rel = $1::oid"
      " ORDER BY m.rel::text",
      {oid_param(OIDOID, only)}, true);
  if (tables.empty()) {
    throw tdm::Error(tdm::sqlstate::kUndefinedObject, "no collected rows in this transaction", {},
                     "Run SELECT * FROM tdm._collect(" + quote_literal(release) + ") first.");
  }
  // A bound on one table's rows, from the caller (consolidation).
  if (one_table && PG_NARGS() > 2 && !PG_ARGISNULL(2)) {
    for (auto &table : tables) table.push_back(std::to_string(PG_GETARG_INT64(2)));
  }
  sink.record_locations(spi);
  detect_into(spi, release, tables, sink);
  return (Datum)0;
}
