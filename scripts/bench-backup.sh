#!/usr/bin/env bash
# Backup and restore of a ~1 GiB volume (10,000 small files and four large
# random files) into and from the test MinIO, beside restic (Debian's
# package) into and from the same MinIO and `tar czf` / `tar xzf` into a
# volume, in one run, with wall time and peak RSS of each; then Firebreak
# alone on a volume of 200,000 small files (for its peak memory); then
# BenchmarkVolumeMinIO (recover/bench_test.go) on the first volume's data,
# for backup, verify and restore timed apart. Needs scripts/testenv.sh up
# (MinIO and dockerd) and restic installed. Run it with no mass deletion on
# the disk in the five minutes before: ext4 then makes each new inode slow
# to allocate (recently_deleted), for every tool's restore alike.
# Usage: scripts/bench-backup.sh
#        GOMEMLIMIT=110MiB scripts/bench-backup.sh   (with a soft memory limit)
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/testenv.sh env)"
export PATH=$PATH:/usr/local/go/bin
command -v restic >/dev/null || apt-get install -y restic >/dev/null
go build -o bin/firebreak ./cmd/firebreak
go test -c -o bin/recover.test ./recover
work=$(mktemp -d /var/tmp/fb-bench-backup.XXXXXX)
tag=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
vol=fbbench-$tag
cleanup() {
  # recover keeps each original, contained, as NAME.suspect-CASE: evidence
  # in a response, leftovers here.
  docker rm -f "$vol" "$vol-tar" "$vol-many" "$vol.suspect-BENCH-1" "$vol-many.suspect-BENCH-2" >/dev/null 2>&1 || true
  docker ps -aq --filter "label=io.firebreak.snapshot" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q | grep "^$vol" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

docker volume create "$vol" >/dev/null
data=$(docker volume inspect -f '{{.Mountpoint}}' "$vol")
python3 - "$data" <<'PY'
import os, sys, random
root = sys.argv[1]
random.seed(7)
for i in range(10000):
    d = os.path.join(root, "small", "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f:
        f.write(("line %d of a small file\n" % i) * random.randint(1, 400))
for i in range(4):
    with open(os.path.join(root, "large%d.bin" % i), "wb") as f:
        for _ in range(245):
            f.write(os.urandom(1 << 20))
PY
size=$(du -sb "$data" | cut -f1)
image=$FIREBREAK_TEST_IMAGE
docker run -d --name "$vol" -v "$vol:/data" --health-cmd 'test -f /data/large0.bin' --health-interval 1s "$image" sleep 3600 >/dev/null

export AWS_ACCESS_KEY_ID=$FIREBREAK_TEST_MINIO_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$FIREBREAK_TEST_MINIO_SECRET_KEY RESTIC_PASSWORD=bench
bucket=fbbench-$tag
restic -q -r "s3:http://$FIREBREAK_TEST_MINIO_ENDPOINT/$bucket/restic" init >/dev/null
store="s3://$bucket/firebreak?endpoint=$FIREBREAK_TEST_MINIO_ENDPOINT&insecure=true"
keys=$work/keys state=$work/state

measure() { # label command...: wall seconds and peak RSS (MiB)
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/t" "$@" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
  read -r wall rss <"$work/t"
  printf '%-40s %8.2f s %8.1f MiB\n' "$label" "$wall" "$((rss / 1024)).$(((rss % 1024) * 10 / 1024))"
}

printf 'volume: %d bytes, %d files\n\n' "$size" "$(find "$data" -type f | wc -l)"
printf '%-40s %10s %12s\n' "" "wall" "peak RSS"
measure "firebreak backup -> MinIO" bin/firebreak backup "$vol" --store "$store" --key-dir "$keys" --state-dir "$state"
snap=$(grep -o 'snapshot [0-9]*T[0-9]*Z-[0-9a-f]*' "$work/out" | head -1 | cut -d' ' -f2)
measure "firebreak backup again (unchanged)" bin/firebreak backup "$vol" --store "$store" --key-dir "$keys" --state-dir "$state"
grep -o 'manifest [0-9]* bytes' "$work/out" | sed 's/^/  second backup: /'
measure "restic backup -> MinIO" restic -q -r "s3:http://$FIREBREAK_TEST_MINIO_ENDPOINT/$bucket/restic" backup "$data"
measure "tar czf" tar czf "$work/vol.tgz" -C "$data" .
bin/firebreak contain "$vol" --case BENCH-1 --state-dir "$state" >/dev/null # a suspect recover takes is held by Firebreak
measure "firebreak backup verify (every chunk)" bin/firebreak backup verify "$snap" --store "$store" --key-dir "$keys"
measure "firebreak recover (verify, restore, start, healthy)" bin/firebreak recover "$vol" --case BENCH-1 --yes --store "$store" --key-dir "$keys" --state-dir "$state" --health-timeout 60s
mkdir -p "$work/restic-restore"
measure "restic restore <- MinIO" restic -q -r "s3:http://$FIREBREAK_TEST_MINIO_ENDPOINT/$bucket/restic" restore latest --target "$work/restic-restore"
docker volume create "$vol-tar" >/dev/null
measure "docker run tar xzf into a volume" docker run --rm -v "$vol-tar:/d" -v "$work:/w:ro" "$image" tar xzf /w/vol.tgz -C /d

# The same for a volume of 200,000 small files (Firebreak only): peak RSS
# is what this part is for.
docker volume create "$vol-many" >/dev/null
many=$(docker volume inspect -f '{{.Mountpoint}}' "$vol-many")
python3 - "$many" <<'PY'
import os, sys, random
root = sys.argv[1]
random.seed(11)
for i in range(200000):
    d = os.path.join(root, "d%03d" % (i % 1000))
    if i < 1000:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "w") as f:
        f.write(("%d " % i) * random.randint(1, 300))
PY
docker run -d --name "$vol-many" -v "$vol-many:/data" "$image" sleep 3600 >/dev/null
printf '\nvolume: %d bytes, %d files\n' "$(du -sb "$many" | cut -f1)" "$(find "$many" -type f | wc -l)"
measure "firebreak backup, 200,000 files" bin/firebreak backup "$vol-many" --store "$store" --key-dir "$keys" --state-dir "$state"
snap=$(grep -o 'snapshot [0-9]*T[0-9]*Z-[0-9a-f]*' "$work/out" | head -1 | cut -d' ' -f2)
measure "firebreak backup again (unchanged)" bin/firebreak backup "$vol-many" --store "$store" --key-dir "$keys" --state-dir "$state"
measure "firebreak backup verify" bin/firebreak backup verify "$snap" --store "$store" --key-dir "$keys"
bin/firebreak contain "$vol-many" --case BENCH-2 --state-dir "$state" >/dev/null
measure "firebreak recover" bin/firebreak recover "$vol-many" --case BENCH-2 --yes --store "$store" --key-dir "$keys" --state-dir "$state" --health-timeout 60s

# Backup, verify and restore timed apart, with the peak RSS of each, on the
# first volume's data (a fresh bucket; the restore into an empty directory).
printf '\nBenchmarkVolumeMinIO on the first volume (seconds and peak MiB per part):\n'
FIREBREAK_BENCH_DIR=$data bin/recover.test -test.run '^$' -test.bench VolumeMinIO -test.benchtime 1x | grep '^Benchmark' | tr '\t' '\n' | sed -n 's/^ *\([0-9.]*\) *\([a-z-]*-\(s\|MiB\)\)$/  \2: \1/p'
