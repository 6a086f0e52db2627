#!/usr/bin/env bash
# The accuracy study of docs/accuracy.md: MiniLM LoRA fine-tuning on the demo's SpamAssassin data,
# LoRA on query/value and on all linears, 3 seeds each; per run the baseline and six rewritten
# configurations train side by side on the same batches, and all 1,167 held-out messages are
# evaluated after the last step. One JSON file and one /usr/bin/time log per run.
# Usage: scripts/accuracy-study.sh (long: 6 runs of about 7 minutes each on an idle 2-core machine)
# `build.ps1 accuracy` builds the Release CLI and runs this.
set -u
cli=${ONNXMEMOPT:-src/Cli/bin/Release/net10.0/linux-x64/onnxmemopt}
out=${OUT_DIR:-docs/accuracy-results}
variants=regelu2,regelu2-few-bit,regelu2-calibrated,msln,all,all-calibrated
mkdir -p "$out"
failed=0
for trainable in lora-qv lora-all; do
  for seed in 1 2 3; do
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
