// Google Benchmark of the PostgreSQL-free detection core: the coarse hash
// grouping of a whole table, and exact grouping plus classification of the
// candidate rows, on synthetic rows shaped like the scenario's users.
#include <benchmark/benchmark.h>

#include <random>

#include "core/detect/classify.hpp"
#include "core/detect/grouping.hpp"

namespace {

using tdm::detect::Context;
using tdm::detect::SourceRow;
using tdm::detect::TableModel;
using tdm::detect::Value;

TableModel users() {
  TableModel t;
  t.name = "staging.users";
  t.columns = {"user_id", "email", "full_name", "role", "updated_at", "tdm_release", "tdm_feature"};
  t.pk = {0};
  t.natural_keys = {{1}};
  t.core = {3};
  t.updated_at = 4;
  t.release_column = 5;
  t.feature_column = 6;
  return t;
}

Context context() {
  Context c;
  c.environments = {{"st1", 10}, {"st2", 20}, {"st3", 30}};
  for (int f = 101; f <= 108; ++f) c.feature_priority["FEAT-" + std::to_string(f)] = f % 3;
  return c;
}

// `per_env` rows in each of 3 environments; 15% of the people are shared.
std::vector<SourceRow> rows(std::size_t per_env) {
  std::mt19937_64 random(42);
  std::vector<SourceRow> out;
  for (std::size_t env = 0; env < 3; ++env) {
    for (std::size_t g = 0; g < per_env; ++g) {
      bool shared = g % 100 < 15;
      std::size_t id = shared ? g : g + (env + 1) * per_env * 10;
      SourceRow r;
      r.env = env;
      std::string email = shared ? "user" + std::to_string(g) + "@x"
                                 : "st" + std::to_string(env) + "." + std::to_string(g) + "@x";
      r.values = {Value(std::to_string(id)),
                  Value(email),
                  Value(random() % 10 < 3 ? "Name " + std::to_string(env) : "Name"),
                  Value(random() % 10 < 1 ? "Merchant" : "Customer"),
                  Value("2024-01-1" + std::to_string(env)),
                  Value("R2"),
                  Value("FEAT-" + std::to_string(101 + random() % 8))};
      r.ts = static_cast<std::int64_t>(env);
      out.push_back(std::move(r));
    }
  }
  return out;
}

void BM_HashGrouper(benchmark::State &state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::mt19937_64 random(7);
  std::vector<std::uint64_t> pk(n), nk(n);
  for (std::size_t i = 0; i < n; ++i) {
    pk[i] = (random() % (n * 2)) * 0x9E3779B97F4A7C15ULL | 1;
    nk[i] = (random() % (n * 2)) * 0xC2B2AE3D27D4EB4FULL | 1;
  }
  for (auto _ : state) {
    tdm::detect::HashGrouper grouper(n);
    auto a = pk;
    auto b = nk;
    grouper.add_key_kind(b);
    benchmark::DoNotOptimize(grouper.candidates(a));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_HashGrouper)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

// One key kind (a surrogate key only): the sorted hashes alone.
void BM_SingleKeyKindGrouping(benchmark::State &state) {
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  std::mt19937_64 random(7);
  std::vector<std::uint64_t> pk(n);
  for (auto &h : pk) h = (random() % (n * 2)) * 0x9E3779B97F4A7C15ULL | 1;
  for (auto _ : state) benchmark::DoNotOptimize(tdm::detect::group_single_key_kind(pk));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_SingleKeyKindGrouping)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_DetectConflicts(benchmark::State &state) {
  const auto input = rows(static_cast<std::size_t>(state.range(0)));
  const TableModel table = users();
  const Context ctx = context();
  for (auto _ : state) {
    benchmark::DoNotOptimize(tdm::detect::detect_conflicts(table, ctx, input));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_DetectConflicts)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// One group of every row: in environment e, person g has id g and the
// email of person g + e (ids shifted by one between environments), so
// ids and emails link each row to the next. Time per row should stay
// flat as the group grows (items_per_second of the two sizes).
void BM_DetectOneChainGroup(benchmark::State &state) {
  const std::size_t per_env = static_cast<std::size_t>(state.range(0));
  std::vector<SourceRow> input;
  for (std::size_t env = 0; env < 3; ++env) {
    for (std::size_t g = 0; g < per_env; ++g) {
      SourceRow r;
      r.env = env;
      r.values = {Value(std::to_string(g)),
                  Value("user" + std::to_string(g + env) + "@x"),
                  Value("Name"),
                  Value("Customer"),
                  Value("2024-01-10"),
                  Value("R2"),
                  Value("FEAT-101")};
      r.ts = 0;
      input.push_back(std::move(r));
    }
  }
  TableModel table = users();
  table.surrogate_key = true;
  const Context ctx = context();
  for (auto _ : state) {
    benchmark::DoNotOptimize(tdm::detect::detect_conflicts(table, ctx, input));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_DetectOneChainGroup)->Arg(10000)->Arg(40000)->Unit(benchmark::kMillisecond);

}  // namespace
