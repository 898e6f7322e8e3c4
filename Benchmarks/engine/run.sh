#!/usr/bin/env bash
# make bench-engine: Linesight vs PyTorch 1.13 (Debian) vs ONNX Runtime (PyPI), same
# networks, batch sizes and threads, side by side. Prints a table of ratios and writes
# the figures as JSON (its path is the last line).
#   THREADS=2 FASHION_EPOCHS=1 QUICK=1 ROUNDS=3 INT8=1 [BENCH_CORETYPE=Haswell] Benchmarks/engine/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-2}
epochs=${FASHION_EPOCHS:-1}
quick=${QUICK:+--quick}
venv=.build/bench-venv
if [[ ! -x $venv/bin/python ]]; then
    /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
# numpy < 2: Debian's torch 1.13 is built against NumPy 1.x
"$venv/bin/python" -c "import onnxruntime, onnx, safetensors, numpy; assert numpy.__version__ < \"2\"" 2>/dev/null \
    || "$venv/bin/pip" install -q "numpy<2" onnxruntime onnx safetensors
swift build -c release --product linesight-bench >&2
out=bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
# The Linesight half runs the kernels OpenBLAS picks for this CPU, as an installed service
# does: an OPENBLAS_CORETYPE in the caller's environment is set aside (BENCH_CORETYPE=X forces X).
if [[ -n ${BENCH_CORETYPE:-} ]]; then core_env=(env OPENBLAS_CORETYPE="$BENCH_CORETYPE"); else core_env=(env -u OPENBLAS_CORETYPE); fi
"${core_env[@]}" .build/release/linesight-bench --threads "$threads" --fashion-epochs "$epochs" $quick \
    --model-out "$PWD/$out/small_resnet.safetensors" > "$out/linesight.json"
OMP_NUM_THREADS=$threads "$venv/bin/python" Benchmarks/engine/torch_bench.py --swift "$out/linesight.json" \
    --threads "$threads" --fashion-epochs "$epochs" $quick > "$out/reference.json"
# The rematch: the two halves above run minutes apart, and this host's speed drifts by up
# to 30 % over minutes, so inference and training run again in alternating rounds
# (Linesight, then ONNX Runtime; Linesight, then PyTorch; ROUNDS times) and the report
# gives each round's ratio and the median.
rounds=${ROUNDS:-3}
for r in $(seq 1 "$rounds"); do
    echo "rematch, round $r of $rounds ..." >&2
    "${core_env[@]}" .build/release/linesight-bench --threads "$threads" --infer-only $quick > "$out/rematch-linesight-$r.json"
    OMP_NUM_THREADS=$threads "$venv/bin/python" Benchmarks/engine/torch_bench.py --swift "$out/linesight.json" \
        --threads "$threads" --ort-only $quick > "$out/rematch-ort-$r.json"
    "${core_env[@]}" .build/release/linesight-bench --threads "$threads" --train-only --quick > "$out/rematch-lstrain-$r.json"
    OMP_NUM_THREADS=$threads "$venv/bin/python" Benchmarks/engine/torch_bench.py --swift "$out/linesight.json" \
        --threads "$threads" --train-only --quick > "$out/rematch-torch-$r.json"
done
python3 Benchmarks/engine/report.py "$out/linesight.json" "$out/reference.json" "$out/engine.json" "$out"/rematch-*.json
# int8: Linesight's int8 against its fp32 and against ONNX Runtime's int8 (QDQ, static
# quantization on the same calibration frames), alternating rounds (INT8=0 skips them).
if [[ ${INT8:-1} != 0 ]]; then
    py=$(scripts/onnx-venv.sh)
    seconds=3; [[ -n ${QUICK:-} ]] && seconds=1
    int8_files=()
    for r in $(seq 1 "$rounds"); do
        echo "int8, round $r of $rounds ..." >&2
        "${core_env[@]}" .build/release/linesight-bench --threads "$threads" --int8 "$out/int8" --rounds 1 $quick > "$out/int8-linesight-$r.json"
        "$py" Benchmarks/engine/ort_int8.py "$out/int8" --threads "$threads" --seconds "$seconds" > "$out/int8-ort-$r.json" 2>"$out/int8-ort-$r.log"
        int8_files+=("$out/int8-linesight-$r.json" "$out/int8-ort-$r.json")
    done
    python3 Benchmarks/engine/int8_report.py "$out/int8.json" "${int8_files[@]}"
fi
