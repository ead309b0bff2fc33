// Background jobs: one dynamic background worker per job started with
// wait => false, and one per snapshot to build its rollback spares. No
// shared_preload_libraries needed.
//
//  * tdm._launch_job(job_id, kind) registers the worker (bgw_type
//    tdm_<kind>, so pg_stat_activity.backend_type names it), connected to
//    the caller's database as the caller's role, or fails with a clear
//    error naming max_worker_processes (the caller's transaction, job row
//    included, then rolls back: no job left behind).
//  * tdm_job_main waits for the launching transaction to end, then works
//    in short transactions of its own: `running`, the job itself
//    (tdm._run_job, the same SQL the foreground path runs), then
//    `completed`, or `failed` / `cancelled` with the message and SQLSTATE.
//  * tdm._wait_latch(ms) sleeps on the backend's latch: a worker's end
//    wakes the backend that launched it at once.
//
// The worker's main function is PostgreSQL-style C (PG_TRY around the job,
// no C++ objects in its frames), so its longjmps cross nothing that owns
// resources.
#include <cstdio>
#include <cstring>
#include <string>

#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/jobs/progress.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/timeout.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PGDLLEXPORT void tdm_job_main(Datum main_arg);
PGDLLEXPORT void tdm_spare_main(Datum main_arg);
PGDLLEXPORT void tdm_spare_after_rollback_main(Datum main_arg);
}

namespace {

// What the worker needs to know of its launcher (bgw_extra).
struct JobStart {
  Oid database;
  Oid session_user;  // who logged in: the worker connects as them
  Oid role;          // the role in effect (SET ROLE): the job runs as it
  TransactionId launcher_xid;
};
static_assert(sizeof(JobStart) <= BGW_EXTRALEN, "fits in bgw_extra");

// Runs one statement with a bigint parameter in a transaction of its own;
// returns the number of rows it processed.
uint64 run_in_own_transaction(const char *sql, int64 job, const char *text_arg) {
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  SPI_connect();
  Oid types[2] = {INT8OID, TEXTOID};
  Datum values[2] = {Int64GetDatum(job),
                     text_arg != nullptr ? PointerGetDatum(cstring_to_text(text_arg)) : (Datum)0};
  const char nulls[2] = {' ', text_arg != nullptr ? ' ' : 'n'};
  SPI_execute_with_args(sql, 2, types, values, nulls, false, 0);
  const uint64 processed = SPI_processed;
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
  return processed;
}

// Registers a dynamic worker running `function` with `argument`, connected
// as this backend's session user with its role, that starts its work when
// this transaction ends. False when no slot is free. PostgreSQL-side.
bool register_worker(const char *function, const char *type, const char *name, Datum argument) {
  BackgroundWorker worker;
  std::memset(&worker, 0, sizeof worker);
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "tdm");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
  snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
  snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
  worker.bgw_main_arg = argument;
  const JobStart start = {MyDatabaseId, GetSessionUserId(), GetUserId(), GetTopTransactionId()};
  std::memcpy(worker.bgw_extra, &start, sizeof start);
  worker.bgw_notify_pid = MyProcPid;
  BackgroundWorkerHandle *handle = nullptr;
  return RegisterDynamicBackgroundWorker(&worker, &handle);
}

// The lock_timeout of the worker's role and database, for the job itself.
int launcher_lock_timeout = 0;

// In a worker: connects as its launcher and waits for the launching
// transaction to end (what it launched for is visible only if it
// committed).
void connect_as_launcher(const char *application_name) {
  JobStart start;
  std::memcpy(&start, MyBgworkerEntry->bgw_extra, sizeof start);
  // SIGTERM (pg_terminate_backend, shutdown) as a backend takes it: noted,
  // and acted on at the next interrupt check. The default handler of a
  // background worker raises FATAL in the signal handler itself, which
  // inside a critical section (a catalog write of CREATE TEMP TABLE, say)
  // becomes a PANIC that restarts the whole cluster.
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(start.database, start.session_user, 0);
  pgstat_report_appname(application_name);
  if (start.role != start.session_user) {
    // SET ROLE, as the caller had it, for the rest of the worker's life.
    StartTransactionCommand();
    SetConfigOption("role", GetUserNameFromId(start.role, false), PGC_USERSET, PGC_S_SESSION);
    CommitTransactionCommand();
  }
  // The worker works for a call whose transaction wrote the job's row: its
  // transactions are read-write as that one was, whatever the role's or
  // database's default_transaction_read_only (the caller's session may
  // have set it off; a worker reads only the defaults).
  SetConfigOption("default_transaction_read_only", "off", PGC_USERSET, PGC_S_SESSION);
  // And READ COMMITTED, whatever the database's default: a job waits for
  // other sessions (locks, the spare worker) and reads what they committed.
  SetConfigOption("default_transaction_isolation", "read committed", PGC_USERSET, PGC_S_SESSION);
  // The wait for the launcher and the job's bookkeeping are tdm's own:
  // the role's lock_timeout is the job's (given back around tdm._run_job),
  // not theirs (it ended the worker before it could say why).
  launcher_lock_timeout = LockTimeout;
  LockTimeout = 0;
  StartTransactionCommand();
  XactLockTableWait(start.launcher_xid, nullptr, nullptr, XLTW_None);
  CommitTransactionCommand();
}

