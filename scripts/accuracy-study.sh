#!/usr/bin/env bash
# The accuracy study of docs/accuracy.md: MiniLM LoRA fine-tuning on the demo's SpamAssassin data
# (the demo's sizes and schedule), LoRA on query/value and on all linears, 3 seeds each; per run the
# baseline and five rewritten configurations train side by side on the same batches (the paper's
# table, Few-Bit's and calibrated tables with ReGELU2 alone, MS-LN alone, all passes), and all 1,167
# held-out messages are evaluated after the last step. One JSON file and one /usr/bin/time log per run.
# Usage: scripts/accuracy-study.sh [lora-qv|lora-all ...] (default both; the sets can run as two
# processes side by side; SEEDS="1 2" picks seeds). Long: a run takes about 6 minutes on an idle
# 2-core machine.
# `build.ps1 accuracy` builds the Release CLI, runs this and prints the tables.
set -u
cli=${ONNXMEMOPT:-src/Cli/bin/Release/net10.0/linux-x64/onnxmemopt}
out=${OUT_DIR:-docs/accuracy-results}
variants=regelu2,regelu2-few-bit,regelu2-calibrated,msln,all
sets=("$@")
[ ${#sets[@]} -eq 0 ] && sets=(lora-qv lora-all)
mkdir -p "$out"
failed=0
for trainable in "${sets[@]}"; do
  for seed in ${SEEDS:-1 2 3}; do
    name="minilm-spam-$trainable-seed$seed"
    args=(bench --preset minilm --task spam --trainable "$trainable" --seed "$seed" --variants "$variants" --eval-examples 1167 --eval-every 0 --json)
    echo "== $name: onnxmemopt ${args[*]} ($(uptime))" >&2
    if ! /usr/bin/time -v "$cli" "${args[@]}" > "$out/$name.json" 2> "$out/$name.log"; then
      echo "   failed: see $out/$name.log" >&2
      failed=1
    fi
  done
done
exit $failed
