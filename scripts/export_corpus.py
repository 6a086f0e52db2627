#!/usr/bin/python3
"""Exports the exporter corpus (fixtures/exported/) with PyTorch's own exporter.

Small transformer models written the way Hugging Face writes them (BERT, RoBERTa, ViT with CLS
and mean pooling, GPT-2, LLaMA, CLIP's text tower), exported by torch.onnx.export with dynamic
batch and sequence axes, at opsets 14 and 17, in eval and training mode, as fp32 and as the
mixed-precision form (see fixtures/exported/README.md for what "fp16" means here and why).

Run with Debian's interpreter, which has torch and onnx:
    /usr/bin/python3 scripts/export_corpus.py                   # fixtures/exported/*.onnx
    /usr/bin/python3 scripts/export_corpus.py --minilm-size OUT # a BERT at all-MiniLM-L6-v2's size

Deterministic: every model is built from a fixed seed and the exporter is itself deterministic,
so a second run writes the same bytes (the script checks that with --check).
"""
import argparse
import hashlib
import io
import math
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

OPSETS = (14, 17)
MODES = ("eval", "train")
PRECISIONS = ("fp32", "fp16")


# --------------------------------------------------------------------------------------------
# Mixed precision as an AMP export carries it. torch 1.13 has no CPU kernels for half matmul,
# LayerNorm, erf or softmax, so a true fp16 model cannot be traced on CPU. What an autocast export
# carries around each norm is kept instead: the activation arrives in fp16 (Cast to fp16), the
# norm computes in fp32 (Cast to fp32), its output goes back to fp16 for the next fp16 matmul
# (Cast to fp16); the last Cast to fp32 stands for that matmul, which here runs in fp32.
# --------------------------------------------------------------------------------------------
class Precision:
    half = False


def into_norm(x):
    return x.half().float() if Precision.half else x


def out_of_norm(y):
    return y.half().float() if Precision.half else y


class LayerNorm(nn.LayerNorm):
    def forward(self, x):
        return out_of_norm(super().forward(into_norm(x)))


class LlamaRMSNorm(nn.Module):
    """HF's LlamaRMSNorm, casts included. In the fp16 form the input really is fp16, so both of
    its `.to()` calls become Casts; in fp32 they are no-ops the tracer does not record."""

    def __init__(self, hidden, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        if Precision.half:
            hidden_states = hidden_states.half()
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


# --------------------------------------------------------------------------------------------
# Activations as the model families write them.
# --------------------------------------------------------------------------------------------
def gelu_new(x):
    """GPT-2's tanh GELU (HF `NewGELUActivation`), with Pow."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def quick_gelu(x):
    """CLIP's QuickGELU."""
    return x * torch.sigmoid(1.702 * x)


ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_new": gelu_new,
    "quick_gelu": quick_gelu,
}


# --------------------------------------------------------------------------------------------
# BERT / RoBERTa (HF modeling_bert / modeling_roberta, post-LN).
# --------------------------------------------------------------------------------------------
class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.head_dim = c["heads"], c["hidden"] // c["heads"]
        self.query = nn.Linear(c["hidden"], c["hidden"])
        self.key = nn.Linear(c["hidden"], c["hidden"])
        self.value = nn.Linear(c["hidden"], c["hidden"])
        self.dropout = nn.Dropout(c["dropout"])

    def split(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, hidden, mask):
        q, k, v = self.split(self.query(hidden)), self.split(self.key(hidden)), self.split(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
        probs = self.dropout(nn.functional.softmax(scores, dim=-1))
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size()[:-2] + (self.heads * self.head_dim,))


class BertOutput(nn.Module):
    """Dense, dropout, then LayerNorm of the residual sum (post-LN)."""

    def __init__(self, c, inner):
        super().__init__()
        self.dense = nn.Linear(inner, c["hidden"])
        self.LayerNorm = LayerNorm(c["hidden"], eps=1e-12)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, hidden, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = BertSelfAttention(c)
        self.attention.output = BertOutput(c, c["hidden"])
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(c["hidden"], c["mlp"])
        self.output = BertOutput(c, c["mlp"])

    def forward(self, hidden, mask):
        attention = self.attention.output(self.attention.self(hidden, mask), hidden)
        inner = F.gelu(self.intermediate.dense(attention))
        return self.output(inner, attention)


