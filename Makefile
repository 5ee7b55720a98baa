# llamo: GNU make. `make` builds lib/libllamo.a and every program into bin/.
# `make test` runs the whole suite (no GPU needed); `make fuzz` runs each fuzz target briefly;
# `make bench` prints the first CPU benchmark.
CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Ilib -fopenmp
LDLIBS  += -ljansson -lonig -lopenblas -lm -fopenmp
PYTHON  ?= /usr/bin/python3

LIB_SRC  := $(wildcard lib/*.c lib/cpu/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=build/%.o)
CMD_SRC  := $(wildcard cmd/*.c)
BINS     := $(CMD_SRC:cmd/%.c=bin/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=build/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

all: $(BINS) $(TESTS)

build/%.o: %.c $(wildcard lib/*.h lib/cpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

lib/libllamo.a: $(LIB_OBJ)
	ar rcs $@ $^

bin/%: cmd/%.c lib/libllamo.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $< lib/libllamo.a $(LDLIBS) -o $@

build/tests/%: tests/%.c tests/tap.h lib/libllamo.a
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -Itests $< lib/libllamo.a $(LDLIBS) -o $@

test: all
	@tests/run.sh

# libFuzzer targets (clang). FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 20
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Ilib -fsanitize=fuzzer,address,undefined -fopenmp
fuzz:
	@mkdir -p build/fuzz
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang $(FUZZ_CFLAGS) $$f $(LIB_SRC) $(LDLIBS) -o build/fuzz/$$n; \
	  mkdir -p build/fuzz/corpus-$$n; \
	  seeds=tests/fuzz/seeds/$$n; [ -d $$seeds ] || seeds=; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 build/fuzz/corpus-$$n $$seeds 2>build/fuzz/$$n.log \
	    || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	done; echo "fuzz: all targets ran without a crash"

bench: all
	@tests/bench.sh

clean:
	rm -rf build bin lib/libllamo.a

.PHONY: all test fuzz bench clean
.SECONDARY:

# The PyTorch reference (needs torch for $(PYTHON)); CI never runs these, it uses the committed
# outputs. `make golden` rewrites tests/golden/, `make model` the bundled random default model.
golden:
	cd train && $(PYTHON) golden.py
model:
	cd train && $(PYTHON) make_model.py --preset default --dtype bf16 --stats data/bn_stats.safetensors --out ../models/default
reftest:
	cd train && $(PYTHON) test_ref.py

.PHONY: golden model reftest
