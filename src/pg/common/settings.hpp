// tdm's settings (GUCs), defined in _PG_init.
#pragma once

namespace tdm::pg {

// tdm.work_mem, in kilobytes.
extern int work_mem_kb;

}  // namespace tdm::pg
