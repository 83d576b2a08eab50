#!/usr/bin/env bash
# Writes the recorded outputs of GS1's reference event hash generator
# (RalphTro/epcis-event-hash-generator, run as the validators' epcis-hash) for
# every fixture here: X.ext.prehash (`epcis-hash --prehash X.ext`: one line per
# event, hash ID, tab, pre-hash string) for all of them, and X.ext.hashes (IDs
# only) for own/ (gs1/ and reference/ keep the .hashes they came with; the tests
# check that both files agree). A document the reference gives up on gets
# neither. One document per run: the reference keeps the @context namespaces
# of one JSON-LD document for the next.
#
#   SERIALINE_VALIDATORS_BIN=$(../shared/validators/setup) shared/epcis/testdata/hashref/regen.sh
set -euo pipefail
bin=${SERIALINE_VALIDATORS_BIN:?set SERIALINE_VALIDATORS_BIN to the validators bin folder (../shared/validators/setup prints it)}
cd "$(dirname "$0")"
for f in own/*.xml own/*.jsonld gs1/*.xml gs1/*.jsonld reference/*.xml reference/*.jsonld; do
  if out=$("$bin/epcis-hash" --prehash "$f" 2>/dev/null); then
    printf '%s\n' "$out" > "$f.prehash"
    case $f in own/*) cut -f1 "$f.prehash" > "$f.hashes" ;; esac
  else
    echo "regen: the reference gives up on $f: no recorded output" >&2
    rm -f "$f.prehash"
  fi
done
