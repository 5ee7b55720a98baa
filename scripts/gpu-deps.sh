#!/bin/sh
# gpu-deps.sh: the C libraries llamo links (jansson, Oniguruma, OpenBLAS, libpng, giflib) for a machine
# that has a compiler but not these packages and cannot download anything (the lent GPU machine,
# see bench/README.md).
#
#   sh scripts/gpu-deps.sh fetch             here: apt-get download the .deb files into .gpu-debs/
#   . scripts/gpu-deps.sh unpack [PREFIX]    there: unpack them into PREFIX (default /tmp/llamo-deps)
#                                            and export CPATH, LIBRARY_PATH, LD_LIBRARY_PATH
#
# `fetch` takes the runtime and -dev packages of this Debian release (bookworm when written) and
# libgfortran5 + libquadmath0, which libopenblas0-pthread needs (libpng needs zlib, which every
# system has; png.h does not include zlib.h); keep PKGS in step with LDLIBS in the Makefile. It checks the total stays under
# 32 MiB (the device tool carries at most 64 MiB with the working tree). `unpack` uses dpkg -x
# (ar + tar when dpkg is missing), adds the links that Debian's alternatives would make
# (libopenblas.so, cblas.h) and never touches /. Sourced, it exports into the caller's shell; run
# as a program it prints the export lines. Exit status: 0 ok, 64 usage, 66 no .deb files,
# 69 apt-get or unpacking failed.
DEBDIR=${GPU_DEBS:-.gpu-debs}
PKGS="libjansson4 libjansson-dev libonig5 libonig-dev libopenblas0-pthread libopenblas-pthread-dev
libgfortran5 libquadmath0 libpng16-16 libpng-dev libgif7 libgif-dev"
MAX_KIB=32768

gpu_deps_fetch() {
	mkdir -p "$DEBDIR" || return 69
	rm -f "$DEBDIR"/*.deb
	# apt-get download writes into the current directory; it needs no root
	(cd "$DEBDIR" && apt-get download $PKGS) >&2 || {
		echo "gpu-deps: apt-get download failed (run 'apt-get update' first?)" >&2
		return 69
	}
	kib=$(du -sk "$DEBDIR" | cut -f1)
	ls -l "$DEBDIR" >&2
	echo "gpu-deps: $(ls "$DEBDIR"/*.deb | wc -l) packages, $kib KiB in $DEBDIR" >&2
	if [ "$kib" -gt $MAX_KIB ]; then
		echo "gpu-deps: $kib KiB is over the $MAX_KIB KiB this script allows" >&2
		return 69
	fi
	# what a device call sends: tracked and untracked-not-ignored files, plus the carried .debs
	if tree=$( (git ls-files -z && git ls-files -z --others --exclude-standard) 2>/dev/null |
		xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) && [ -n "$tree" ]; then
		total=$(( tree / 1024 + kib ))
		echo "gpu-deps: with the working tree ($(( tree / 1024 )) KiB) a device call carries $total KiB of its 65536" >&2
		[ "$total" -lt 57344 ] || echo "gpu-deps: warning: that is close to the 64 MiB limit" >&2
	fi
}

gpu_deps_unpack() {
	prefix=${1:-/tmp/llamo-deps}
	set -- "$DEBDIR"/*.deb
	if [ ! -f "$1" ]; then
		echo "gpu-deps: no .deb files in $DEBDIR (run 'sh scripts/gpu-deps.sh fetch' here and carry $DEBDIR)" >&2
		return 66
	fi
	mkdir -p "$prefix" || return 69
	for deb in "$@"; do
		if command -v dpkg >/dev/null 2>&1; then
			dpkg -x "$deb" "$prefix" || { echo "gpu-deps: dpkg -x $deb failed" >&2; return 69; }
		else
			t=$(mktemp -d) || return 69
			(cd "$t" && ar x "$OLDPWD/$deb" && tar -xf data.tar.* -C "$prefix") ||
				{ echo "gpu-deps: unpacking $deb failed" >&2; rm -rf "$t"; return 69; }
			rm -rf "$t"
		fi
	done
	lib=$prefix/usr/lib/x86_64-linux-gnu
	inc=$prefix/usr/include/x86_64-linux-gnu
	# what update-alternatives would link on a Debian install of libopenblas-pthread-dev
	[ -e "$lib/libopenblas.so" ] || ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so"
	[ -e "$lib/libopenblas.so.0" ] || ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0"
	[ -e "$inc/cblas.h" ] || ln -sf openblas-pthread/cblas.h "$inc/cblas.h"
	[ -e "$inc/openblas_config.h" ] || ln -sf openblas-pthread/openblas_config.h "$inc/openblas_config.h"
	for f in "$lib/libopenblas.so" "$inc/cblas.h" "$prefix/usr/include/jansson.h" "$prefix/usr/include/oniguruma.h" \
		"$prefix/usr/include/png.h" "$prefix/usr/include/gif_lib.h"; do
		[ -e "$f" ] || { echo "gpu-deps: $f missing after unpacking" >&2; return 69; }
	done
	export CPATH="$prefix/usr/include:$inc${CPATH:+:$CPATH}"
	export LIBRARY_PATH="$lib:$lib/openblas-pthread${LIBRARY_PATH:+:$LIBRARY_PATH}"
	export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	echo "gpu-deps: unpacked $# packages into $prefix" >&2
}

case "${1:-}" in
fetch)
	gpu_deps_fetch
	;;
unpack)
	gpu_deps_unpack "${2:-}" || { rc=$?; return $rc 2>/dev/null || exit $rc; }
	# run as a program (not sourced): print what to export
	case "$0" in *gpu-deps.sh)
		echo "export CPATH='$CPATH' LIBRARY_PATH='$LIBRARY_PATH' LD_LIBRARY_PATH='$LD_LIBRARY_PATH'" ;;
	esac
	;;
*)
	echo "usage: sh scripts/gpu-deps.sh fetch | . scripts/gpu-deps.sh unpack [PREFIX]" >&2
	return 64 2>/dev/null || exit 64
	;;
esac