class BertModel(nn.Module):
    """BERT (learned positions sliced to the sequence) or RoBERTa (positions from the padding
    index, HF's create_position_ids_from_input_ids), with CLS pooling and a classifier."""

    def __init__(self, c, roberta=False):
        super().__init__()
        self.roberta = roberta
        self.padding_idx = 1
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(c["vocab"], c["hidden"])
        self.embeddings.position_embeddings = nn.Embedding(c["positions"], c["hidden"])
        self.embeddings.token_type_embeddings = nn.Embedding(2, c["hidden"])
        self.embeddings.LayerNorm = LayerNorm(c["hidden"], eps=1e-12)
        self.embeddings.dropout = nn.Dropout(c["dropout"])
        self.register_buffer("position_ids", torch.arange(c["positions"]).expand((1, -1)))
        self.register_buffer("token_type_ids", torch.zeros((1, c["positions"]), dtype=torch.long))
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([BertLayer(c) for _ in range(c["blocks"])])
        if roberta:
            # RobertaClassificationHead: dense, tanh, out_proj on <s>.
            self.classifier = nn.Module()
            self.classifier.dense = nn.Linear(c["hidden"], c["hidden"])
            self.classifier.dropout = nn.Dropout(c["dropout"])
            self.classifier.out_proj = nn.Linear(c["hidden"], c["classes"])
        else:
            self.pooler = nn.Module()
            self.pooler.dense = nn.Linear(c["hidden"], c["hidden"])
            self.dropout = nn.Dropout(c["dropout"])
            self.classifier = nn.Linear(c["hidden"], c["classes"])

    def forward(self, input_ids, attention_mask):
        seq = input_ids.size(1)
        if self.roberta:
            pad = input_ids.ne(self.padding_idx).int()
            position_ids = (torch.cumsum(pad, dim=1).type_as(pad) * pad).long() + self.padding_idx
        else:
            position_ids = self.position_ids[:, :seq]
        token_type_ids = self.token_type_ids[:, :seq].expand(input_ids.size(0), seq)
        e = self.embeddings
        hidden = e.word_embeddings(input_ids) + e.token_type_embeddings(token_type_ids) + e.position_embeddings(position_ids)
        hidden = e.dropout(e.LayerNorm(hidden))
        extended = attention_mask[:, None, None, :].to(hidden.dtype)
        extended = (1.0 - extended) * torch.finfo(hidden.dtype).min
        for layer in self.encoder.layer:
            hidden = layer(hidden, extended)
        first = hidden[:, 0]
        if self.roberta:
            h = self.classifier.dropout(first)
            h = torch.tanh(self.classifier.dense(h))
            return self.classifier.out_proj(self.classifier.dropout(h))
        pooled = torch.tanh(self.pooler.dense(first))
        return self.classifier(self.dropout(pooled))


# --------------------------------------------------------------------------------------------
# ViT (HF modeling_vit, pre-LN), CLS pooling (erf GELU) or mean pooling (tanh GELU).
# --------------------------------------------------------------------------------------------
class PreLnAttention(nn.Module):
    """q, k, v, out projections as ViT, CLIP and LLaMA share them; CLIP scales q before the product."""

    def __init__(self, c, bias=True, out_name="out_proj", scale_query=False):
        super().__init__()
        d = c["hidden"]
        self.heads, self.head_dim, self.scale_query = c["heads"], d // c["heads"], scale_query
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(d, d, bias=bias), nn.Linear(d, d, bias=bias), nn.Linear(d, d, bias=bias)
        self.out_name = out_name
        setattr(self, out_name, nn.Linear(d, d, bias=bias))
        self.dropout = nn.Dropout(c["dropout"])

    def shape(self, x, b, s):
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, mask=None, rotary=None):
        b, s, _ = x.size()
        q = self.q_proj(x)
        if self.scale_query:
            q = q * self.head_dim ** -0.5
        q, k, v = self.shape(q, b, s), self.shape(self.k_proj(x), b, s), self.shape(self.v_proj(x), b, s)
        if rotary is not None:
            q, k = rotary(q, k, s)
        scores = torch.matmul(q, k.transpose(2, 3))
        if not self.scale_query:
            scores = scores / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores + mask
        probs = self.dropout(F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype))
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, self.heads * self.head_dim)
        return getattr(self, self.out_name)(out)


class Mlp(nn.Module):
    def __init__(self, c, activation):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(c["hidden"], c["mlp"]), nn.Linear(c["mlp"], c["hidden"])
        self.act = ACTIVATIONS[activation]
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x):
        return self.dropout(self.fc2(self.dropout(self.act(self.fc1(x)))))


