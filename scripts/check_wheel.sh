#!/usr/bin/env bash
# The package as a user gets it (run by `make test`): build the sdist and, from it, the wheel out of the files git
# tracks (what a clone holds), install the wheel (not editable) into a fresh venv outside the checkout, then from an
# empty temp dir: --version, a tiny run with two loggers, musiclust-compare on it, and logger=mlflow without its extra.
#   scripts/check_wheel.sh [BUILD_PYTHON]    (default .venv/bin/python: has setuptools; no build isolation, no network)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_PYTHON="${1:-$REPO/.venv/bin/python}"
BUILD_PYTHON="$(cd "$(dirname "$BUILD_PYTHON")" && pwd)/$(basename "$BUILD_PYTHON")"   # absolute, venv kept
PYTHON="${PYTHON:-python3}"            # the interpreter of the fresh venv
WORK="$(mktemp -d "${TMPDIR:-/tmp}/musiclust-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
START=$(date +%s)
step() { echo "check_wheel [$(( $(date +%s) - START )) s]: $*"; }
fail() { echo "check_wheel: FAILED: $*" >&2; exit 1; }

step "a clone's files → sdist → wheel"
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/job"
(cd "$REPO" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$WORK/src"
(cd "$WORK/src" && "$BUILD_PYTHON" -c "from setuptools import build_meta; build_meta.build_sdist('$WORK/dist')" \
    > "$WORK/build.log" 2>&1) || { cat "$WORK/build.log"; fail "sdist"; }
"$BUILD_PYTHON" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WORK/dist" "$WORK"/dist/musiclust-*.tar.gz \
    > "$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "wheel from the sdist"; }
WHEEL="$(ls "$WORK"/dist/musiclust-*.whl)"
VERSION="$(basename "$WHEEL" | cut -d- -f2)"
CONFIGS="$("$BUILD_PYTHON" -c "import sys, zipfile; names = zipfile.ZipFile(sys.argv[1]).namelist(); \
print(sum(n.startswith('musiclust/conf/') and n.endswith('.yaml') for n in names))" "$WHEEL")"
step "$(basename "$WHEEL"): $(du -k "$WHEEL" | cut -f1) KiB, $CONFIGS config files"

step "fresh venv: torch==2.13.0 first (a looser spec pulls a CUDA build), then the wheel"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet torch==2.13.0 > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "torch"; }
"$WORK/venv/bin/pip" install --quiet "$WHEEL" > "$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "install"; }
[ -z "$("$WORK/venv/bin/pip" show musiclust | grep -i '^Editable project location')" ] || fail "installed editable"

cd "$WORK/job"   # no checkout here: configs and templates must come from the installed package
export OMP_NUM_THREADS=1 PYTHONWARNINGS=ignore
for command in musiclust musiclust-compare musiclust-data; do
    [ "$("$WORK/venv/bin/$command" --version)" = "$command $VERSION" ] || fail "$command --version"
done
step "musiclust model=pca k=4 (tiny demo, csv + tensorboard loggers) in $(pwd)"
"$WORK/venv/bin/musiclust" model=pca k=4 dataset.n_songs=24 dataset.duration=2 'logger=[csv,tensorboard]' \
    trainer.enable_progress_bar=false > run.out 2>&1 || { tail -30 run.out; fail "musiclust model=pca k=4"; }
RUN_DIR="$(ls -d outputs/runs/*_pca-mfcc-kmeans)" || fail "no run dir named *_pca-mfcc-kmeans"
for file in finished.json clustering_metrics.csv latents.npz logs/metrics.csv; do
    [ -f "$RUN_DIR/$file" ] || fail "$RUN_DIR/$file missing"
done
ls "$RUN_DIR"/tensorboard/events.out.tfevents.* > /dev/null || fail "no tensorboard event file"
step "musiclust-compare outputs/runs"
"$WORK/venv/bin/musiclust-compare" outputs/runs --out results/compare --html results/report.html > compare.out 2>&1 \
    || { cat compare.out; fail "musiclust-compare"; }
grep -q pca compare.out && [ -f results/report.html ] && [ -f results/compare.csv ] || fail "no comparison written"
step "logger=mlflow without musiclust[mlflow]: one message before any work"
if "$WORK/venv/bin/musiclust" logger=mlflow > mlflow.out 2>&1; then fail "logger=mlflow ran without mlflow"; fi
grep -q 'musiclust\[mlflow\]' mlflow.out || { cat mlflow.out; fail "logger=mlflow: no message naming the extra"; }
[ "$(find outputs -type f | grep -vc "^$RUN_DIR/")" = 0 ] || fail "logger=mlflow wrote files before refusing"
step "passed: $(basename "$WHEEL") installs and runs outside the checkout"
