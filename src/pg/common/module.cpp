// Module entry: PG_MODULE_MAGIC, the GUCs and the interrupt check.
#include "pg/common/settings.hpp"

#include <climits>

#include "pg/common/bridge.hpp"
#include "pg/jobs/progress.hpp"
#include "pg/load/load_rows.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace tdm::pg {
int work_mem_kb = 65536;
bool progress_notices = false;
int swap_lock_timeout_ms = 2000;
}  // namespace tdm::pg

extern "C" void _PG_init(void) {
  DefineCustomIntVariable("tdm.work_mem",
                          "Memory tdm's C++ working sets may use before they partition or spill.",
                          "Bounds the containers of conflict detection and validation, per "
                          "operation.",
                          &tdm::pg::work_mem_kb, 65536, 64, MAX_KILOBYTES, PGC_USERSET, GUC_UNIT_KB,
                          nullptr, nullptr, nullptr);
  DefineCustomBoolVariable(
      "tdm.progress_notices",
      "Reports each phase of a tdm operation run in the foreground as a NOTICE.", nullptr,
      &tdm::pg::progress_notices, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable(
      "tdm.swap_lock_timeout",
      "How long a rollback waits for the locks a storage swap needs before it changes rows "
      "instead.",
      "A swap needs ACCESS EXCLUSIVE on the target's tables; readers and writers that hold them "
      "past this time make the rollback change rows under EXCLUSIVE locks. 0 waits as long as "
      "it takes.",
      &tdm::pg::swap_lock_timeout_ms, 2000, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr,
      nullptr);
  MarkGUCPrefixReserved("tdm");
  tdm::pg::install_interrupt_check();
  tdm::pg::install_progress_registry(process_shared_preload_libraries_in_progress);
  tdm::pg::install_load_callbacks();
}
