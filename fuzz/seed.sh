#!/usr/bin/env bash
# Seed the fuzz corpora from testdata/ (lines for the scanner, whole files for the others).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/scan_line corpus/chunk_split corpus/scan_chunk corpus/gzip_reader
i=0
for f in ../testdata/traps/*.log ../testdata/sample/log/*.log; do
  head -c 200000 "$f" | split -l 1 -a 5 - "corpus/scan_line/$(basename "$f")." 2>/dev/null || true
  head -c 4096 "$f" > "corpus/chunk_split/$i"
  { printf "\000"; head -c 20000 "$f"; } > "corpus/scan_chunk/$i"; i=$((i + 1))
done
# Keep the line corpus small: at most 400 seeds.
ls corpus/scan_line | tail -n +401 | sed 's|^|corpus/scan_line/|' | xargs -r rm -f
for f in ../testdata/traps/*.gz ../testdata/sample/log/*.gz; do cp "$f" corpus/gzip_reader/; done
echo "seeded: $(ls corpus/scan_line | wc -l) lines, $(ls corpus/chunk_split | wc -l) chunks, $(ls corpus/scan_chunk | wc -l) scan chunks, $(ls corpus/gzip_reader | wc -l) gzip files"
