#!/bin/sh
# Keeps the citations of the design document true. Every "docs/DESIGN.md section N" (also
# "sections N and M", "sections N, M") in the code, tests, header and README must name a heading
# that docs/DESIGN.md has ("## N. Title" or "### N.M Title"), and every mention must say
# docs/DESIGN.md (not a bare DESIGN.md) with its section on the same line. Run by `make test`
# (target design-refs); exits 1 naming each bad citation.
set -eu

cd "$(dirname "$0")/.."
doc=docs/DESIGN.md
paths="src cli c_tests fuzz include tests examples bench README.md RELIABILITY.md"

[ -f "$doc" ] || { echo "check-design-refs: $doc is missing" >&2; exit 1; }

# The section numbers the document defines: "## 4. Opening" gives 4, "### 4.5 Torn" gives 4.5.
headings=$(sed -n 's/^##* \([0-9][0-9.]*\)[. ].*/\1/p' "$doc" | sed 's/\.$//' | sort -u)

# Every line that mentions the document, as file:line:text (build output and corpora skipped).
mentions=$(grep -rIn --exclude-dir=target --exclude-dir=corpus --exclude-dir=artifacts \
    -e 'DESIGN\.md' $paths 2>/dev/null || true)

errors=$(printf '%s\n' "$mentions" | while IFS= read -r line; do
    [ -n "$line" ] || continue
    where=$(printf '%s\n' "$line" | cut -d: -f1-2)
    text=$(printf '%s\n' "$line" | cut -d: -f3-)
    if printf '%s\n' "$text" | sed 's#docs/DESIGN\.md##g' | grep -q 'DESIGN\.md'; then
        echo "$where: cite the document as docs/DESIGN.md"
    fi
    if printf '%s\n' "$text" | grep -qE 'DESIGN\.md,?[[:space:]]*$'; then
        echo "$where: keep \"docs/DESIGN.md section N\" on one line"
    fi
    printf '%s\n' "$text" |
        grep -oE 'docs/DESIGN\.md,? sections? [0-9]+(\.[0-9]+)*((,| and|, and) [0-9]+(\.[0-9]+)*)*' |
        sed 's#^docs/DESIGN\.md,\{0,1\} sections\{0,1\} ##; s/,/ /g; s/ and / /g' |
        tr ' ' '\n' | grep . |
        while IFS= read -r n; do
            printf '%s\n' "$headings" | grep -qxF "$n" || echo "$where: section $n is not a heading of $doc"
        done
done)

if [ -n "$errors" ]; then
    printf '%s\n' "$errors" | sed 's/^/check-design-refs: /' >&2
    exit 1
fi
echo "check-design-refs: $(printf '%s\n' "$mentions" | grep -c . || true) lines cite $doc; every cited section exists"
