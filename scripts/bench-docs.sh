#!/usr/bin/env bash
# Runs the bench configurations listed in docs/benchmarks.md and writes one JSON file each.
# Usage: scripts/bench-docs.sh [quick|full] (quick: MiniLM and reduced ViT/LLaMA; full adds the acceptance shapes)
set -u
cli=${ONNXMEMOPT:-src/Cli/bin/Release/net10.0/linux-x64/onnxmemopt}
out=${OUT_DIR:-docs/bench-results}
mkdir -p "$out"
run() {
  local name=$1; shift
  echo "== $name: onnxmemopt bench $*" >&2
  /usr/bin/time -v "$cli" bench "$@" --json > "$out/$name.json" 2> "$out/$name.log" || echo "   failed: see $out/$name.log" >&2
}
run minilm-lora-all-b32-s128   --preset minilm --trainable lora-all --batch 32 --seq 128 --steps 3
run vit-4blk-lora-qv-b4        --preset vit-b16 --blocks 4 --batch 4 --trainable lora-qv --steps 3
run llama-2blk-d512-lora-all   --preset llama --blocks 2 --hidden 512 --seq 128 --batch 2 --vocab 8000 --trainable lora-all --steps 3
run minilm-lora-qv-b32-s128    --preset minilm --trainable lora-qv --batch 32 --seq 128 --steps 3
run vit-4blk-lora-fa-b4        --preset vit-b16 --blocks 4 --batch 4 --trainable lora-fa --steps 3
run vit-4blk-full-b4           --preset vit-b16 --blocks 4 --batch 4 --trainable full --steps 3
run llama-2blk-d512-lora-fa    --preset llama --blocks 2 --hidden 512 --seq 128 --batch 2 --vocab 8000 --trainable lora-fa --steps 3
run llama-2blk-d512-full       --preset llama --blocks 2 --hidden 512 --seq 128 --batch 2 --vocab 8000 --trainable full --steps 3
run vit-4blk-d192-lora-qv-100steps --preset vit-b16 --blocks 4 --hidden 192 --batch 8 --seq 65 --trainable lora-qv --steps 100 --lr 3e-3
if [ "${1:-quick}" = full ]; then
  run vit-b16-lora-qv-b16      --preset vit-b16 --batch 16 --trainable lora-qv --steps 3
  run llama-lora-all-b4        --preset llama --batch 4 --trainable lora-all --steps 3
  run llama-lora-all-b4-paper-passes --preset llama --batch 4 --trainable lora-all --steps 3 --passes fuse,regelu2,resilu2,msln,msrms
  run roberta-base-lora-all    --preset roberta-base --batch 32 --trainable lora-all --steps 3
fi
