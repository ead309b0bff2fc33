// Unit tests of managed-table registration (src/core/setup).
#include <gtest/gtest.h>

#include "core/common/error.hpp"
#include "core/setup/table_spec.hpp"

namespace tdm::setup {
namespace {

TableShape users_table() {
  TableShape table;
  table.display_name = "staging.users";
  table.columns = {{"user_id", "bigint"},   {"email", "text"},
                   {"first_name", "text"},  {"last_name", "text"},
                   {"role", "text"},        {"updated_at", "timestamp with time zone"},
                   {"tdm_release", "text"}, {"tdm_feature", "text"}};
  table.primary_key = {"user_id"};
  return table;
}

// Runs f, expects a tdm::Error and returns it for inspection.
template <typename F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error &e) {
    return e;
  }
  ADD_FAILURE() << "no tdm::Error thrown";
  return Error(sqlstate::kInternalError, "none");
}

TEST(NaturalKeys, ParsesSingleAndCompositeGroupsTrimmingSpaces) {
  auto groups = parse_natural_keys({"email", " first_name , last_name "});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], KeyGroup({"email"}));
  EXPECT_EQ(groups[1], KeyGroup({"first_name", "last_name"}));
  EXPECT_EQ(format_key_group(groups[1]), "first_name,last_name");
}

