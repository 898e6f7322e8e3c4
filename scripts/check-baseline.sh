#!/usr/bin/env bash
# One binary for every x86-64 line PC: the debug build (made by `make test`) runs under
# qemu-user as a CPU without AVX (Nehalem: x86-64-v2, SSE4.2). It must start, choose the
# baseline kernels, and pass the kernels' tests on them. A control first shows that this
# qemu does refuse AVX2 on that CPU model, so a pass means something.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(uname -m) == x86_64 ]] || { echo "check-baseline: not x86-64, nothing to check"; exit 0; }
qemu=$(command -v qemu-x86_64 || true)
[[ -n $qemu ]] || { echo "check-baseline: qemu-x86_64 missing (apt install qemu-user)" >&2; exit 1; }
cpu=${BASELINE_CPU:-Nehalem}
work=$(mktemp -d)
ulimit -c 0   # the controls' SIGILL must not leave qemu core files behind
trap 'rm -rf "$work"' EXIT

# the control: an AVX2 and an FMA instruction must each die with SIGILL on this CPU model
for insn in "vpaddd %%ymm0, %%ymm0, %%ymm0" "vfmadd231ps %%xmm0, %%xmm0, %%xmm0"; do
    printf 'int main(void) { __asm__ volatile("%s" ::: "xmm0"); return 0; }\n' "$insn" > "$work/control.c"
    clang -O1 "$work/control.c" -o "$work/control"
    set +e
    ( "$qemu" -cpu "$cpu" "$work/control" ) 2>/dev/null
    control=$?
    set -e
    if [[ $control -ne 132 ]]; then
        echo "check-baseline: FAIL: '${insn//%%/%}' exited $control on qemu -cpu $cpu (expected SIGILL, 132): the check would prove nothing" >&2
        exit 1
    fi
done

bin=.build/debug/linesight
tests=.build/debug/LinesightPackageTests.xctest
[[ -x $bin && -x $tests ]] || { echo "check-baseline: build first (swift build --build-tests)" >&2; exit 1; }
version=$("$qemu" -cpu "$cpu" "$bin" --version)
echo "$version" | sed 's/^/  /'
grep -q "^fp32 kernels: baseline" <<<"$version" || { echo "check-baseline: FAIL: fp32 kernels are not the baseline on $cpu" >&2; exit 1; }
grep -q "^int8 kernels: plain C" <<<"$version" || { echo "check-baseline: FAIL: int8 kernels are not plain C on $cpu" >&2; exit 1; }

# the kernels' own tests (each variant against its naive twin), the dispatch, and whole networks
suites="FloatISATests|WinogradTests|DirectConvTests|BlockedTrainingTests|BlockedConvTests|BlockedWinogradTests|Int8KernelTests|InferenceTests/equivalence"
LINESIGHT_TEST_CPU=baseline timeout 1200 "$qemu" -cpu "$cpu" "$tests" --testing-library swift-testing --filter "$suites" > "$work/tests.log" 2>&1 || {
    tail -40 "$work/tests.log" >&2
    echo "check-baseline: FAIL: the kernel tests under qemu -cpu $cpu" >&2
    exit 1
}
grep -E "Test run with" "$work/tests.log" | sed 's/\x1b\[[0-9;]*m//g'
echo "check-baseline: ok (an AVX2 program dies with SIGILL on $cpu; linesight runs there on the baseline kernels and passes the kernel tests)"
