#!/usr/bin/env bash
# make install / make uninstall into a temporary DESTDIR (issue 13): the installed programs run
# the main job (text to BVH) from another directory and find the installed default model without
# -m; a ten-line C program builds against the installed library with `pkg-config --cflags --libs
# llamo` and runs; libllamo.so has a soname and exports exactly the LM_API functions of the
# installed headers; make uninstall leaves no file behind.
set -u
cd "$(dirname "$0")/.."
root=$PWD
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/tap.sh
okd() { ok "$@"; [ "$1" = 0 ]; } # ok, and a status for || diagnostics
command -v pkg-config > /dev/null || { echo "1..0 # SKIP pkg-config is not installed"; exit 0; }
dest=$tmp/dest
P=/usr/local
# a make of our own (not the jobserver of a `make test` around us); everything is built already
# and the CUDA setting the tree was built with (make test-asan builds with CUDA=0)
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory CUDA=$(cat build/cuda.flag) "$@"; }

mk install DESTDIR=$dest > $tmp/install.log 2>&1
okd $? "make install DESTDIR=\$tmp/dest" || sed 's/^/# /' $tmp/install.log | tail -20
for f in bin/llamo-t2m bin/vae-dec bin/mrender share/man/man1/llamo-t2m.1 share/man/man5/llamo-frame.5 \
	share/man/man7/llamo.7 share/llamo/models/default/model.safetensors share/llamo/models/default/config.json \
	include/llamo/llamo.h include/llamo/api.h include/llamo/model.h lib/libllamo.a lib/libllamo.so.0.1.0 \
	lib/pkgconfig/llamo.pc; do
	[ -f $dest$P/$f ] || { echo "# missing: $P/$f"; false; }
done
ok $? "programs, man pages (1, 5, 7), the default model, headers, libllamo.a, libllamo.so.0.1.0, llamo.pc under $P"
if [ -f models/smollm2-135m-instruct/model.safetensors ]; then
	cmp -s models/smollm2-135m-instruct/model.safetensors $dest$P/share/llamo/models/smollm2-135m-instruct/model.safetensors
	ok $? "the built SmolLM2 model is installed too"
fi
is "$(readlink $dest$P/lib/libllamo.so) $(readlink $dest$P/lib/libllamo.so.0)" "libllamo.so.0 libllamo.so.0.1.0" \
	"libllamo.so -> libllamo.so.0 -> libllamo.so.0.1.0"
is "$(objdump -p $dest$P/lib/libllamo.so.0.1.0 | awk '$1 == "SONAME" {print $2}')" libllamo.so.0 "the soname"

# exports: the LM_API functions of the installed headers, nothing else
grep -ho '^LM_API [^(]*(' $dest$P/include/llamo/*.h | sed 's/($//; s/.*[ *]//' | sort > $tmp/api
nm -D --defined-only $dest$P/lib/libllamo.so.0.1.0 | awk '{print $3}' | sort > $tmp/exports
cmp -s $tmp/api $tmp/exports
okd $? "libllamo.so exports the $(wc -l < $tmp/api) LM_API functions and nothing else ($(wc -l < $tmp/exports) symbols)" ||
	diff $tmp/api $tmp/exports | sed 's/^/# /' | head
[ "$(wc -l < $tmp/api)" -ge 20 ]; ok $? "the stable API is named: $(wc -l < $tmp/api) functions"

# the main job with the installed programs, from another directory, without -m or $LLAMO_MODEL
mkdir $tmp/elsewhere
(cd $tmp/elsewhere && echo "a person walks forward" | env -u LLAMO_MODEL PATH=$dest$P/bin:/usr/bin:/bin \
	sh -c 'llamo-t2m --seed 1 | vae-dec > walk.bvh')
ok $? "installed llamo-t2m | vae-dec from another directory"
echo "a person walks forward" | bin/llamo-t2m --seed 1 | bin/vae-dec > $tmp/tree.bvh
cmp -s $tmp/elsewhere/walk.bvh $tmp/tree.bvh
ok $? "the same BVH as the build tree's programs ($(awk '/^Frames:/ {print $2}' $tmp/tree.bvh) frames)"
strings bin/llamo-t2m | grep -qx "$P/share/llamo/models/default"
ok $? "the programs carry the compile-time model directory $P/share/llamo/models/default"

# a ten-line C program against the installed library (pkg-config with the staged tree as sysroot)
export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest$P/lib/pkgconfig PKG_CONFIG_LIBDIR=$dest$P/lib/pkgconfig
is "$(pkg-config --modversion llamo)" 0.1.0 "pkg-config --modversion llamo"
is "$(PKG_CONFIG_SYSROOT_DIR= pkg-config --variable=modeldir llamo)" "$P/share/llamo/models" "pkg-config --variable=modeldir llamo"
cat > $tmp/walk.c <<'C'
#include <llamo.h> /* with stdio.h */
int main(int argc, char **argv) {
	const lm_backend *be; lm_model *m; lm_t2m *g; lm_gen_opts o; lm_status st = {0}; float z[256], z0 = 0; int n = 0, done = 0;
	if (argc < 3 || lm_backend_get(&be, "cpu", &st) || lm_model_load(&m, argv[1], be, LM_PART_ALL, &st)) return fprintf(stderr, "%s\n", st.msg), 1;
	lm_gen_opts_default(&o, &m->cfg); o.seed = 1;
	if (m->cfg.latent_dim > 256 || lm_t2m_begin(&g, m, argv[2], &o, &st)) return fprintf(stderr, "%s\n", st.msg), 1;
	while (!lm_t2m_next(g, z, &done, NULL, &st) && !done) if (n++ == 0) z0 = z[0];
	printf("%d latents, the first begins %.4f (llamo %s)\n", n, z0, LLAMO_VERSION);
	lm_t2m_free(g); lm_model_free(m); return st.code;
}
C
is "$(wc -l < $tmp/walk.c)" 10 "the program is ten lines"
cc -std=c11 $tmp/walk.c $(pkg-config --cflags --libs llamo) -o $tmp/walk 2> $tmp/cc.err
okd $? "cc walk.c \$(pkg-config --cflags --libs llamo)" || sed 's/^/# /' $tmp/cc.err | head
readelf -d $tmp/walk | grep -q 'NEEDED.*libllamo.so.0'; ok $? "it links the shared library (NEEDED libllamo.so.0)"
got=$(cd $tmp/elsewhere && LD_LIBRARY_PATH=$dest$P/lib $tmp/walk $dest$P/share/llamo/models/default "a person walks forward")
ok $? "it runs: $got"
want=$(echo "a person walks forward" | bin/llamo-t2m --seed 1 | bin/framedump |
	awk '/"type":"latent"/ {if (!n++) {sub(/.*"data":\[\[/, ""); sub(/,.*/, ""); z = $0}} END {printf "%d latents, the first begins %.4f", n, z}')
is "${got% (llamo*}" "$want" "the same latents as llamo-t2m --seed 1"

mk uninstall DESTDIR=$dest > $tmp/uninstall.log 2>&1
okd $? "make uninstall DESTDIR=\$tmp/dest" || sed 's/^/# /' $tmp/uninstall.log | tail
left=$(find $dest ! -type d | sed "s|^$dest||")
[ -z "$left" ]; ok $? "no file left behind (left: ${left:-none})"
left=$(find $dest -depth -type d -name '*llamo*' | sed "s|^$dest||")
[ -z "$left" ]; ok $? "no llamo directory left behind (left: ${left:-none})"
done_testing