// What run_catching caught: the error (NULL if none), and whether it was
// the cancel tdm.cancel_job asked for; the rows the statement processed.
struct Caught {
  ErrorData *error;
  bool cancelled;
  uint64 processed;
};

// Runs `sql` with $1 = `argument` (a job id when `job`) in a transaction
// of its own; an error aborts it and is returned, copied.
Caught run_catching(const char *sql, int64 argument, bool job) {
  MemoryContext worker_context = CurrentMemoryContext;
  // (volatile: written inside PG_TRY, read after a longjmp may land)
  volatile Caught caught{nullptr, false, 0};
  StartTransactionCommand();
  PG_TRY();
  {
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    Oid types[1] = {INT8OID};
    Datum values[1] = {Int64GetDatum(argument)};
    SPI_execute_with_args(sql, 1, types, values, nullptr, false, 0);
    caught.processed = SPI_processed;
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(worker_context);
    caught.error = CopyErrorData();
    FlushErrorState();
    // Read before the abort gives the progress slot back.
    caught.cancelled = job && caught.error->sqlerrcode == ERRCODE_QUERY_CANCELED &&
                       tdm::pg::job_cancel_requested(argument);
    AbortCurrentTransaction();
  }
  PG_END_TRY();
  return Caught{caught.error, caught.cancelled, caught.processed};
}

}  // namespace

// tdm._launch_job(job_id bigint, kind text) RETURNS void
TDM_FUNCTION(tdm_launch_job) {
  const int64 job = PG_GETARG_INT64(0);
  const std::string kind = tdm::pg::text_arg(fcinfo, 1, "kind");
  const char *kind_text = kind.c_str();
  tdm::pg::pg_call([=] {
    if (!register_worker("tdm_job_main", psprintf("tdm_%s", kind_text),
                         psprintf("tdm_%s job %lld", kind_text, (long long)job),
                         Int64GetDatum(job))) {
      ereport(ERROR,
              (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
               errmsg("tdm: no background worker slot is free for %s job %lld", kind_text,
                      (long long)job),
               errdetail("All max_worker_processes (%d) slots are in use.", max_worker_processes),
               errhint("Wait for running workers to finish, raise max_worker_processes (a "
                       "restart), or call it with wait => true.")));
    }
  });
  PG_RETURN_VOID();
}

// tdm._launch_spare(snapshot_id bigint, after_rollback bool) RETURNS bool:
// a worker that builds the snapshot's rollback spares once this
// transaction commits (after a rollback, it first analyzes the restored
// tables: their statistics were those of the rows swapped out); false
// when no worker slot is free (a rollback then builds them itself).
TDM_FUNCTION(tdm_launch_spare) {
  const int64 snapshot = PG_GETARG_INT64(0);  // STRICT
  const bool after_rollback = PG_GETARG_BOOL(1);
  const bool launched = tdm::pg::pg_call([=] {
    return register_worker(after_rollback ? "tdm_spare_after_rollback_main" : "tdm_spare_main",
                           "tdm_spare", psprintf("tdm_spare snapshot %lld", (long long)snapshot),
                           Int64GetDatum(snapshot));
  });
  PG_RETURN_BOOL(launched);
}

// tdm._wait_latch(ms int) RETURNS void: sleeps until the latch is set or
// the time passes; honours cancel.
TDM_FUNCTION(tdm_wait_latch) {
  const int ms = PG_ARGISNULL(0) ? 100 : PG_GETARG_INT32(0);
  tdm::pg::pg_call([=] {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  });
  PG_RETURN_VOID();
}

