// tdm's settings (GUCs), defined in _PG_init.
#pragma once

namespace tdm::pg {

// tdm.work_mem, in kilobytes.
extern int work_mem_kb;

// tdm.progress_notices: NOTICE lines per phase for foreground operations.
extern bool progress_notices;

// tdm.swap_lock_timeout, in milliseconds (read by the rollback's SQL).
extern int swap_lock_timeout_ms;

}  // namespace tdm::pg
