# tdm: PGXS build of tdm.so and the extension script, plus the two commands.
#   make demo   install what is missing, build, run the release story
#   make test   install what is missing, build, run every suite
EXTENSION   = tdm
EXTVERSION  = 0.1.0

CORE_SOURCES = $(sort $(wildcard src/core/*/*.cpp))
PG_SOURCES   = $(sort $(wildcard src/pg/*/*.cpp))
SQL_SOURCES  = $(sort $(wildcard src/sql/*.sql))

MODULE_big  = tdm
OBJS        = $(CORE_SOURCES:.cpp=.o) $(PG_SOURCES:.cpp=.o)
DATA_built  = tdm--$(EXTVERSION).sql
EXTRA_CLEAN = build $(OBJS:.o=.d)

# pg_regress runs in the scenario's consolidation database (scripts/db-suites.sh
# builds it), so the suites reach real environments through postgres_fdw.
# keys and returning stand alone, each in a consolidation database of its own
# with environments of its own, and run beside the others there:
#   make installcheck REGRESS=keys TDM_REGRESS_DB=tdm_keys
#   make installcheck REGRESS=returning TDM_REGRESS_DB=tdm_returning
REGRESS      = bridge setup tag_release detect consolidate jobs master schemas types releases conforming drift notices relocked
REGRESS_OPTS = --use-existing

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -Isrc -isystem $(shell $(PG_CONFIG) --includedir-server) \
              -isystem $(shell $(PG_CONFIG) --includedir)/internal
TDM_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-register -fvisibility-inlines-hidden
# -MMD: header dependencies (src/**/*.d), so a changed header rebuilds its users.
PG_CXXFLAGS = $(TDM_CXXFLAGS) -MMD -MP
SHLIB_LINK  = -lstdc++

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# No server headers yet: only the targets that install them work.
all install installcheck:
	@echo "PostgreSQL 15 development files are missing: run 'make deps' (or 'make test')." >&2
	@exit 1
else
include $(PGXS)
# Set after PGXS, which defines its own default.
CONTRIB_TESTDB = $(or $(TDM_REGRESS_DB),tdm_regress)
# The clang bitcode step must see the same language level.
COMPILE.cxx.bc += $(TDM_CXXFLAGS) $(PG_CPPFLAGS)
-include $(OBJS:.o=.d)
endif

$(DATA_built): $(SQL_SOURCES)
	cat $^ > $@

.PHONY: deps unit test demo bench format print-regress
print-regress:
	@echo $(REGRESS)

deps:
	scripts/deps.sh

unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j2
	cd build && ctest --output-on-failure

test:
	scripts/deps.sh
	scripts/test.sh

demo:
	scripts/deps.sh
	scripts/demo.sh

bench:
	scripts/deps.sh
	scripts/bench.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')
