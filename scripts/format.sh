#!/usr/bin/env bash
# clang-format over every C file we own: --check fails on any difference,
# --fix rewrites in place.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:---check}
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^kernel-patches/')
[ ${#files[@]} -gt 0 ] || exit 0
if [ "$mode" = --fix ]; then
	clang-format -i "${files[@]}"
else
	clang-format --dry-run --Werror "${files[@]}"
fi
