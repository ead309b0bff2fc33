// Errors raised by tdm's domain logic. The core knows nothing of PostgreSQL,
// so an error carries its SQLSTATE as five characters; the error bridge in
// src/pg turns it into ereport(ERROR) once every C++ frame has unwound.
#pragma once

#include <stdexcept>
#include <string>

namespace tdm {

// The SQLSTATEs the core raises (PostgreSQL's codes, spelled out).
namespace sqlstate {
inline constexpr const char *kInvalidParameterValue = "22023";
inline constexpr const char *kNullValueNotAllowed = "22004";
inline constexpr const char *kUndefinedColumn = "42703";
inline constexpr const char *kUndefinedObject = "42704";
inline constexpr const char *kDuplicateObject = "42710";
inline constexpr const char *kInvalidTableDefinition = "42P16";
inline constexpr const char *kSyntaxError = "42601";
inline constexpr const char *kDatatypeMismatch = "42804";
inline constexpr const char *kWrongObjectType = "42809";
inline constexpr const char *kObjectNotInPrerequisiteState = "55000";
inline constexpr const char *kProgramLimitExceeded = "54000";
inline constexpr const char *kInternalError = "XX000";
}  // namespace sqlstate

// A user-facing error: what is wrong (message), which object and why
// (detail), what to do (hint).
class Error : public std::runtime_error {
 public:
  Error(const char *sqlstate, std::string message, std::string detail = {}, std::string hint = {})
      : std::runtime_error(message), detail_(std::move(detail)), hint_(std::move(hint)) {
    for (int i = 0; i < 5 && sqlstate[i] != '\0'; ++i) sqlstate_[i] = sqlstate[i];
  }

  const char *sqlstate() const noexcept { return sqlstate_; }
  const std::string &detail() const noexcept { return detail_; }
  const std::string &hint() const noexcept { return hint_; }

 private:
  char sqlstate_[6] = {};
  std::string detail_;
  std::string hint_;
};

}  // namespace tdm
