#!/usr/bin/env python3
# Prints the markdown tables of docs/benchmarks.md from the JSON and time logs that
# scripts/bench-docs.sh writes to docs/bench-results (run from the repository root).
import json,re
M=1024*1024
def command(n):
    """The bench arguments of run n, as /usr/bin/time recorded them (scripts/bench-docs.sh is the one list)."""
    log=open(f'docs/bench-results/{n}.log').read()
    line=re.search(r'Command being timed: "(.*)"',log).group(1)
    return line.split(' bench ',1)[1].removesuffix(' --json')
def load(n):
    d=json.load(open(f'docs/bench-results/{n}.json'))
    log=open(f'docs/bench-results/{n}.log').read()
    rss=int(re.search(r'Maximum resident set size \(kbytes\): (\d+)',log).group(1))/1024/1024
    wall=re.search(r'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)',log).group(1)
    return d,rss,wall
def signed(x):
    t=f"{x:+.1f}"
    return "0.0" if t in ("+0.0","-0.0") else t.replace('-','−')
def mib(b): return f"{b/M:,.1f} MiB"
def pct(e,m): return f"{(e-m)/m*100:+.1f} %".replace('+-','−').replace('-','−')
def wallfmt(w):
    p=w.split(':'); 
    if len(p)==2: m,s=int(p[0]),float(p[1]); return f"{m} min {round(s)} s" if m else f"{round(s)} s"
    return w
def rew(d): return ", ".join(f"{k} ×{v}" for k,v in sorted(d['rewrites'].items(), key=lambda kv: ['regelu2','resilu2','msln','msrms','recompute'].index(kv[0]) if kv[0] in ['regelu2','resilu2','msln','msrms','recompute'] else 9))
def acc(n,title,target_peak):
    cmd=command(n)
    d,rss,wall=load(n); b=d['baseline']; r=d['rewritten']
    pr=r['measured_peak_bytes']/b['measured_peak_bytes']; tr=r['median_step_ms']/b['median_step_ms']
    er=r['estimated_peak_bytes']/b['estimated_peak_bytes']; sr=r['saved_activation_bytes']/b['saved_activation_bytes']
    lb,lr_=b['final_loss'],r['final_loss']
    lb_live,lr_live=b['estimated_peak_at']['live_requested_bytes'],r['estimated_peak_at']['live_requested_bytes']
    met=lambda ok: 'met' if ok else 'missed'
    eb=(b['estimated_peak_bytes']-b['measured_peak_bytes'])/b['measured_peak_bytes']; erw=(r['estimated_peak_bytes']-r['measured_peak_bytes'])/r['measured_peak_bytes']
    out=[f"### {title}: `{n}`",f"`onnxmemopt bench {cmd} --json` ({wallfmt(wall)}, max RSS {rss:.1f} GiB).",f"Rewrites: {rew(d)}.","",
    "| | baseline | rewritten | rewritten/baseline | target |","|---|---:|---:|---:|---|",
    f"| measured peak | {mib(b['measured_peak_bytes'])} | {mib(r['measured_peak_bytes'])} | **{pr:.3f}** | ≤ {target_peak:.2f}: {met(pr<=target_peak)} |",
    f"| estimated peak | {mib(b['estimated_peak_bytes'])} | {mib(r['estimated_peak_bytes'])} | {er:.3f} | |",
    f"| estimate vs measured | {signed(eb*100)} % | {signed(erw*100)} % | | within 10 %: {met(abs(eb)<=0.1 and abs(erw)<=0.1)} |",
    f"| tensors live at the peak (arena slack left out) | {mib(lb_live)} | {mib(lr_live)} | {lr_live/lb_live:.3f} | |",
    f"| saved activations | {mib(b['saved_activation_bytes'])} | {mib(r['saved_activation_bytes'])} | {sr:.3f} | |",
    f"| median step | {b['median_step_ms']:,.0f} ms | {r['median_step_ms']:,.0f} ms | {tr:.3f} | ≤ 1.05: {met(tr<=1.05)} |",
    f"| loss after {d['steps']} steps | {lb:.4f} | {lr_:.4f} | {abs(lr_-lb)/lb*100:.2f} % apart | |",""]
    return "\n".join(out)
print(acc('vit-b16-lora-qv-b16','ViT-B/16-shaped, 12 blocks, D 768, 197 tokens, batch 16, LoRA (r 8) on q and v',0.75))
print(acc('llama-lora-all-b4','LLaMA-shaped, 8 blocks, D 1024, SwiGLU 2816, vocab 32000, seq 256, batch 4, LoRA on all block linears',0.80))
print(acc('minilm-lora-all-b32-s128','all-MiniLM-L6-v2, seq 128, batch 32, 2-class head, LoRA on all linears',0.80))
print("## Further configurations\n")
print("| run (bench-results/) | command (`onnxmemopt bench ... --json`) | rewrites | measured peak, MiB (B → R) | peak ratio | live at peak ratio | est. vs measured (B / R) | saved act. ratio | time ratio | loss after N (B / R) |")
print("|---|---|---|---|---:|---:|---|---:|---:|---|")
for n in ['minilm-lora-qv-b32-s128', 'roberta-base-lora-all', 'vit-4blk-lora-qv-b4', 'llama-lora-all-b4-paper-passes', 'llama-2blk-d512-lora-all', 'vit-4blk-lora-fa-b4', 'vit-4blk-full-b4', 'llama-2blk-d512-lora-fa', 'llama-2blk-d512-full']:
    cmd=command(n)
    d,rss,wall=load(n); b=d['baseline']; r=d['rewritten']
    eb=(b['estimated_peak_bytes']-b['measured_peak_bytes'])/b['measured_peak_bytes']*100; erw=(r['estimated_peak_bytes']-r['measured_peak_bytes'])/r['measured_peak_bytes']*100
    live=r['estimated_peak_at']['live_requested_bytes']/b['estimated_peak_at']['live_requested_bytes']
    print(f"| `{n}` | `{cmd}` | {rew(d)} | {b['measured_peak_bytes']/M:,.1f} → {r['measured_peak_bytes']/M:,.1f} | {r['measured_peak_bytes']/b['measured_peak_bytes']:.3f} | {live:.3f} | {signed(eb)} % / {signed(erw)} % | {r['saved_activation_bytes']/b['saved_activation_bytes']:.3f} | {r['median_step_ms']/b['median_step_ms']:.3f} | {b['final_loss']:.4f} / {r['final_loss']:.4f} |")
d,rss,wall=load('vit-4blk-d192-lora-qv-100steps'); b=d['baseline']; r=d['rewritten']
print(); print("d192:", b['measured_peak_bytes']/M, r['measured_peak_bytes']/M, b['estimated_peak_bytes']/M, r['estimated_peak_bytes']/M, r['saved_activation_bytes']/b['saved_activation_bytes'], b['median_step_ms'], r['median_step_ms'], b['losses'][0], r['losses'][0], b['losses'][90], r['losses'][90], b['final_loss'], r['final_loss'], wall)
