#!/usr/bin/env bash
# The CPU build links no CUDA library, even where the toolkit is present and
# the GPU backend is built: only liblimelight_cuda.so may, and it is loaded
# on demand. Checks ldd of the `limelight` binary and liblimelight.so, and
# that limelight.pc names no toolkit path.
#   cpu_links_no_cuda.sh LIMELIGHT_BINARY LIBLIMELIGHT_SO LIMELIGHT_PC
set -uo pipefail
status=0
for object in "$1" "$2"; do
  if ! deps=$(ldd "$object"); then
    echo "FAIL: ldd $object failed"
    status=1
  elif cuda=$(grep -iE 'libcuda|libcudart|libcublas|libcudnn|libnvrtc|libcufft|libcurand' <<<"$deps"); then
    echo "FAIL: $object links CUDA libraries:"
    echo "$cuda"
    status=1
  else
    echo "ok: $object links no CUDA library"
  fi
done
if grep -iqE 'cuda|cudnn|cublas' "$3"; then
  echo "FAIL: $3 names the toolkit:"
  grep -inE 'cuda|cudnn|cublas' "$3"
  status=1
else
  echo "ok: $3 names no toolkit path"
fi
exit $status
