// tdm.add_rule: a business rule is one boolean SQL expression over a
// managed table's columns. It is parsed on its own (so nothing but an
// expression gets in) and then planned against the table (so unknown
// columns and non-boolean results are refused now, not at validation).
#include <optional>
#include <string>
#include <vector>

#include <algorithm>

#include <cstring>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/predicate.hpp>
#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/split.hpp>
#include <boost/algorithm/string/trim.hpp>

#include "core/common/error.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace tdm::pg {
namespace {

Error invalid_predicate(const std::string &rule, const std::string &table, const char *sqlstate,
                        const std::string &why, const std::string &first_hint = "") {
  return Error(sqlstate, "predicate of rule \"" + rule + "\" on " + table + " is not valid: " + why,
               {},
               first_hint +
                   "Write one boolean expression over the table's columns, e.g. 'balance >= 0'. "
                   "Names resolve as at validation, with search_path pg_catalog, pg_temp: qualify "
                   "functions and types of other schemas (public.f(email)); name other managed "
                   "tables bare (invoice_line: the target as the load leaves it) and, in a "
                   "subquery, the row's columns by the table's name (invoice.invoice_id).");
}

// For an unknown column that PostgreSQL folded to lower case (UnitPrice
// written unquoted): the table's column of that name in other case
// (`mixed_case`: its columns with capitals, read before the statement that
// failed), as a hint to quote it; "" otherwise.
std::string quoting_hint(const std::vector<std::string> &mixed_case, const std::string &message) {
  const std::string prefix = "column \"";
  const std::size_t start = message.find(prefix);
  if (start == std::string::npos) return "";
  const std::size_t end = message.find('"', start + prefix.size());
  if (end == std::string::npos) return "";
  std::string name = message.substr(start + prefix.size(), end - start - prefix.size());
  if (const std::size_t dot = name.rfind('.'); dot != std::string::npos) name.erase(0, dot + 1);
  for (const std::string &column : mixed_case) {
    if (boost::algorithm::to_lower_copy(column) == name) {
      return "Column names with capitals are written quoted: \"" + column + "\". ";
    }
  }
  return "";
}

// For an operator PostgreSQL did not find, or found several of, between
// operands of which one has a type of another schema (`public.ltree <@
// unknown`): under validation's search_path an extension's operators are
// not found by their bare name; "" otherwise.
std::string operator_hint(const std::string &message) {
  std::string operands;
  for (const char *prefix : {"operator does not exist: ", "operator is not unique: "}) {
    if (boost::algorithm::starts_with(message, prefix)) operands = message.substr(strlen(prefix));
  }
  std::vector<std::string> words;
  boost::algorithm::split(words, operands, boost::is_any_of(" "), boost::token_compress_on);
  const auto typed = std::find_if(words.begin(), words.end(), [](const std::string &word) {
    return word.find('.') != std::string::npos;
  });
  if (words.size() < 2 || words.size() > 3 || typed == words.end()) return "";
  const std::string op = words.size() == 3 ? words[1] : words[0];
  const std::string schema = typed->substr(0, typed->find('.'));
  return "An operator of another schema is written OPERATOR(" + schema + "." + op +
         "): col OPERATOR(" + schema + "." + op + ") 'value'. ";
}

// True when "SELECT <predicate>" parsed into exactly one plain expression.
bool is_single_expression(List *statements) {
  if (list_length(statements) != 1) return false;
  Node *node = linitial_node(RawStmt, statements)->stmt;
  if (!IsA(node, SelectStmt)) return false;
  auto *select = reinterpret_cast<SelectStmt *>(node);
  if (select->op != SETOP_NONE || list_length(select->targetList) != 1) return false;
  auto *target = linitial_node(ResTarget, select->targetList);
  return target->name == nullptr && select->fromClause == NIL && select->whereClause == nullptr &&
         select->groupClause == NIL && select->havingClause == nullptr &&
         select->windowClause == NIL && select->valuesLists == NIL && select->sortClause == NIL &&
         select->limitCount == nullptr && select->limitOffset == nullptr &&
         select->lockingClause == NIL && select->withClause == nullptr &&
         select->intoClause == nullptr && select->distinctClause == NIL;
}

void check_predicate(Spi &spi, const std::string &rule, Oid rel, const std::string &predicate) {
  const std::string table = pg_call([rel] { return get_rel_name(rel); });
  const std::string qualified = [&] {
    Oid nsp = pg_call([rel] { return get_rel_namespace(rel); });
    const char *schema = pg_call([nsp] { return get_namespace_name(nsp); });
    const char *name = table.c_str();
    return std::string(pg_call([=] { return quote_qualified_identifier(schema, name); }));
  }();

  const std::string expression = "SELECT " + predicate;
  const char *expression_text = expression.c_str();
  List *parsed = nullptr;
  try {
    parsed = pg_call([=] { return raw_parser(expression_text, RAW_PARSE_DEFAULT); });
  } catch (const PgError &e) {
    throw invalid_predicate(rule, qualified, tdm::sqlstate::kSyntaxError, e.what());
  }
  if (!is_single_expression(parsed)) {
    throw invalid_predicate(rule, qualified, tdm::sqlstate::kSyntaxError,
                            "it is not a single expression");
  }

  // (Its columns with capitals: an unknown column's hint names one, read
  // now, as nothing can be read after the planner's error.)
  std::vector<std::string> mixed_case;
  for (auto &row : spi.query("SELECT attname::text FROM pg_attribute WHERE attrelid = $1"
                             " AND attnum > 0 AND NOT attisdropped AND attname <> lower(attname)",
                             {oid_param(OIDOID, rel)}, true)) {
    mixed_case.push_back(row[0].value());
  }

  // Planning against the table resolves column names and the result type.
  // The newline keeps a trailing "--" comment from swallowing the ")".
  // As validation reads them: the row under the table's own name, the
  // managed tables by their bare names (tdm._rule_views).
  spi.value("SELECT tdm._rule_views(NULL, NULL, $1)::text", {text_param(predicate)});
  const std::string probe = "SELECT (" + predicate + "\n) FROM ONLY " + qualified + " LIMIT 0";
  const char *probe_text = probe.c_str();
  Oid result_type = InvalidOid;
  try {
    result_type = pg_call([=] {
      SPI_execute(probe_text, true, 0);
      return SPI_gettypeid(SPI_tuptable->tupdesc, 1);
    });
  } catch (const PgError &e) {
    const std::string why = e.what();
    throw invalid_predicate(rule, qualified, unpack_sql_state(e.sqlerrcode()), why,
                            e.sqlerrcode() == ERRCODE_UNDEFINED_COLUMN
                                ? quoting_hint(mixed_case, why)
                                : operator_hint(why));
  }
  if (result_type != BOOLOID) {
    const char *type_name = pg_call([=] { return format_type_be(result_type); });
    throw invalid_predicate(rule, qualified, tdm::sqlstate::kDatatypeMismatch,
                            std::string("it yields ") + type_name + ", not boolean");
  }
  // Validation evaluates it row by row, as a WHERE clause does: no
  // aggregates, window or set-returning functions.
  const std::string row_probe =
      "SELECT 1 FROM ONLY " + qualified + " WHERE (" + predicate + "\n) LIMIT 0";
  const char *row_probe_text = row_probe.c_str();
  try {
    pg_call([=] { SPI_execute(row_probe_text, true, 0); });
  } catch (const PgError &e) {
    throw invalid_predicate(rule, qualified, unpack_sql_state(e.sqlerrcode()), e.what());
  }
  // Validation reads it under settings of its own (ISO dates, UTC): a
  // literal this session reads otherwise ('06/02/24' under DMY, a time
  // without its zone) would be another rule there, silently. Both readings
  // are kept as temporary views and printed alike.
  const std::string here_view = "tdm_rule_here_" + std::to_string(MyProcPid);
  const std::string there_view = "tdm_rule_there_" + std::to_string(MyProcPid);
  const std::vector<Param> here_params = {oid_param(REGCLASSOID, rel), text_param(predicate),
                                          text_param(here_view)};
  spi.value("SELECT tdm._rule_reading($1, $2, $3)::text", here_params);
  const std::string settings = "DateStyle ISO, YMD; TimeZone UTC; IntervalStyle postgres";
  const std::string hint =
      "Its constants depend on this session's DateStyle, TimeZone, IntervalStyle or "
      "lc_monetary: write dates and times as ISO 8601 ('2024-02-06', '2024-03-10 10:00+05:30'), "
      "which read alike under every setting.";
  const std::string refusal = "predicate of rule \"" + rule + "\" on " + qualified +
                              " reads otherwise in this session than at validation";
  std::optional<std::string> here, there;
  try {
    const auto readings =
        spi.query("SELECT r[1], r[2] FROM tdm._rule_readings_at_validation($1, $2, $3, $4) AS r",
                  {oid_param(REGCLASSOID, rel), text_param(predicate), text_param(here_view),
                   text_param(there_view)});
    here = readings.at(0)[0];
    there = readings.at(0)[1];
  } catch (const PgError &e) {
    throw Error(tdm::sqlstate::kInvalidParameterValue, refusal,
                "At validation (" + settings + "): " + e.what() + ".", hint);
  }
  if (here != there) {
    // (The first line of the two queries that differs, on each side.)
    std::vector<std::string> here_lines, there_lines;
    boost::algorithm::split(here_lines, here.value_or(""), boost::is_any_of("\n"));
    boost::algorithm::split(there_lines, there.value_or(""), boost::is_any_of("\n"));
    const auto [here_line, there_line] =
        std::mismatch(here_lines.begin(), here_lines.end(), there_lines.begin(), there_lines.end());
    const auto shown = [](auto line, auto end) {
      return line == end ? std::string("-") : boost::algorithm::trim_copy(*line);
    };
    throw Error(tdm::sqlstate::kInvalidParameterValue, refusal,
                "Here: " + shown(here_line, here_lines.end()) + ". At validation (" + settings +
                    "): " + shown(there_line, there_lines.end()) + ".",
                hint);
  }
  spi.value("DROP VIEW pg_temp." + quote_ident(here_view) + ", pg_temp." + quote_ident(there_view));
  spi.value("SELECT tdm._drop_rule_views()::text");
}

}  // namespace
}  // namespace tdm::pg