TEST(NaturalKeys, RefusesEmptyColumnName) {
  Error e = error_of([] { parse_natural_keys({"first_name,"}); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
  EXPECT_NE(std::string(e.what()).find("empty column name"), std::string::npos);
}

TEST(NaturalKeys, RefusesColumnRepeatedInAGroup) {
  Error e = error_of([] { parse_natural_keys({"email,email"}); });
  EXPECT_NE(std::string(e.what()).find("twice"), std::string::npos);
}

TEST(NaturalKeys, RefusesTheSameGroupGivenTwiceInAnyOrder) {
  Error e = error_of([] { parse_natural_keys({"a,b", "b, a"}); });
  EXPECT_NE(std::string(e.what()).find("given twice"), std::string::npos);
}

TEST(ResolveManagedTable, AcceptsAValidRequestInCanonicalForm) {
  ManageRequest request;
  request.natural_keys = {"email", "first_name, last_name"};
  request.updated_at_column = "updated_at";
  request.core_columns = {"role", "role"};
  ManagedTable managed = resolve_managed_table(users_table(), request);
  EXPECT_EQ(managed.pk_columns, std::vector<std::string>({"user_id"}));
  ASSERT_EQ(managed.natural_keys.size(), 2u);
  EXPECT_EQ(format_key_group(managed.natural_keys[1]), "first_name,last_name");
  EXPECT_EQ(managed.updated_at_column, std::optional<std::string>("updated_at"));
  EXPECT_EQ(managed.core_columns, std::vector<std::string>({"role"}));
}

TEST(ResolveManagedTable, BookkeepingColumnsAreKeptOnceAndMayNotBeKeysTagsOrCoreColumns) {
  ManageRequest request;
  request.natural_keys = {"email"};
  request.updated_at_column = "updated_at";
  request.core_columns = {"role"};
  request.bookkeeping_columns = {"last_name", "last_name"};
  EXPECT_EQ(resolve_managed_table(users_table(), request).bookkeeping_columns,
            std::vector<std::string>({"last_name"}));
  for (const char *column : {"user_id", "email", "role", "updated_at", "tdm_release"}) {
    request.bookkeeping_columns = {column};
    Error e = error_of([&] { resolve_managed_table(users_table(), request); });
    EXPECT_STREQ(e.sqlstate(), sqlstate::kInvalidParameterValue) << column;
    EXPECT_NE(std::string(e.what()).find(std::string("\"") + column + "\""), std::string::npos)
        << e.what();
  }
  request.bookkeeping_columns = {"version"};
  EXPECT_STREQ(error_of([&] { resolve_managed_table(users_table(), request); }).sqlstate(),
               sqlstate::kUndefinedColumn);
}

TEST(ResolveManagedTable, RefusesATableWithoutPrimaryKey) {
  TableShape table = users_table();
  table.primary_key.clear();
  Error e = error_of([&] { resolve_managed_table(table, ManageRequest{}); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kInvalidTableDefinition);
  EXPECT_EQ(std::string(e.what()), "table staging.users has no primary key");
  EXPECT_NE(e.hint().find("ADD PRIMARY KEY"), std::string::npos);
}

TEST(ResolveManagedTable, NamesTheUnknownNaturalKeyColumnAndListsColumns) {
  ManageRequest request;
  request.natural_keys = {"emial"};
  Error e = error_of([&] { resolve_managed_table(users_table(), request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kUndefinedColumn);
  EXPECT_NE(std::string(e.what()).find("\"emial\""), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("staging.users"), std::string::npos);
  EXPECT_NE(e.hint().find("email"), std::string::npos);
}

TEST(ResolveManagedTable, RefusesUnknownCoreAndUpdatedAtColumns) {
  ManageRequest core;
  core.core_columns = {"rank"};
  EXPECT_STREQ(error_of([&] { resolve_managed_table(users_table(), core); }).sqlstate(),
               sqlstate::kUndefinedColumn);
  ManageRequest updated;
  updated.updated_at_column = "modified";
  EXPECT_STREQ(error_of([&] { resolve_managed_table(users_table(), updated); }).sqlstate(),
               sqlstate::kUndefinedColumn);
}

TEST(ResolveManagedTable, AcceptsTimestampsWithAPrecision) {
  TableShape table = users_table();
  table.columns.push_back({"changed", "timestamp(3) with time zone"});
  ManageRequest request;
  request.updated_at_column = "changed";
  EXPECT_EQ(resolve_managed_table(table, request).updated_at_column,
            std::optional<std::string>("changed"));
}

TEST(ResolveManagedTable, RefusesANonTemporalUpdatedAtColumn) {
  ManageRequest request;
  request.updated_at_column = "email";
  Error e = error_of([&] { resolve_managed_table(users_table(), request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kDatatypeMismatch);
  EXPECT_NE(std::string(e.what()).find("is of type text"), std::string::npos);
}

TEST(ResolveManagedTable, RefusesANaturalKeyColumnWithoutAnOrderingEquality) {
  TableShape table = users_table();
  table.columns.push_back({"location", "point", false, false});
  ManageRequest request;
  request.natural_keys = {"email,location"};
  Error e = error_of([&] { resolve_managed_table(table, request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kDatatypeMismatch);
  EXPECT_NE(std::string(e.what()).find("column \"location\" is of type point"), std::string::npos);
  request.natural_keys = {"email"};
  EXPECT_EQ(resolve_managed_table(table, request).natural_keys.size(), 1u);
}

TEST(ResolveManagedTable, RefusesMoreColumnsThanItsCopiesCanHold) {
  TableShape table = users_table();
  while (table.columns.size() < 1598)
    table.columns.push_back({"c" + std::to_string(table.columns.size())});
  EXPECT_NO_THROW(resolve_managed_table(table, ManageRequest{}));
  table.columns.push_back({"one_more"});
  Error e = error_of([&] { resolve_managed_table(table, ManageRequest{}); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kProgramLimitExceeded);
  EXPECT_NE(std::string(e.what()).find("has 1599 columns"), std::string::npos);
}

TEST(ResolveManagedTable, RefusesANaturalKeyOfMoreColumnsThanAnIndexTakes) {
  TableShape table = users_table();
  ManageRequest request;
  std::string key;
  for (int i = 0; i < 33; ++i) {
    table.columns.push_back({"k" + std::to_string(i), "text"});
    key += (i ? "," : "") + std::string("k") + std::to_string(i);
  }
  request.natural_keys = {key};
  Error e = error_of([&] { resolve_managed_table(table, request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kProgramLimitExceeded);
  EXPECT_NE(std::string(e.what()).find("has 33 columns; 32 at most"), std::string::npos);
}

TEST(ResolveManagedTable, RefusesMissingTagColumnsNamingTheArgument) {
  ManageRequest request;
  request.release_column = "release_tag";
  Error e = error_of([&] { resolve_managed_table(users_table(), request); });
  EXPECT_EQ(std::string(e.what()), "table staging.users has no release tag column \"release_tag\"");
  EXPECT_NE(e.hint().find("release_column"), std::string::npos);

  request = ManageRequest{};
  request.feature_column = "feat";
  e = error_of([&] { resolve_managed_table(users_table(), request); });
  EXPECT_NE(std::string(e.what()).find("feature tag column \"feat\""), std::string::npos);
}

TEST(ResolveManagedTable, RefusesTheSameColumnForBothTags) {
  ManageRequest request;
  request.feature_column = "tdm_release";
  EXPECT_STREQ(error_of([&] { resolve_managed_table(users_table(), request); }).sqlstate(),
               sqlstate::kInvalidParameterValue);
}

TEST(ResolveManagedTable, RefusesATagColumnAsCoreColumn) {
  ManageRequest request;
  request.core_columns = {"tdm_feature"};
  Error e = error_of([&] { resolve_managed_table(users_table(), request); });
  EXPECT_NE(std::string(e.what()).find("tag column"), std::string::npos);
}

TEST(ResolveManagedTable, RefusesTheKeyOrTheUpdatedAtColumnAsCoreColumn) {
  ManageRequest key;
  key.core_columns = {"role", "user_id"};
  Error e = error_of([&] { resolve_managed_table(users_table(), key); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
  EXPECT_EQ(std::string(e.what()),
            "core_columns names the primary key column \"user_id\" of table staging.users");
  ManageRequest updated;
  updated.updated_at_column = "updated_at";
  updated.core_columns = {"updated_at"};
  e = error_of([&] { resolve_managed_table(users_table(), updated); });
  EXPECT_EQ(std::string(e.what()),
            "core_columns names the updated_at_column \"updated_at\" of table staging.users");
  // Without updated_at_column, the column is an attribute like any other.
  ManageRequest attribute;
  attribute.core_columns = {"updated_at"};
  EXPECT_EQ(resolve_managed_table(users_table(), attribute).core_columns,
            std::vector<std::string>({"updated_at"}));
}

TEST(ResolveManagedTable, RefusesAGeneratedColumnAsTagColumn) {
  TableShape table = users_table();
  table.columns.push_back({"release_label", "text", true, true, true});
  ManageRequest request;
  request.release_column = "release_label";
  Error e = error_of([&] { resolve_managed_table(table, request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kInvalidParameterValue);
  EXPECT_EQ(std::string(e.what()),
            "release tag column \"release_label\" of table staging.users is a generated column");
  EXPECT_NE(e.hint().find("release_column =>"), std::string::npos);
}

TEST(ResolveManagedTable, RefusesATagColumnNotOfAStringType) {
  TableShape table = users_table();
  table.columns.back() = {"tdm_feature", "staging.feature_tag", false};
  Error e = error_of([&] { resolve_managed_table(table, ManageRequest{}); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kDatatypeMismatch);
  EXPECT_EQ(std::string(e.what()),
            "feature tag column \"tdm_feature\" of table staging.users is of type "
            "staging.feature_tag");
}

TEST(ResolveManagedTable, RefusesAColumnNamedAsTdmsOwn) {
  for (const char *reserved : kReservedColumns) {
    TableShape table = users_table();
    table.columns.push_back({reserved, "text"});
    Error e = error_of([&] { resolve_managed_table(table, ManageRequest{}); });
    EXPECT_STREQ(e.sqlstate(), sqlstate::kInvalidTableDefinition);
    EXPECT_NE(std::string(e.what()).find(std::string("column named \"") + reserved + "\""),
              std::string::npos);
  }
}

TEST(TableSpec, TagColumnHintSpellsTheNameAsSqlDoes) {
  TableShape table = users_table();
  ManageRequest request;
  request.release_column = "rel tag";
  try {
    resolve_managed_table(table, request);
    FAIL() << "a missing tag column must be refused";
  } catch (const Error &e) {
    EXPECT_NE(e.hint().find("ADD COLUMN \"rel tag\" text"), std::string::npos) << e.hint();
  }
}

TEST(TableSpec, ColumnNamedInOtherCaseIsSuggested) {
  TableShape table = users_table();
  table.columns.push_back({"FullName", "text"});
  ManageRequest request;
  request.natural_keys = {"fullname"};
  Error e = error_of([&] { resolve_managed_table(table, request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kUndefinedColumn);
  EXPECT_EQ(e.hint().rfind("Names are compared exactly: did you mean \"FullName\"? ", 0), 0u)
      << e.hint();

  request = ManageRequest{};
  request.release_column = "TDM_RELEASE";
  e = error_of([&] { resolve_managed_table(table, request); });
  EXPECT_EQ(e.hint().rfind("Names are compared exactly: did you mean tdm_release? ", 0), 0u)
      << e.hint();

  request = ManageRequest{};
  request.natural_keys = {"nickname"};
  e = error_of([&] { resolve_managed_table(table, request); });
  EXPECT_EQ(e.hint().find("did you mean"), std::string::npos) << e.hint();
}

TEST(TableSpec, CompositeKeyWithAnotherSeparatorIsShownWithCommas) {
  ManageRequest request;
  request.natural_keys = {"first_name; last_name"};
  Error e = error_of([&] { resolve_managed_table(users_table(), request); });
  EXPECT_STREQ(e.sqlstate(), sqlstate::kUndefinedColumn);
  EXPECT_EQ(e.hint().rfind(
                "A composite key's columns are separated by commas: 'first_name,last_name'. ", 0),
            0u)
      << e.hint();
}

TEST(TableSpec, NaturalKeyHoldingThePrimaryKeyIsAdvisedAgainst) {
  TableShape table = users_table();
  ManageRequest request;
  request.natural_keys = {"email", "email,user_id"};
  ManagedTable managed = resolve_managed_table(table, request);
  ASSERT_EQ(managed.advice.size(), 1u);
  EXPECT_NE(managed.advice[0].message.find("natural key \"email,user_id\""), std::string::npos)
      << managed.advice[0].message;
  EXPECT_NE(managed.advice[0].message.find("includes the whole primary key (user_id)"),
            std::string::npos)
      << managed.advice[0].message;
  EXPECT_EQ(managed.natural_keys.size(), 2u);  // still registered: advice, not an error
}

}  // namespace
}  // namespace tdm::setup