void tdm_job_main(Datum main_arg) {
  const int64 job = DatumGetInt64(main_arg);
  // Named after its job, so a queued job whose worker is gone can be told
  // from one whose worker is still starting. The job row is visible once
  // the launching transaction commits; if it rolled back there is no job.
  connect_as_launcher(psprintf("tdm job %lld", (long long)job));

  // (Caught as the job's own failure would be: a role's or database's
  // setting that stops it here is said in tdm.job, not as a worker gone.)
  Caught caught = run_catching(
      "UPDATE tdm.job SET status = 'running', pid = pg_backend_pid(),"
      "       started_at = clock_timestamp()"
      " WHERE job_id = $1 AND status = 'queued'",
      job, false);
  if (caught.error == nullptr && caught.processed == 0) {
    proc_exit(0);  // rolled back, or cancelled before it started
  }

  if (caught.error == nullptr) {
    pgstat_report_activity(STATE_RUNNING, "SELECT tdm._run_job($1)");
    // The role's or database's statement_timeout bounds the job as it
    // bounds the same call in the foreground (a worker runs no statement
    // loop to arm it).
    if (StatementTimeout > 0) enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
    LockTimeout = launcher_lock_timeout;
    caught = run_catching("SELECT tdm._run_job($1)", job, true);
    LockTimeout = 0;
    disable_timeout(STATEMENT_TIMEOUT, false);
  }
  // A timeout (or cancel) that came after the job's commit is for a job
  // that ended: the bookkeeping below must not raise it, nor one that
  // comes meanwhile (a second cancel_job), which would leave the job
  // `running` with its worker gone. Terminating still stops it.
  QueryCancelPending = false;
  HOLD_CANCEL_INTERRUPTS();
  ErrorData *error = caught.error;
  bool cancelled = caught.cancelled;
  pgstat_report_activity(STATE_IDLE, nullptr);

  if (error == nullptr) {
    run_in_own_transaction(
        "UPDATE tdm.job SET status = 'completed',"
        "       finished_at = coalesce(finished_at, clock_timestamp())"
        " WHERE job_id = $1 AND status = 'running'",
        job, nullptr);
  } else {
    ereport(LOG, (errmsg("tdm job %lld failed: %s", (long long)job, error->message),
                  error->detail ? errdetail("%s", error->detail) : 0,
                  error->hint ? errhint("%s", error->hint) : 0));
    // A cancel sent before the job had its progress slot is known only by
    // cancel_job's audit row: its call is waited for (it holds this lock
    // from before its signal until it commits), so the row is read
    // committed, or known never to come. For ten seconds at most: a
    // cancel_job whose transaction stays open longer (a wait_job after it
    // in that transaction would wait for this worker) leaves the job
    // `failed`, as a cancel it did not see.
    if (!cancelled && error->sqlerrcode == ERRCODE_QUERY_CANCELED) {
      constexpr int kCancelCommitPolls = 100;  // 100 x 0.1 s
      bool call_ended = false;
      for (int poll = 0; poll < kCancelCommitPolls && !call_ended; ++poll) {
        call_ended = run_in_own_transaction(
                         "SELECT WHERE pg_try_advisory_xact_lock_shared(tdm._cancel_key($1))", job,
                         nullptr) > 0;
        if (!call_ended) {
          pg_usleep(100000L);
          CHECK_FOR_INTERRUPTS();
        }
      }
      cancelled = call_ended && run_in_own_transaction(
                                    "SELECT FROM tdm.audit a WHERE a.action = 'cancel_job'"
                                    " AND a.object = $1::text",
                                    job, nullptr) > 0;
    }
    // (tdm.job.error keeps the DETAIL and HINT the foreground call shows.)
    const char *message = psprintf(
        "%s %s%s%s%s%s", unpack_sql_state(error->sqlerrcode), error->message ? error->message : "",
        error->detail ? "\nDETAIL:  " : "", error->detail ? error->detail : "",
        error->hint ? "\nHINT:  " : "", error->hint ? error->hint : "");
    run_in_own_transaction(
        cancelled ? "UPDATE tdm.job SET status = 'cancelled', sqlstate = left($2, 5),"
                    "       error = 'cancelled by tdm.cancel_job', finished_at = clock_timestamp()"
                    " WHERE job_id = $1 AND status = 'running'"
                  : "UPDATE tdm.job SET status = 'failed', sqlstate = left($2, 5),"
                    "       error = substr($2, 7), finished_at = clock_timestamp()"
                    " WHERE job_id = $1 AND status IN ('running', 'queued')",
        job, message);
  }
  proc_exit(0);
}

// Runs one step of a spare worker; a failure is logged and changes
// nothing (a rollback builds the spares that are missing).
void run_spare_step(const char *sql, int64 snapshot) {
  LockTimeout = launcher_lock_timeout;
  const Caught caught = run_catching(sql, snapshot, false);
  LockTimeout = 0;
  if (caught.error != nullptr) {
    ereport(LOG, (errmsg("tdm: %s for snapshot %lld failed: %s", sql, (long long)snapshot,
                         caught.error->message)));
  }
}

// Builds a snapshot's rollback spares, in one transaction, unless a swap
// would be refused for it (checked here, off the snapshot's time).
void tdm_spare_main(Datum main_arg) {
  const int64 snapshot = DatumGetInt64(main_arg);
  connect_as_launcher(psprintf("tdm spare %lld", (long long)snapshot));
  const char *sql = "SELECT tdm._prepare_spares($1) WHERE tdm._swap_refusal($1) IS NULL";
  pgstat_report_activity(STATE_RUNNING, sql);
  run_spare_step(sql, snapshot);
  proc_exit(0);
}

// After a rollback: analyzes the restored tables (its own transaction, so
// its lock ends with it), then builds the next spares.
void tdm_spare_after_rollback_main(Datum main_arg) {
  const int64 snapshot = DatumGetInt64(main_arg);
  connect_as_launcher(psprintf("tdm spare %lld", (long long)snapshot));
  pgstat_report_activity(STATE_RUNNING, "SELECT tdm._analyze_snapshot_tables($1)");
  run_spare_step("SELECT tdm._analyze_snapshot_tables($1)", snapshot);
  pgstat_report_activity(STATE_RUNNING, "SELECT tdm._prepare_spares($1)");
  run_spare_step("SELECT tdm._prepare_spares($1)", snapshot);
  proc_exit(0);
}