class PreLnBlock(nn.Module):
    def __init__(self, c, activation, scale_query=False):
        super().__init__()
        self.layer_norm1 = LayerNorm(c["hidden"], eps=1e-5)
        self.self_attn = PreLnAttention(c, scale_query=scale_query)
        self.layer_norm2 = LayerNorm(c["hidden"], eps=1e-5)
        self.mlp = Mlp(c, activation)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, x, mask=None):
        x = x + self.dropout(self.self_attn(self.layer_norm1(x), mask))
        return x + self.mlp(self.layer_norm2(x))


class VitModel(nn.Module):
    def __init__(self, c, pooling, activation):
        super().__init__()
        self.pooling = pooling
        d, p = c["hidden"], c["patch"]
        tokens = (c["image"] // p) ** 2
        self.patch_embeddings = nn.Conv2d(3, d, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, tokens + 1, d))
        self.dropout = nn.Dropout(c["dropout"])
        self.layers = nn.ModuleList([PreLnBlock(c, activation) for _ in range(c["blocks"])])
        self.layernorm = LayerNorm(d, eps=1e-6)
        self.classifier = nn.Linear(d, c["classes"])

    def forward(self, pixel_values):
        x = self.patch_embeddings(pixel_values).flatten(2).transpose(1, 2)
        cls = self.cls_token.expand(x.size(0), -1, -1)
        x = self.dropout(torch.cat((cls, x), dim=1) + self.position_embeddings)
        for layer in self.layers:
            x = layer(x)
        x = self.layernorm(x)
        pooled = x[:, 0] if self.pooling == "cls" else x.mean(1)
        return self.classifier(pooled)


# --------------------------------------------------------------------------------------------
# GPT-2 (HF modeling_gpt2): Conv1D (addmm), fused c_attn, tanh GELU with Pow, causal mask from
# the `bias` buffer, tied lm head.
# --------------------------------------------------------------------------------------------
class Conv1D(nn.Module):
    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class Gpt2Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        self.heads, self.head_dim, self.split_size = c["heads"], d // c["heads"], d
        n = c["positions"]
        self.register_buffer("bias", torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n))
        self.register_buffer("masked_bias", torch.tensor(-1e4))
        self.c_attn, self.c_proj = Conv1D(3 * d, d), Conv1D(d, d)
        self.attn_dropout, self.resid_dropout = nn.Dropout(c["dropout"]), nn.Dropout(c["dropout"])

    def split_heads(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(self.split_size, dim=2)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2))
        w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype, device=w.device)
        ql, kl = q.size(-2), k.size(-2)
        causal = self.bias[:, :, kl - ql: kl, :kl]
        mask_value = torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype, device=w.device)
        w = torch.where(causal, w.to(w.dtype), mask_value)
        w = self.attn_dropout(nn.functional.softmax(w, dim=-1))
        out = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous()
        out = out.view(out.size()[:-2] + (self.heads * self.head_dim,))
        return self.resid_dropout(self.c_proj(out))


class Gpt2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        self.ln_1, self.ln_2 = LayerNorm(d, eps=1e-5), LayerNorm(d, eps=1e-5)
        self.attn = Gpt2Attention(c)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = Conv1D(c["mlp"], d), Conv1D(d, c["mlp"])
        self.mlp.dropout = nn.Dropout(c["dropout"])

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp.dropout(self.mlp.c_proj(gelu_new(self.mlp.c_fc(self.ln_2(x)))))


class Gpt2Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c["vocab"], c["hidden"]), nn.Embedding(c["positions"], c["hidden"])
        self.drop = nn.Dropout(c["dropout"])
        self.h = nn.ModuleList([Gpt2Block(c) for _ in range(c["blocks"])])
        self.ln_f = LayerNorm(c["hidden"], eps=1e-5)
        self.lm_head = nn.Linear(c["hidden"], c["vocab"], bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, input_ids):
        seq = input_ids.size(-1)
        position_ids = torch.arange(0, seq, dtype=torch.long, device=input_ids.device).unsqueeze(0)
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


