#!/usr/bin/env python3
"""Writes a batch of held-out SpamAssassin messages (the demo's data) as MiniLM inputs, in the JSON
format of `onnxmemopt train --data`, `rewrite --calibration-data` and `verify --data`:

    python3 scripts/spam_batch.py VOCAB -o batch.json [--split eval] [--batch 8] [--seq 64] [--offset 0]

VOCAB is all-MiniLM-L6-v2's vocab.txt (`onnxmemopt bench --preset minilm` extracts it beside the
model into $TMPDIR/onnxmemopt-models/). The messages are spread evenly over the split (so every
group is represented) and encoded as the demo encodes them: BERT uncased basic tokenisation
(lower case, accents stripped, split at whitespace and punctuation), greedy longest-match
WordPiece, [CLS] pieces [SEP], cut or padded with [PAD] to the sequence length.
"""

import argparse
import json
import unicodedata
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "Cli" / "Data" / "spam-assassin.tsv"


def basic_tokens(text):
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    tokens, word = [], ""
    for c in text:
        if c.isspace():
            if word:
                tokens.append(word)
            word = ""
        elif unicodedata.category(c).startswith("P") or (33 <= ord(c) <= 47) or (58 <= ord(c) <= 64) or (91 <= ord(c) <= 96) or (123 <= ord(c) <= 126):
            if word:
                tokens.append(word)
            tokens.append(c)
            word = ""
        else:
            word += c
    if word:
        tokens.append(word)
    return tokens


def word_pieces(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        start = end
    return pieces


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vocab", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--split", default="eval", choices=["train", "eval"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--offset", type=int, default=0, help="shift the even spread by this many messages (another batch)")
    args = parser.parse_args()

    vocab = {line.rstrip("\n"): i for i, line in enumerate(args.vocab.read_text(encoding="utf-8").splitlines())}
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, _, split, text = line.split("\t", 3)
            if split == args.split:
                rows.append((int(label), text))
    chosen = [rows[(i * len(rows) // args.batch + args.offset) % len(rows)] for i in range(args.batch)]
    ids, mask = [], []
    for _, text in chosen:
        pieces = [p for w in basic_tokens(text) for p in word_pieces(w, vocab)][: args.seq - 2]
        tokens = [vocab["[CLS]"]] + [vocab[p] for p in pieces] + [vocab["[SEP]"]]
        ids += tokens + [vocab["[PAD]"]] * (args.seq - len(tokens))
        mask += [1] * len(tokens) + [0] * (args.seq - len(tokens))
    shape = [args.batch, args.seq]
    batch = {
        "inputs": {
            "input_ids": {"shape": shape, "values": ids},
            "attention_mask": {"shape": shape, "values": mask},
            "token_type_ids": {"shape": shape, "values": [0] * len(ids)},
            "labels": {"shape": [args.batch], "values": [label for label, _ in chosen]},
        }
    }
    args.output.write_text(json.dumps(batch) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