TDM_FUNCTION(tdm_add_rule) {
  using namespace tdm::pg;
  const std::string name = text_arg(fcinfo, 0, "name");
  const Oid rel = oid_arg(fcinfo, 1, "rel");
  const std::string predicate = text_arg(fcinfo, 2, "predicate");
  const std::string severity = text_arg(fcinfo, 3, "severity");

  Spi spi;
  // Cheap checks with clear messages first, in SQL (tdm._check_rule_target).
  spi.query("SELECT tdm._check_rule_target($1, $2, $3)",
            {text_param(name), oid_param(REGCLASSOID, rel), text_param(severity)});
  check_predicate(spi, name, rel, predicate);
  spi.query(
      "INSERT INTO tdm.rule (name, rel, predicate, severity) VALUES ($1, $2, $3, $4)",
      {text_param(name), oid_param(REGCLASSOID, rel), text_param(predicate), text_param(severity)});
  spi.query(
      "SELECT tdm._audit('add_rule', $1, jsonb_build_object('rel', $2::regclass::text,"
      " 'predicate', $3, 'severity', $4))",
      {text_param(name), oid_param(REGCLASSOID, rel), text_param(predicate), text_param(severity)});
  spi.query("SELECT tdm._notice_rules_on_masks('add_rule', $1, $2)",
            {oid_param(REGCLASSOID, rel), text_param(name)});
  PG_RETURN_VOID();
}
