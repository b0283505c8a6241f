#!/bin/sh
# run.sh BUILD_DIR TEST_BIN... - runs every test executable, prints each one's result and a
# closing "N passed, M failed" line summing the per-test counts. Exit 0 only if nothing failed.
# A test exiting 77 is reported as skipped (data missing), not as a failure.
build=$1
shift
total_pass=0
total_fail=0
skipped=0
bad=0
log="$build/test-logs"
# Third-party leaks (fontconfig caches behind cairo's text) are suppressed in sanitizer builds.
LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
mkdir -p "$log"
for t in "$@"; do
    name=$(basename "$t")
    # NNE_TEST_RUNNER: an optional launcher, e.g. qemu-aarch64 for cross-built tests;
    # NNE_TEST_CLI: the nnedge the CLI tests run (default $build/nnedge)
    NNE_CLI="${NNE_TEST_CLI:-$build/nnedge}" ${NNE_TEST_RUNNER:-} "$t" >"$log/$name.out" \
        2>"$log/$name.err"
    rc=$?
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log/$name.out" | tail -1)
    p=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\2/p')
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -eq 77 ]; then
        skipped=$((skipped + 1))
        echo "  skip  $name ($(tail -1 "$log/$name.err"))"
        continue
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or exited non-zero without reporting a failure
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ]; then
        bad=1
        echo "  FAIL  $name: $p passed, $f failed (exit $rc)"
        sed 's/^/        /' "$log/$name.err" | tail -30
    else
        echo "  ok    $name: $p passed"
    fi
done
if [ "$skipped" -gt 0 ]; then
    echo "$total_pass passed, $total_fail failed, $skipped skipped"
else
    echo "$total_pass passed, $total_fail failed"
fi
[ "$bad" -eq 0 ] && [ "$total_fail" -eq 0 ]
