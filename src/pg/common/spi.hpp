// SPI from C++: a connection that is released by its destructor, queries
// with parameters only (values are never pasted into SQL), and results
// copied into C++ values. Every PostgreSQL call goes through pg_call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "pg/common/postgres.hpp"

namespace tdm::pg {

// One query parameter: its type and its value as a Datum.
struct Param {
  Oid type;
  Datum value;
  bool is_null;
};

Param text_param(const std::string &value);
Param text_param(const std::optional<std::string> &value);
Param text_array_param(const std::vector<std::string> &values);
Param oid_param(Oid type, Oid value);
Param bool_param(bool value);

// The rows of the last query, as text (NULL as nullopt).
using Row = std::vector<std::optional<std::string>>;

class Spi {
 public:
  Spi();
  ~Spi();
  Spi(const Spi &) = delete;
  Spi &operator=(const Spi &) = delete;

  // Runs one statement; returns its rows (empty for statements without).
  std::vector<Row> query(const std::string &sql, const std::vector<Param> &params = {},
                         bool read_only = false);

  // Runs one statement and returns its first column of its only row.
  std::optional<std::string> value(const std::string &sql, const std::vector<Param> &params = {});
};

}  // namespace tdm::pg
