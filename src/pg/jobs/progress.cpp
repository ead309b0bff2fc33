// Live progress of running jobs, in shared memory so that other sessions
// see it move while the job's transaction is still open (tdm.progress).
//
// The registry is a fixed array of slots. When tdm is preloaded
// (shared_preload_libraries) it lives in the main shared memory, requested
// in shmem_request_hook. Otherwise the first backend that needs it creates
// a pinned dynamic shared memory segment and publishes its handle in a
// few bytes of the main segment (ShmemInitStruct); others attach to it.
// A slot belongs to the backend that took it and is given back at the end
// of that backend's transaction (commit or abort), or of the
// subtransaction it was taken in if that aborts, so a failed job never
// leaves progress behind; a slot whose backend is gone is ignored.
#include <cstring>
#include <string>

#include "core/common/error.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/settings.hpp"
#include "pg/jobs/progress.hpp"

extern "C" {
#include "access/xact.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

namespace tdm::pg {
namespace {

constexpr int kSlots = 64;

struct Slot {
  int64 job_id;  // 0: free
  Oid database;  // job ids are per database: a slot is one database's
  int pid;
  char kind[24];
  char release[64];
  char phase[48];
  int64 done;
  int64 total;
  TimestampTz started;
  TimestampTz phase_started;
  bool cancel_requested;     // by tdm.cancel_job: the job ends `cancelled`, not `failed`
  SubTransactionId subxact;  // taken in: its abort (ROLLBACK TO SAVEPOINT) gives the slot back
};

struct Registry {
  slock_t mutex;
  Slot slots[kSlots];
};

// Where a non-preloaded registry's segment is published.
struct Header {
  dsm_handle handle;
};

Registry *g_registry = nullptr;
// The job this backend last reported a phase of (tdm._progress): the one
// add_rows_done counts for. (A transaction holds the slots of the jobs it
// ran before, in their last phase, until it ends.)
int64 g_reporting_job = 0;
shmem_request_hook_type g_previous_request_hook = nullptr;
shmem_startup_hook_type g_previous_startup_hook = nullptr;

void init_registry(Registry *registry) {
  std::memset(static_cast<void *>(registry), 0, sizeof(Registry));
  SpinLockInit(&registry->mutex);
}

void request_shared_memory() {
  if (g_previous_request_hook != nullptr) g_previous_request_hook();
  RequestAddinShmemSpace(sizeof(Registry));
}

void startup_shared_memory() {
  if (g_previous_startup_hook != nullptr) g_previous_startup_hook();
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  auto *registry =
      static_cast<Registry *>(ShmemInitStruct("tdm progress", sizeof(Registry), &found));
  if (!found) init_registry(registry);
  LWLockRelease(AddinShmemInitLock);
  g_registry = registry;
}

// The registry of a server where tdm is not preloaded (PostgreSQL calls
// inside; run under pg_call).
Registry *attach_dynamic_registry() {
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  bool found = false;
  auto *header =
      static_cast<Header *>(ShmemInitStruct("tdm progress handle", sizeof(Header), &found));
  dsm_segment *segment = nullptr;
  if (found) segment = dsm_attach(header->handle);
  if (segment == nullptr) {
    segment = dsm_create(sizeof(Registry), 0);
    init_registry(static_cast<Registry *>(dsm_segment_address(segment)));
    dsm_pin_segment(segment);  // outlives this backend
    header->handle = dsm_segment_handle(segment);
  }
  dsm_pin_mapping(segment);  // mapped for the rest of the session
  LWLockRelease(AddinShmemInitLock);
  return static_cast<Registry *>(dsm_segment_address(segment));
}

Registry *registry() {
  if (g_registry == nullptr) g_registry = pg_call([] { return attach_dynamic_registry(); });
  return g_registry;
}

void copy_text(char *to, std::size_t size, const std::string &from) {
  // Cut on a character boundary of the database encoding.
  const std::size_t n = static_cast<std::size_t>(
      pg_mbcliplen(from.data(), static_cast<int>(from.size()), static_cast<int>(size - 1)));
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

// Gives back the slots this backend holds when its transaction ends.
void release_own_slots(XactEvent event, void *) {
  if (g_registry == nullptr) return;
  if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
      event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT) {
    return;
  }
  SpinLockAcquire(&g_registry->mutex);
  for (Slot &slot : g_registry->slots) {
    if (slot.job_id != 0 && slot.pid == MyProcPid) slot.job_id = 0;
  }
  SpinLockRelease(&g_registry->mutex);
}

// Gives back the slots taken in a subtransaction that aborts (or in one
// of its children, whose ids are higher): a call cancelled or failed
// under a savepoint is gone, though the transaction goes on. Not in a
// job's worker: its job ends with its transaction, and ending it reads the
// slot (a cancel asked for) after the operation's error has unwound.
void release_aborted_slots(SubXactEvent event, SubTransactionId aborted, SubTransactionId, void *) {
  if (g_registry == nullptr || event != SUBXACT_EVENT_ABORT_SUB || MyBackendType == B_BG_WORKER)
    return;
  SpinLockAcquire(&g_registry->mutex);
  for (Slot &slot : g_registry->slots) {
    if (slot.job_id != 0 && slot.pid == MyProcPid && slot.subxact >= aborted) slot.job_id = 0;
  }
  SpinLockRelease(&g_registry->mutex);
}

}  // namespace

bool job_cancel_requested(int64 job_id) {
  if (g_registry == nullptr) return false;
  bool requested = false;
  SpinLockAcquire(&g_registry->mutex);
  for (const Slot &slot : g_registry->slots) {
    if (slot.job_id == job_id && slot.pid == MyProcPid) requested = slot.cancel_requested;
  }
  SpinLockRelease(&g_registry->mutex);
  return requested;
}

void add_rows_done(std::int64_t rows) noexcept {
  // (No registry attached: this backend runs no job, nothing to show.)
  Registry *reg = g_registry;
  if (reg == nullptr || g_reporting_job == 0) return;
  SpinLockAcquire(&reg->mutex);
  for (Slot &slot : reg->slots) {
    if (slot.job_id != g_reporting_job || slot.pid != MyProcPid || slot.database != MyDatabaseId) {
      continue;
    }
    slot.done += rows;
    break;
  }
  SpinLockRelease(&reg->mutex);
}

void install_progress_registry(bool preloading) {
  if (preloading) {
    g_previous_request_hook = shmem_request_hook;
    shmem_request_hook = request_shared_memory;
    g_previous_startup_hook = shmem_startup_hook;
    shmem_startup_hook = startup_shared_memory;
  }
  RegisterXactCallback(release_own_slots, nullptr);
  RegisterSubXactCallback(release_aborted_slots, nullptr);
}

}  // namespace tdm::pg

using tdm::pg::registry;
using tdm::pg::Slot;

// tdm._progress_begin(job_id, kind, release): takes a slot for the job.
TDM_FUNCTION(tdm_progress_begin) {
  const int64 job = PG_GETARG_INT64(0);
  const std::string kind = tdm::pg::text_arg(fcinfo, 1, "kind");
  const std::string release = tdm::pg::optional_text_arg(fcinfo, 2).value_or("");
  auto *reg = registry();
  const TimestampTz now = GetCurrentTimestamp();
  SpinLockAcquire(&reg->mutex);
  Slot *free_slot = nullptr;
  for (Slot &slot : reg->slots) {
    const bool this_job = slot.job_id == job && slot.database == MyDatabaseId;
    if (this_job || (free_slot == nullptr && slot.job_id == 0)) {
      free_slot = &slot;
      if (this_job) break;
    }
  }
  if (free_slot != nullptr) {
    // The same job's slot keeps a cancel asked for before the worker got it.
    const bool keep_cancel = free_slot->job_id == job && free_slot->database == MyDatabaseId &&
                             free_slot->cancel_requested;
    free_slot->job_id = job;
    free_slot->database = MyDatabaseId;
    free_slot->pid = MyProcPid;
    tdm::pg::copy_text(free_slot->kind, sizeof free_slot->kind, kind);
    tdm::pg::copy_text(free_slot->release, sizeof free_slot->release, release);
    free_slot->phase[0] = '\0';
    free_slot->done = 0;
    free_slot->total = 0;
    free_slot->started = now;
    free_slot->phase_started = now;
    free_slot->cancel_requested = keep_cancel;
    free_slot->subxact = GetCurrentSubTransactionId();
  }
  SpinLockRelease(&reg->mutex);
  // A full registry costs the job its progress display, nothing else.
  if (free_slot == nullptr) {
    tdm::pg::pg_call([=] {
      ereport(DEBUG1, (errmsg_internal("tdm: no progress slot for job %lld", (long long)job)));
    });
  }
  PG_RETURN_VOID();
}

// tdm._progress(job_id, phase, done, total): where the job is. A new phase
// restarts the phase clock (and says so in a NOTICE when
// tdm.progress_notices is on and the job runs in the foreground).
TDM_FUNCTION(tdm_progress) {
  const int64 job = PG_GETARG_INT64(0);
  const std::string phase = tdm::pg::text_arg(fcinfo, 1, "phase");
  const int64 done = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
  const int64 total = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3);
  auto *reg = registry();
  bool new_phase = false;
  const TimestampTz now = GetCurrentTimestamp();
  SpinLockAcquire(&reg->mutex);
  tdm::pg::g_reporting_job = job;
  for (Slot &slot : reg->slots) {
    if (slot.job_id != job || slot.pid != MyProcPid) continue;
    new_phase = phase != slot.phase;
    if (new_phase) {
      tdm::pg::copy_text(slot.phase, sizeof slot.phase, phase);
      slot.phase_started = now;
    }
    slot.done = done;
    slot.total = total;
    break;
  }
  SpinLockRelease(&reg->mutex);
  if (new_phase && tdm::pg::progress_notices && !IsBackgroundWorker) {
    const char *text = phase.c_str();
    tdm::pg::pg_call([=] { ereport(NOTICE, (errmsg("tdm job %lld: %s", (long long)job, text))); });
  }
  PG_RETURN_VOID();
}

