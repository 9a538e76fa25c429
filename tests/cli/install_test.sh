#!/bin/sh
# Installs the build into a temporary DESTDIR, compiles examples/recommend.cpp
# against that copy with nothing but the flags of its pkg-config file, checks
# every installed header compiles alone (no CUDA, no source-tree header), and
# runs the example on a fixture model: its output must equal `limelight
# recommend`'s. Arguments: the build directory and the source directory.
set -eu
build=$1
src=$2
: "${LIMELIGHT_SHARED:?LIMELIGHT_SHARED is not set}"
: "${LIMELIGHT_CLI:?LIMELIGHT_CLI is not set}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; exit 1; }
pc=$(find "$root" -name limelight.pc | head -n 1)
[ -n "$pc" ] || { echo "no limelight.pc installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
pcflags() { PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$root$prefix" "$@" limelight; }
cflags=$(pcflags --cflags)
libs=$(pcflags --libs)
echo "pkg-config: $cflags $libs"
case "$cflags $libs" in
  *"$src"*|*"$build"*) echo "pkg-config flags point into the source or build tree"; exit 1 ;;
esac
if grep -rlE '#[[:space:]]*include[[:space:]]*[<"](cuda|cublas|cudnn|curand|thrust|limelight_config)' \
    "$root$prefix/include/limelight"; then
  echo "installed headers include CUDA or build-tree headers"; exit 1
fi

for h in "$root$prefix"/include/limelight/*.hpp; do
  printf '#include <limelight/%s>\n' "$(basename "$h")" |
    g++ -std=c++20 -fsyntax-only -x c++ - $cflags || { echo "$h does not compile alone"; exit 1; }
done

g++ -std=c++20 -O1 "$src/examples/recommend.cpp" -o "$tmp/recommend" $cflags $libs
libdir=$(dirname "$(find "$root" -name 'liblimelight.so*' | head -n 1)")
model=$LIMELIGHT_SHARED/fixtures/spotlight/case_mixture.safetensors
printf '1,2,3\n7 7 9 12\n0,0,5\n' >"$tmp/in"
LD_LIBRARY_PATH=$libdir "$tmp/recommend" "$model" 5 <"$tmp/in" >"$tmp/example.out"
"$LIMELIGHT_CLI" recommend --model "$model" --k 5 <"$tmp/in" >"$tmp/cli.out"
cat "$tmp/example.out"
[ "$(wc -l <"$tmp/example.out")" -eq 3 ] || { echo "expected 3 lines"; exit 1; }
cmp "$tmp/example.out" "$tmp/cli.out" || { echo "example and limelight recommend differ:"; cat "$tmp/cli.out"; exit 1; }
echo "install test passed"
