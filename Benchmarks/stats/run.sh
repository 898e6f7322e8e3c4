#!/usr/bin/env bash
# make bench-stats: `linesight stats` over a database of 10 million verdicts (30 days,
# 4 cameras, 2 model versions), against the same figures computed straight from the
# verdict rows by SQLite (the reference). Prints wall times and ratios.
#   VERDICTS=10000000 Benchmarks/stats/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${VERDICTS:-10000000}
dir=${BENCH_DIR:-.build/bench-stats}
bin=.build/release/linesight
swift build -c release --product linesight >&2
mkdir -p "$dir"
cat > "$dir/linesight.toml" <<TOML
[store]
database = "inspection.sqlite"
frames = "frames"
[models]
stage1 = "models/stage1.safetensors"
[stats]
timezone = "UTC"
[[cameras]]
id = "cam0"
TOML
db=$dir/inspection.sqlite
end=$(( $(date +%s) / 3600 * 3600 ))
start=$(( end - 30 * 86400 ))
if [[ ! -f $db || $(sqlite3 "$db" 'SELECT count(*) FROM verdicts') -ne $n ]]; then
    rm -f "$db" "$db"-wal "$db"-shm
    $bin models list --config "$dir/linesight.toml" > /dev/null   # creates the schema
    echo "== writing $n verdicts over 30 days (4 cameras, 2 models, 3 % fails in 5 kinds)" >&2
    sqlite3 "$db" <<SQL
PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
INSERT INTO cameras VALUES ('cam0', 'bench', 0), ('cam1', 'bench', 0), ('cam2', 'bench', 0), ('cam3', 'bench', 0);
BEGIN;
WITH RECURSIVE i(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM i WHERE k + 1 < $n)
INSERT INTO verdicts(camera_id, captured_at, frame_sequence, stage1_score, decision, defects, stage1_model, total_ms, flags)
SELECT 'cam' || (k % 4), $start + k * (30.0 * 86400 / $n), k / 4, 0.5,
       CASE WHEN k % 100 < 3 THEN 'fail' WHEN k % 1000 = 999 THEN 'no_verdict' ELSE 'pass' END,
       CASE WHEN k % 100 < 3 THEN (CASE (k / 100) % 5 WHEN 0 THEN 'scratch' WHEN 1 THEN 'dent' WHEN 2 THEN 'stain,scratch' WHEN 3 THEN 'crack' ELSE 'burr' END) ELSE '' END,
       CASE WHEN k < $n / 2 THEN 's1-v1' ELSE 's1-v2' END, 3.0,
       CASE WHEN k % 100 < 3 THEN 'uncertain' ELSE '' END
FROM i;
INSERT INTO rollups(camera_id, hour, model, frames, passes, fails, no_verdicts, flagged, total_ms_sum)
    SELECT camera_id, CAST(captured_at / 3600 AS INTEGER), stage1_model, count(*), sum(decision = 'pass'),
    sum(decision = 'fail'), sum(decision = 'no_verdict'), sum(flags != ''), sum(total_ms) FROM verdicts GROUP BY 1, 2, 3;
INSERT INTO rollup_defects(camera_id, hour, model, defect, count) SELECT v.camera_id, CAST(v.captured_at / 3600 AS INTEGER), v.stage1_model, d.value, count(*)
    FROM verdicts v, json_each('["' || replace(v.defects, ',', '","') || '"]') d WHERE v.defects != '' GROUP BY 1, 2, 3, 4;
COMMIT;
SQL
fi
echo "== $(sqlite3 "$db" 'SELECT count(*) FROM verdicts') verdicts, $(sqlite3 "$db" 'SELECT count(*) FROM rollups') rollup rows" >&2
time_of() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); awk "BEGIN { print $t1 - $t0 }"; }
printf '%-34s %10s %12s %8s\n' query "linesight" "SQL on rows" ratio
for by in day shift model; do
    ours=$(time_of $bin stats --config "$dir/linesight.toml" --since 30d --by $by --format csv)
    case $by in
        day) sql="SELECT date(captured_at, 'unixepoch'), count(*), sum(decision='pass'), sum(decision='fail') FROM verdicts WHERE captured_at >= $start GROUP BY 1" ;;
        shift) sql="SELECT date(captured_at - 6*3600, 'unixepoch'), (CAST(strftime('%H', captured_at, 'unixepoch') AS INTEGER) + 18) % 24 / 8, count(*), sum(decision='pass'), sum(decision='fail') FROM verdicts WHERE captured_at >= $start GROUP BY 1, 2" ;;
        model) sql="SELECT stage1_model, count(*), sum(decision='pass'), sum(decision='fail') FROM verdicts WHERE captured_at >= $start GROUP BY 1" ;;
    esac
    ref=$(time_of sqlite3 "$db" "$sql")
    printf '%-34s %9.3fs %11.3fs %7.1fx\n' "stats --by $by (30 days)" "$ours" "$ref" "$(awk "BEGIN { print $ref / $ours }")"
done
ours=$(time_of $bin stats --config "$dir/linesight.toml" --since 30d --by day --plot pchart --out "$dir/pchart.svg")
printf '%-34s %9.3fs\n' "stats --plot pchart (30 days)" "$ours"
ours=$(time_of $bin stats agreement --config "$dir/linesight.toml" --since 30d)
printf '%-34s %9.3fs\n' "stats agreement (30 days)" "$ours"
