// Reads a table's shape (name, columns, primary key) from the catalog.
#pragma once

#include "core/setup/table_spec.hpp"
#include "pg/common/postgres.hpp"
#include "pg/common/spi.hpp"

namespace tdm::pg {

// Throws tdm::Error when `rel` is not an ordinary or partitioned table.
setup::TableShape read_table_shape(Spi &spi, Oid rel);

}  // namespace tdm::pg