// tdm._progress_rows(): the slots of live backends.
TDM_FUNCTION(tdm_progress_rows) {
  tdm::pg::pg_call([fcinfo] { InitMaterializedSRF(fcinfo, 0); });
  auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
  Slot copy[tdm::pg::kSlots];
  auto *reg = registry();
  SpinLockAcquire(&reg->mutex);
  std::memcpy(static_cast<void *>(copy), static_cast<const void *>(reg->slots), sizeof copy);
  SpinLockRelease(&reg->mutex);
  for (const Slot &slot : copy) {
    if (slot.job_id == 0 || slot.database != MyDatabaseId) continue;
    tdm::pg::pg_call([&] {
      if (BackendPidGetProc(slot.pid) == nullptr) return;  // its backend is gone
      Datum values[9] = {Int64GetDatum(slot.job_id),
                         PointerGetDatum(cstring_to_text(slot.kind)),
                         PointerGetDatum(cstring_to_text(slot.release)),
                         PointerGetDatum(cstring_to_text(slot.phase)),
                         Int64GetDatum(slot.done),
                         Int64GetDatum(slot.total),
                         Int32GetDatum(slot.pid),
                         TimestampTzGetDatum(slot.started),
                         TimestampTzGetDatum(slot.phase_started)};
      bool nulls[9] = {false, false, slot.release[0] == '\0', slot.phase[0] == '\0'};
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return (Datum)0;
}

// tdm._request_cancel(job_id): marks the job's slot; true when the job has
// one (it is running somewhere). Takes no lock on the job's row, which the
// job itself may hold.
TDM_FUNCTION(tdm_request_cancel) {
  const int64 job = PG_GETARG_INT64(0);
  auto *reg = registry();
  bool found = false;
  SpinLockAcquire(&reg->mutex);
  for (Slot &slot : reg->slots) {
    if (slot.job_id == job && slot.database == MyDatabaseId) {
      slot.cancel_requested = true;
      found = true;
    }
  }
  SpinLockRelease(&reg->mutex);
  PG_RETURN_BOOL(found);
}