# --------------------------------------------------------------------------------------------
# LLaMA (HF modeling_llama, 4.3x): RMSNorm with its casts, rotary, causal mask, SwiGLU with F.silu.
# --------------------------------------------------------------------------------------------
class LlamaRotaryEmbedding(nn.Module):
    def __init__(self, dim, positions, base=10000):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        t = torch.arange(positions, dtype=inv_freq.dtype)
        emb = torch.cat((torch.outer(t, inv_freq),) * 2, dim=-1)
        self.register_buffer("cos_cached", emb.cos()[None, None, :, :], persistent=False)
        self.register_buffer("sin_cached", emb.sin()[None, None, :, :], persistent=False)

    @staticmethod
    def rotate_half(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat((-x2, x1), dim=-1)

    def __call__(self, q, k, seq):
        cos, sin = self.cos_cached[:, :, :seq, ...].to(q.dtype), self.sin_cached[:, :, :seq, ...].to(q.dtype)
        return q * cos + self.rotate_half(q) * sin, k * cos + self.rotate_half(k) * sin


class LlamaMlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, m = c["hidden"], c["mlp"]
        self.gate_proj, self.up_proj, self.down_proj = nn.Linear(d, m, bias=False), nn.Linear(d, m, bias=False), nn.Linear(m, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = PreLnAttention(c, bias=False, out_name="o_proj")
        self.mlp = LlamaMlp(c)
        self.input_layernorm = LlamaRMSNorm(c["hidden"])
        self.post_attention_layernorm = LlamaRMSNorm(c["hidden"])

    def forward(self, x, mask, rotary):
        h = x + self.self_attn(self.input_layernorm(x), mask, rotary)
        return h + self.mlp(self.post_attention_layernorm(h))


def causal_mask(input_ids, dtype):
    """HF's _make_causal_mask, expanded to [batch, 1, seq, seq]."""
    b, s = input_ids.size()
    mask = torch.full((s, s), torch.finfo(dtype).min)
    cond = torch.arange(mask.size(-1))
    mask.masked_fill_(cond < (cond + 1).view(mask.size(-1), 1), 0)
    return mask.to(dtype)[None, None, :, :].expand(b, 1, s, s)


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab"], c["hidden"])
        self.layers = nn.ModuleList([LlamaDecoderLayer(c) for _ in range(c["blocks"])])
        self.norm = LlamaRMSNorm(c["hidden"])
        self.lm_head = nn.Linear(c["hidden"], c["vocab"], bias=False)
        self.rotary = LlamaRotaryEmbedding(c["hidden"] // c["heads"], c["positions"])

    def forward(self, input_ids):
        x = self.embed_tokens(input_ids)
        mask = causal_mask(input_ids, x.dtype)
        for layer in self.layers:
            x = layer(x, mask, self.rotary)
        return self.lm_head(self.norm(x).float())


# --------------------------------------------------------------------------------------------
# CLIP text tower (HF modeling_clip): pre-LN, QuickGELU, causal mask, q scaled before the
# product, pooled at the end-of-text token (argmax of the ids), projected.
# --------------------------------------------------------------------------------------------
class ClipTextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden"]
        self.token_embedding, self.position_embedding = nn.Embedding(c["vocab"], d), nn.Embedding(c["positions"], d)
        self.register_buffer("position_ids", torch.arange(c["positions"]).expand((1, -1)))
        self.layers = nn.ModuleList([PreLnBlock(c, "quick_gelu", scale_query=True) for _ in range(c["blocks"])])
        self.final_layer_norm = LayerNorm(d, eps=1e-5)
        self.text_projection = nn.Linear(d, c["projection"], bias=False)

    def forward(self, input_ids):
        b, s = input_ids.size()
        x = self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, :s])
        mask = torch.empty(b, s, s, dtype=x.dtype).fill_(torch.finfo(x.dtype).min).triu_(1).unsqueeze(1)
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        pooled = x[torch.arange(b), input_ids.to(dtype=torch.int).argmax(dim=-1)]
        return self.text_projection(pooled)


# --------------------------------------------------------------------------------------------
# The corpus.
# --------------------------------------------------------------------------------------------
TEXT = dict(hidden=32, heads=4, mlp=64, blocks=2, vocab=96, positions=64, classes=3, dropout=0.1, projection=16)
VISION = dict(hidden=32, heads=4, mlp=64, blocks=2, image=32, patch=8, classes=5, dropout=0.1)
MINILM = dict(hidden=384, heads=12, mlp=1536, blocks=6, vocab=30522, positions=512, classes=2, dropout=0.1)

ARCHS = {
    # arch: (constructor, input kind)
    "bert": (lambda: BertModel(TEXT), "text+mask"),
    "roberta": (lambda: BertModel(TEXT, roberta=True), "text+mask"),
    "vit-cls": (lambda: VitModel(VISION, "cls", "gelu"), "image"),
    "vit-mean": (lambda: VitModel(VISION, "mean", "gelu_tanh"), "image"),
    "gpt2": (lambda: Gpt2Model(TEXT), "text"),
    "llama": (lambda: LlamaModel(TEXT), "text"),
    "clip": (lambda: ClipTextModel(TEXT), "text"),
}


def seed_of(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def trained_looking(model, seed, shared_identity):
    """Fills every parameter with values like a trained model's: linear weights N(0, 0.02²)-ish with
    a per-row scale, biases small, norm scales near 1 and shifts near 0, embeddings N(0, 0.02²).
    Each tensor draws its own values, so no two are equal and the exporter shares none of them.
    With shared_identity the norms keep their initial ones and zeros, equal across layers, which
    the eval exporter shares through Identity nodes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = "norm" in name.lower() or "ln_" in name
            if is_norm and shared_identity:
                continue
            if is_norm and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            else:
                rows = 1.0 + 0.25 * torch.rand(p.shape[:1] + (1,) * (p.dim() - 1), generator=g)
                p.copy_(0.05 * rows * torch.randn(p.shape, generator=g))


def example_inputs(kind, batch=2, seq=8, vocab=96, image=32):
    g = torch.Generator().manual_seed(0)
    if kind == "image":
        return (torch.randn(batch, 3, image, image, generator=g),), ["pixel_values"], {"pixel_values": {0: "batch"}}
    ids = torch.randint(2, vocab, (batch, seq), generator=g)
    axes = {0: "batch", 1: "sequence"}
    if kind == "text+mask":
        return (ids, torch.ones(batch, seq, dtype=torch.long)), ["input_ids", "attention_mask"], {"input_ids": axes, "attention_mask": axes}
    return (ids,), ["input_ids"], {"input_ids": axes}


def export(model, inputs, names, axes, opset, mode):
    """torch.onnx.export to bytes. Training mode keeps Dropout (training_mode true) and, as torch
    recommends for it, no constant folding; eval mode is the exporter's default."""
    training = mode == "train"
    model.train(training)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, inputs, buffer, opset_version=opset, input_names=names, output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            training=torch.onnx.TrainingMode.TRAINING if training else torch.onnx.TrainingMode.EVAL,
            do_constant_folding=not training)
    return buffer.getvalue()


def corpus():
    """(file name, bytes) for every model of the corpus, in a fixed order."""
    for arch, (build, kind) in ARCHS.items():
        for opset in OPSETS:
            for mode in MODES:
                for precision in PRECISIONS:
                    yield f"{arch}-opset{opset}-{mode}-{precision}.onnx", lambda a=arch, b=build, k=kind, o=opset, m=mode, p=precision: one(a, b, k, o, m, p, False)
        # The exporter's shared-Identity constants: eval (the only mode in which the exporter
        # shares equal initializers), both opsets, fp32.
        for opset in OPSETS:
            yield f"{arch}-opset{opset}-eval-fp32-shared-identity.onnx", lambda a=arch, b=build, k=kind, o=opset: one(a, b, k, o, "eval", "fp32", True)


def one(arch, build, kind, opset, mode, precision, shared_identity):
    torch.manual_seed(seed_of(arch))
    model = build()
    trained_looking(model, seed_of(arch + "/weights"), shared_identity)
    Precision.half = precision == "fp16"
    try:
        inputs, names, axes = example_inputs(kind, vocab=TEXT["vocab"], image=VISION["image"])
        return export(model, inputs, names, axes, opset, mode)
    finally:
        Precision.half = False


def minilm(path):
    torch.manual_seed(seed_of("minilm"))
    model = BertModel(MINILM)
    trained_looking(model, seed_of("minilm/weights"), False)
    inputs, names, axes = example_inputs("text+mask", vocab=MINILM["vocab"])
    data = export(model, inputs, names, axes, 17, "eval")
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes, {sum(p.numel() for p in model.parameters())} parameters)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "exported"))
    parser.add_argument("--check", action="store_true", help="export twice and fail unless both runs give the same bytes; write nothing")
    parser.add_argument("--only", help="export only files whose name contains this")
    parser.add_argument("--minilm-size", metavar="OUT", help="export a BERT at all-MiniLM-L6-v2's size to OUT (not part of the corpus)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.minilm_size:
        minilm(args.minilm_size)
        return 0
    os.makedirs(args.out, exist_ok=True)
    differ = 0
    for name, make in corpus():
        if args.only and args.only not in name:
            continue
        data = make()
        if args.check:
            if make() != data:
                print(f"NOT DETERMINISTIC: {name}")
                differ += 1
            continue
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")
    if args.check:
        print("deterministic" if differ == 0 else f"{differ} file(s) differ between two runs")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
