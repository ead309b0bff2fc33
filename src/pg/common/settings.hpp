// tdm's settings (GUCs), defined in _PG_init.
#pragma once

namespace tdm::pg {

// tdm.work_mem, in kilobytes.
extern int work_mem_kb;

// tdm.progress_notices: NOTICE lines per phase for foreground operations.
extern bool progress_notices;

}  // namespace tdm::pg
