#!/usr/bin/env python3
"""The PyTorch peer: the bundled model served the way a researcher would serve it without infusion.

infusion claims to be fast; "fast" needs a yardstick that does the same work in the obvious way.
This file is that yardstick: plain eager PyTorch (Debian's python3-torch 1.13, float32,
`torch.inference_mode()`), written from docs/model-format.md like a Hugging Face model would be:

- chat: static batching of B prompts, left-padded, into a preallocated KV cache; greedy decoding
  of N new tokens with end tokens ignored (infusion-bench's chat load);
- text-to-image: B prompts; the unconditional CFG prefix (`<s> <boi>`, the same for every request)
  computed once and copied into each batch's cache; all 2B guided rows in one forward per step;
  the served sampler (generation.json, config.json's diffusion settings) step for step; the
  TAEF2 decode of the final latents, which is part of the image timing.

Sub-commands:
  peer.py check --model DIR [--server BIN --tool BIN]   same tokens and images as infusion?
  peer.py bench --model DIR [--json OUT]                 chat and t2i throughput
  peer.py compare --peer P.json --infusion DIR [--out F] the ratio table infusion / peer
  peer.py merge --out P.json A.json B.json ...          one bench JSON from several runs

The check mode lives in check.py (it talks to infusion); this file needs only torch and
sentencepiece.
"""

import argparse
import ctypes
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F


def set_threads(threads):
    """Both compute pools, as infusion's SetComputeThreads: torch's, and OpenBLAS's, where
    Debian's torch does its float32 products and which torch.set_num_threads does not reach."""
    threads = threads if threads > 0 else os.cpu_count()
    torch.set_num_threads(threads)
    try:  # the library torch already loaded: dlopen returns the same instance
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(threads)
    except (OSError, AttributeError):  # torch on another BLAS
        pass
    return threads


# ---------------------------------------------------------------------------------------------
# The prompts infusion-bench sends (clients/bench/prompts.cc), by request index.

COLORS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle"]
CELLS = ["top left", "top center", "top right", "middle left", "center", "middle right",
         "bottom left", "bottom center", "bottom right"]


def chat_prompt(index):
    return (f"describe a scene with a {COLORS[index % 6]} {SHAPES[(index // 6) % 3]} at the "
            f"{CELLS[(index // 18) % 9]} and tell me what else could be there.")


def image_prompt(index):
    return f"a {COLORS[index % 6]} {SHAPES[(index // 6) % 3]} at the {CELLS[(index // 18) % 9]}"


# ---------------------------------------------------------------------------------------------
# Files of a model directory (docs/model-format.md §1).

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """name -> float32 tensor. torch 1.13 has no safetensors reader; the format is 20 lines."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = bytearray(data[8 + n:])  # writable, so torch.frombuffer does not warn
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        count = (end - begin) // torch.tensor([], dtype=dtype).element_size()
        flat = (torch.frombuffer(body, dtype=dtype, count=count, offset=begin) if count
                else torch.empty(0, dtype=dtype))
        out[name] = flat.reshape(info["shape"]).to(torch.float32).clone()
    return out


def load_tokenizer(model_dir):
    import sentencepiece  # Debian: python3-sentencepiece
    return sentencepiece.SentencePieceProcessor(model_file=os.path.join(model_dir,
                                                                        "tokenizer.model"))


# ---------------------------------------------------------------------------------------------
# infusion's random source (engine/sampler/rng.cc), so that a seed gives the same initial noise:
# std::mt19937_64, the top 53 bits as a uniform double, Box-Muller pairs. Pure Python: 2,048
# normals per 64x64 image cost about a millisecond.

_MASK64 = (1 << 64) - 1


class InfusionRng:
    """std::mt19937_64 (its output is fixed by the C++ standard) plus rng.cc's variates."""

    def __init__(self, seed):
        mt = [seed & _MASK64]
        for i in range(1, 312):
            mt.append((6364136223846793005 * (mt[-1] ^ (mt[-1] >> 62)) + i) & _MASK64)
        self.mt, self.index, self.spare = mt, 312, None

    def next_u64(self):
        if self.index >= 312:
            mt = self.mt
            for i in range(312):
                x = (mt[i] & 0xFFFFFFFF80000000) | (mt[(i + 1) % 312] & 0x7FFFFFFF)
                mt[i] = mt[(i + 156) % 312] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            self.index = 0
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        return y ^ (y >> 43)

    def uniform(self):
        return (self.next_u64() >> 11) * 2.0 ** -53

    def normal(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        radius = math.sqrt(-2.0 * math.log(u1))
        self.spare = radius * math.sin(2.0 * math.pi * u2)
        return radius * math.cos(2.0 * math.pi * u2)


# ---------------------------------------------------------------------------------------------
# The diffusion schedule and sampler (docs/model-format.md §8, engine/sampler/*.cc). The solver
# runs in float64 on float32 latents, as the engine's does, so equal model outputs give equal
# latents bit for bit.

def cosine_alpha_bars(num_train_steps, offset=0.008):
    def f(t):
        c = math.cos((t / num_train_steps + offset) / (1.0 + offset) * math.pi / 2.0)
        return c * c
    alpha_bars, product = [], 1.0
    for t in range(num_train_steps):
        product *= 1.0 - min(1.0 - f(t + 1) / f(t), 0.999)
        alpha_bars.append(product)
    return alpha_bars


def sampling_timesteps(num_train_steps, steps, spacing):
    if spacing == "leading":
        return [(steps - 1 - i) * (num_train_steps // steps) for i in range(steps)]
    # trailing: round(T (N - i) / N) - 1 with ties to even, exactly as the engine computes it
    out = []
    for i in range(steps):
        rounded, rem = divmod(num_train_steps * (steps - i), steps)
        if 2 * rem > steps or (2 * rem == steps and rounded % 2 == 1):
            rounded += 1
        out.append(rounded - 1)
    return out


class DdimSampler:
    """DDIM (eta from generation.json) with x0 clipping and v- or epsilon-prediction."""

    def __init__(self, config, generation):
        diffusion = config["diffusion"]
        assert generation.get("sampler", "ddim") == "ddim", "the peer implements DDIM only"
        assert diffusion.get("schedule", "cosine") == "cosine", "the peer implements cosine only"
        assert not diffusion.get("zero_mean_initial_noise", False), "not implemented in the peer"
        self.alpha_bars = cosine_alpha_bars(diffusion["num_train_timesteps"])
        self.timesteps = sampling_timesteps(diffusion["num_train_timesteps"],
                                            generation["image_steps"],
                                            diffusion.get("timestep_spacing", "leading"))
        self.velocity = diffusion.get("prediction_type", "epsilon") == "v_prediction"
        self.clip = float(diffusion.get("clip_sample_range", 0.0))
        self.eta = float(generation.get("eta", 0.0))

    def step(self, i, x, out, rngs):
        """x [B, n, P] float32 at timesteps[i], out the guided model output -> x at the next."""
        ab = self.alpha_bars[self.timesteps[i]]
        last = i + 1 == len(self.timesteps)
        ab_prev = 1.0 if last else self.alpha_bars[self.timesteps[i + 1]]
        sa, s1a = math.sqrt(ab), math.sqrt(1.0 - ab)
        x, out = x.double(), out.double()
        if self.velocity:
            raw_x0, eps = sa * x - s1a * out, sa * out + s1a * x
        else:
            raw_x0, eps = (x - s1a * out) / sa, out
        x0 = raw_x0.clamp(-self.clip, self.clip) if self.clip > 0 else raw_x0
        # A clipped x0 re-derives the noise so that x_t' stays on the line through x_t and x0.
        direction = torch.where(x0 == raw_x0, eps, (x - sa * x0) / s1a)
        sigma = (self.eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab))
                 * math.sqrt(1.0 - ab / ab_prev))
        x_prev = (math.sqrt(ab_prev) * x0
                  + math.sqrt(max(0.0, 1.0 - ab_prev - sigma * sigma)) * direction)
        if sigma > 0.0:  # the engine draws this noise from the image's own stream, in order
            noise = [[rng.normal() for _ in range(x[0].numel())] for rng in rngs]
            x_prev = x_prev + sigma * torch.tensor(noise, dtype=torch.float64).view_as(x_prev)
        return x_prev.float()


def initial_noise(seeds, shape):
    """[B, *shape] float32: image b starts from InfusionRng(seeds[b]) as the engine's does."""
    rngs = [InfusionRng(s) for s in seeds]
    count = math.prod(shape)
    values = [[rng.normal() for _ in range(count)] for rng in rngs]
    return torch.tensor(values, dtype=torch.float64).float().view(len(seeds), *shape), rngs


# ---------------------------------------------------------------------------------------------
# The model (docs/model-format.md §3-6), HF-Llama style: separate q/k/v and gate/up products,
# rotate-half RoPE, repeat_kv for grouped-query attention, an additive mask.

def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def repeat_kv(x, groups):
    """[B, K, S, D] -> [B, K * groups, S, D]: each key/value head serves `groups` query heads."""
    b, k, s, d = x.shape
    return x[:, :, None].expand(b, k, groups, s, d).reshape(b, k * groups, s, d)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], -1)


def patchify(z, p):
    b, c, s, _ = z.shape
    g = s // p
    return z.reshape(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(b, g * g, c * p * p)


def unpatchify(patches, c, s, p):
    b, g = patches.shape[0], s // p
    return patches.reshape(b, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, s, s)


class KVCache:
    """Preallocated keys and values, [rows, kv_heads, slots, head_dim] per layer. rows(a, b)
    is a view of some rows, so that a prefill of those rows writes into the same storage."""

    def __init__(self, layers, rows=0, kv_heads=0, slots=0, head_dim=0):
        self.k = [torch.zeros(rows, kv_heads, slots, head_dim) for _ in range(layers)]
        self.v = [torch.zeros(rows, kv_heads, slots, head_dim) for _ in range(layers)]

    def rows(self, begin, end):
        view = KVCache(0)  # no layers of its own; it borrows slices of ours
        view.k = [k[begin:end] for k in self.k]
        view.v = [v[begin:end] for v in self.v]
        return view


class Transfusion:
    """The model directory's weights and forward pass, plus the two serving loops."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = c = json.load(f)
        with open(os.path.join(model_dir, "generation.json")) as f:
            self.generation = json.load(f)
        self.w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.tokenizer = load_tokenizer(model_dir)
        self.d = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = self.d // self.heads
        self.eps = c["rms_norm_eps"]
        self.num_layers = c["num_hidden_layers"]
        self.lm_head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])
        head_dims = torch.arange(0, self.head_dim, 2).float() / self.head_dim
        self.inv_freq = 1.0 / (c["rope_theta"] ** head_dims)
        im = c["image"]
        self.latent_channels, self.latent_size = im["latent_channels"], im["latent_size"]
        self.patch_size = im["patch_size"]
        self.num_patches = (self.latent_size // self.patch_size) ** 2
        self.patch_dim = self.latent_channels * self.patch_size ** 2
        self.latent_mean = torch.tensor(im["latent_mean"]).view(1, -1, 1, 1)
        self.latent_std = torch.tensor(im["latent_std"]).view(1, -1, 1, 1)
        self.sampler = DdimSampler(c, self.generation)
        self.guidance = float(self.generation["guidance_scale"])
        self.codec = im["codec"]
        if self.codec == "taef2":
            self.taef2 = read_safetensors(os.path.join(model_dir, "codec",
                                                       "taef2_decoder.safetensors"))
        # The unconditional CFG prefix is the same for every request: its keys and values are
        # computed once here and copied into each batch's cache.
        self.uncond_ids = [c["bos_token_id"], c["boi_token_id"]]
        self.uncond_cache = KVCache(self.num_layers, 1, self.kv_heads, 2, self.head_dim)
        with torch.inference_mode():
            self.backbone(self.embed(torch.tensor([self.uncond_ids])), torch.arange(2)[None],
                          self.uncond_cache, 0, torch.ones(1, 2, 2, dtype=torch.bool).tril())

    # --- text backbone ---------------------------------------------------------------------

    def embed(self, ids):
        return F.embedding(ids, self.w["model.embed_tokens.weight"])

    def backbone(self, x, positions, cache, start, allowed):
        """x [B, T, d] occupies cache slots start..start+T-1 and attends to slots 0..start+T-1
        where allowed [B, T, start+T] says so; returns the final-normed hidden states."""
        b, t, _ = x.shape
        angles = positions.float()[..., None] * self.inv_freq  # [B, T, D/2]
        angles = torch.cat([angles, angles], -1)[:, None]      # [B, 1, T, D]
        cos, sin = angles.cos(), angles.sin()
        bias = torch.zeros(allowed.shape).masked_fill_(~allowed, torch.finfo(torch.float32).min)
        bias = bias[:, None]                                   # [B, 1, T, S]
        groups = self.heads // self.kv_heads
        for i in range(self.num_layers):
            p = f"model.layers.{i}."
            a = rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps)
            q = F.linear(a, self.w[p + "self_attn.q_proj.weight"])
            k = F.linear(a, self.w[p + "self_attn.k_proj.weight"])
            v = F.linear(a, self.w[p + "self_attn.v_proj.weight"])
            q = q.view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = k.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            v = v.view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            cache.k[i][:, :, start:start + t] = k
            cache.v[i][:, :, start:start + t] = v
            keys = repeat_kv(cache.k[i][:, :, :start + t], groups)
            values = repeat_kv(cache.v[i][:, :, :start + t], groups)
            scores = q @ keys.transpose(2, 3) / math.sqrt(self.head_dim) + bias
            attn = (scores.softmax(-1) @ values).transpose(1, 2).reshape(b, t, self.d)
            x = x + F.linear(attn, self.w[p + "self_attn.o_proj.weight"])
            h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.eps)
            mlp = (F.silu(F.linear(h, self.w[p + "mlp.gate_proj.weight"]))
                   * F.linear(h, self.w[p + "mlp.up_proj.weight"]))
            x = x + F.linear(mlp, self.w[p + "mlp.down_proj.weight"])
        return rms_norm(x, self.w["model.norm.weight"], self.eps)

    def logits(self, hidden):
        return F.linear(hidden, self.lm_head)

    def text_logits(self, hidden):
        """Logits of a text-only reply: <s> and <eoi> can never follow, and a chat without images
        must not open one with <boi> (the engine's token rules, engine/output)."""
        logits = self.logits(hidden)
        c = self.config
        logits[..., [c["bos_token_id"], c["boi_token_id"], c["eoi_token_id"]]] = -math.inf
        return logits

    def full_logits(self, ids):
        """Logits at every position of one sequence, without a cache (check mode)."""
        n = len(ids)
        hidden = self.backbone(self.embed(torch.tensor([ids])), torch.arange(n)[None],
                               KVCache(self.num_layers, 1, self.kv_heads, n, self.head_dim), 0,
                               torch.ones(1, n, n, dtype=torch.bool).tril())
        return self.logits(hidden[0])

    # --- chat -------------------------------------------------------------------------------

    def chat_prompt_ids(self, text):
        c = self.config
        return ([c["bos_token_id"], c["user_token_id"]] + self.tokenizer.encode(text)
                + [c["end_of_turn_token_id"], c["assistant_token_id"]])

    def generate_chat(self, prompts, new_tokens):
        """Greedy decoding of new_tokens for each prompt (token id lists), end tokens ignored and
        no images opened. Static batch, left-padded; returns [B, new_tokens] token ids."""
        b, width = len(prompts), max(len(p) for p in prompts)
        slots = width + new_tokens
        tokens = torch.full((b, width), self.config["pad_token_id"], dtype=torch.long)
        valid = torch.zeros(b, slots, dtype=torch.bool)
        valid[:, width:] = True
        for row, ids in enumerate(prompts):
            tokens[row, width - len(ids):] = torch.tensor(ids)
            valid[row, width - len(ids):width] = True
        positions = (valid.long().cumsum(1) - 1).clamp(min=0)  # each prompt starts at 0
        cache = KVCache(self.num_layers, b, self.kv_heads, slots, self.head_dim)
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        hidden = self.backbone(self.embed(tokens), positions[:, :width], cache, 0,
                               causal[None] & valid[:, None, :width])
        out = [self.text_logits(hidden[:, -1]).argmax(-1)]
        for step in range(1, new_tokens):
            slot = width + step - 1
            hidden = self.backbone(self.embed(out[-1][:, None]), positions[:, slot:slot + 1],
                                   cache, slot, valid[:, None, :slot + 1])
            out.append(self.text_logits(hidden[:, -1]).argmax(-1))
        return torch.stack(out, 1)

    # --- image parts (U-Net or linear patch layers, §5) -------------------------------------

    def _linear(self, prefix, x):
        return F.linear(x, self.w[prefix + ".weight"], self.w.get(prefix + ".bias"))

    def _conv(self, prefix, x, stride=1):
        weight = self.w[prefix + ".weight"]
        return F.conv2d(x, weight, self.w[prefix + ".bias"], stride, weight.shape[-1] // 2)

    def _norm(self, prefix, x):
        return F.group_norm(x, self.config["image"]["unet"]["norm_groups"],
                            self.w[prefix + ".weight"], self.w[prefix + ".bias"], 1e-5)

    def _res_block(self, prefix, x, temb):
        h = self._conv(prefix + ".conv1", F.silu(self._norm(prefix + ".norm1", x)))
        h = h + self._linear(prefix + ".time_proj", F.silu(temb))[:, :, None, None]
        h = self._conv(prefix + ".conv2", F.silu(self._norm(prefix + ".norm2", h)))
        return h + (self._conv(prefix + ".skip", x) if prefix + ".skip.weight" in self.w else x)

    def time_embedding(self, t):
        half = self.config["image"]["time_frequency_dim"] // 2
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / half))
        angles = torch.tensor([float(t)])[:, None] * freqs[None]
        phi = torch.cat([angles.cos(), angles.sin()], -1)
        return self._linear("image.time_embed.linear_2",
                            F.silu(self._linear("image.time_embed.linear_1", phi)))  # [1, E]

    def encode_patches(self, patches, temb):
        """[B, n, P] noised latents -> [B, n, d] embeddings and the U-Net's skips."""
        im = self.config["image"]
        if im["patch_encoder"] == "linear":
            emb, skips = self._linear("image.encoder.proj", patches + temb[:, None]), []
        else:
            levels = len(im["unet"]["channels"])
            h = self._conv("image.encoder.conv_in", unpatchify(
                patches, self.latent_channels, self.latent_size, self.patch_size))
            skips = []
            for l in range(levels):
                for r in range(im["unet"]["num_res_blocks"]):
                    h = self._res_block(f"image.encoder.down.{l}.res.{r}", h, temb)
                    skips.append(h)
                if l < levels - 1:
                    h = self._conv(f"image.encoder.down.{l}.downsample", h, stride=2)
            h = F.silu(self._norm("image.encoder.norm_out", h))
            h = self._conv("image.encoder.proj_out", h)
            emb = h.flatten(2).transpose(1, 2)
        if "image.position_embedding" in self.w:
            emb = emb + self.w["image.position_embedding"]
        return emb, skips

    def decode_patches(self, hidden, skips, temb):
        """[B, n, d] final hidden states of an image -> [B, n, P] model output (v or eps)."""
        im = self.config["image"]
        if im["patch_encoder"] == "linear":
            return self._linear("image.decoder.proj", hidden)
        g = self.latent_size // self.patch_size
        h = self._conv("image.decoder.proj_in", hidden.transpose(1, 2).reshape(-1, self.d, g, g))
        skips = list(skips)
        for l in reversed(range(len(im["unet"]["channels"]))):
            for r in range(im["unet"]["num_res_blocks"]):
                h = self._res_block(f"image.decoder.up.{l}.res.{r}",
                                    torch.cat([h, skips.pop()], 1), temb)
            if l > 0:
                h = self._conv(f"image.decoder.up.{l}.upsample",
                               F.interpolate(h, scale_factor=2.0, mode="nearest"))
        e = self._conv("image.decoder.conv_out", F.silu(self._norm("image.decoder.norm_out", h)))
        return patchify(e, self.patch_size)

    # --- latents to pixels (§6, third_party/taef2) ------------------------------------------

    def _taef2_conv(self, name, x):
        return F.conv2d(x, self.taef2[name + ".weight"], self.taef2.get(name + ".bias"),
                        padding=self.taef2[name + ".weight"].shape[-1] // 2)

    def _taef2_block(self, i, x):
        if f"{i}.pool.0.weight" in self.taef2:
            p = F.group_norm(self._taef2_conv(f"{i}.pool.0", x), 4,
                             self.taef2[f"{i}.pool.1.weight"], self.taef2[f"{i}.pool.1.bias"], 1e-5)
            x = x + self._taef2_conv(f"{i}.pool.3", F.relu(p))
        h = F.relu(self._taef2_conv(f"{i}.conv.0", x))
        h = F.relu(self._taef2_conv(f"{i}.conv.2", h))
        return F.relu(self._taef2_conv(f"{i}.conv.4", h) + x)

    def patches_to_pixels(self, patches):
        """[B, n, P] normalised latent patches -> [B, 3, H, W] RGB in [0, 1]."""
        z = unpatchify(patches, self.latent_channels, self.latent_size, self.patch_size)
        z = z * self.latent_std + self.latent_mean
        if self.codec == "pixels":
            return ((z + 1.0) * 0.5).clamp(0.0, 1.0)
        x = F.relu(self._taef2_conv("1", torch.tanh(z / 3) * 3))  # a soft clamp to (-3, 3)
        for i in (3, 4, 5):
            x = self._taef2_block(i, x)
        for conv, blocks in (("7", (8, 9, 10)), ("12", (13, 14, 15)), ("17", (18,))):
            x = self._taef2_conv(conv, F.interpolate(x, scale_factor=2.0, mode="nearest"))
            for i in blocks:
                x = self._taef2_block(i, x)
        return self._taef2_conv("19", x).clamp(0.0, 1.0)

    # --- text to image ----------------------------------------------------------------------

    def image_prompt_ids(self, text):
        c = self.config
        return [c["bos_token_id"]] + self.tokenizer.encode(text) + [c["boi_token_id"]]

    def generate_images(self, prompts, seeds):
        """One image per prompt: (pixels [B, 3, H, W] in [0, 1], final patches [B, n, P])."""
        patches = self.denoise(prompts, seeds)
        return self.patches_to_pixels(patches), patches

    def denoise(self, prompts, seeds):
        """The latents of one image per prompt (token id lists ending with <boi>), image b
        starting from the noise of seeds[b], with classifier-free guidance against the cached
        `<s> <boi>` prefix: rows 0..B-1 conditional, B..2B-1 unconditional."""
        b, n = len(prompts), self.num_patches
        guided = self.guidance != 1.0  # as the engine: scale 1 needs no unconditional rows
        rows = 2 * b if guided else b
        u = len(self.uncond_ids)
        width = max(max(len(p) for p in prompts), u)
        tokens = torch.full((b, width), self.config["pad_token_id"], dtype=torch.long)
        valid = torch.zeros(rows, width + n, dtype=torch.bool)  # prefixes right-aligned
        valid[:, width:] = True
        valid[b:, width - u:width] = True
        for row, ids in enumerate(prompts):
            tokens[row, width - len(ids):] = torch.tensor(ids)
            valid[row, width - len(ids):width] = True
        positions = (valid.long().cumsum(1) - 1).clamp(min=0)
        cache = KVCache(self.num_layers, rows, self.kv_heads, width + n, self.head_dim)
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        self.backbone(self.embed(tokens), positions[:b, :width], cache.rows(0, b), 0,
                      causal[None] & valid[:b, None, :width])
        for i in range(self.num_layers if guided else 0):
            cache.k[i][b:, :, width - u:width] = self.uncond_cache.k[i]
            cache.v[i][b:, :, width - u:width] = self.uncond_cache.v[i]
        allowed = valid[:, None, :].expand(rows, n, width + n)  # an image sees all its patches
        x, rngs = initial_noise(seeds, (n, self.patch_dim))
        for i, t in enumerate(self.sampler.timesteps):
            temb = self.time_embedding(t)
            # The two rows of an image share latents and timestep: encode once, use twice.
            emb, skips = self.encode_patches(x, temb)
            if guided:
                emb, skips = torch.cat([emb, emb]), [torch.cat([s, s]) for s in skips]
            hidden = self.backbone(emb, positions[:, width:], cache, width, allowed)
            out = self.decode_patches(hidden, skips, temb)
            if guided:
                cond, uncond = out[:b], out[b:]
                out = uncond + self.guidance * (cond - uncond)
            x = self.sampler.step(i, x, out, rngs)
        return x


# ---------------------------------------------------------------------------------------------
# Bench mode.

def bench_chat(model, batch, requests, new_tokens):
    """Static batches of `batch` prompts (request indices 0, 1, ...) until `requests` are
    served; tokens/s over the whole run. No warm-up, as infusion-bench's loads have none."""
    start, done = time.perf_counter(), 0
    while done < requests:
        indices = range(done, done + batch)
        model.generate_chat([model.chat_prompt_ids(chat_prompt(i)) for i in indices], new_tokens)
        done += batch
    elapsed = time.perf_counter() - start
    return {"workload": "chat", "batch": batch, "requests": done, "new_tokens": new_tokens,
            "seconds": elapsed, "output_tokens_per_s": done * new_tokens / elapsed}


def bench_t2i(model, batch, requests):
    """Static batches of `batch` images (prompt and seed = request index, as infusion-bench);
    images/min with the TAEF2 decode, and without it for comparison with a bench that stops at
    latents. No warm-up, as infusion-bench's loads have none."""
    done, elapsed, decode_s = 0, 0.0, 0.0
    while done < requests:
        indices = list(range(done, done + batch))
        start = time.perf_counter()
        patches = model.denoise([model.image_prompt_ids(image_prompt(i)) for i in indices],
                                indices)
        denoised = time.perf_counter()
        model.patches_to_pixels(patches)
        end = time.perf_counter()
        elapsed, decode_s, done = elapsed + end - start, decode_s + end - denoised, done + batch
    return {"workload": "t2i", "batch": batch, "requests": done,
            "steps": len(model.sampler.timesteps), "guidance": model.guidance,
            "seconds": elapsed, "decode_seconds": decode_s,
            "images_per_min": 60.0 * done / elapsed,
            "images_per_min_without_decode": 60.0 * done / (elapsed - decode_s)}


def cmd_bench(args):
    set_threads(args.threads)
    model = Transfusion(args.model)
    rows = []
    workloads = args.workload.split(",")
    with torch.inference_mode():
        if "chat" in workloads:
            for batch in (int(v) for v in args.chat_batches.split(",")):
                rows.append(bench_chat(model, batch, max(batch, args.chat_requests),
                                       args.chat_tokens))
                print(f"peer: chat batch {batch}: {rows[-1]['output_tokens_per_s']:.1f} tokens/s",
                      file=sys.stderr)
        if "t2i" in workloads:
            for batch in (int(v) for v in args.t2i_batches.split(",")):
                rows.append(bench_t2i(model, batch, max(batch, args.t2i_requests)))
                print(f"peer: t2i batch {batch}: {rows[-1]['images_per_min']:.1f} images/min",
                      file=sys.stderr)
    print(f"peer bench: {args.model}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, float32")
    print(f"{'workload':<9}{'batch':>6}{'requests':>10}{'seconds':>10}{'tokens/s':>11}"
          f"{'images/min':>12}{'(no decode)':>13}")
    for r in rows:
        tokens = f"{r['output_tokens_per_s']:.1f}" if r["workload"] == "chat" else "-"
        images = f"{r['images_per_min']:.1f}" if r["workload"] == "t2i" else "-"
        bare = f"{r['images_per_min_without_decode']:.1f}" if r["workload"] == "t2i" else "-"
        print(f"{r['workload']:<9}{r['batch']:>6}{r['requests']:>10}{r['seconds']:>10.2f}"
              f"{tokens:>11}{images:>12}{bare:>13}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "threads": torch.get_num_threads(),
                       "torch": torch.__version__, "results": rows}, f, indent=2)
            f.write("\n")


# ---------------------------------------------------------------------------------------------
# Compare mode: the ratio table of a scripts/bench.sh run.

def _infusion_row(path, workload, mode):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        rows = json.load(f)
    return next((r for r in rows if r["workload"] == workload and r["mode"] == mode), None)


def cmd_compare(args):
    """Pairs each peer result with the infusion-bench result of the same load: a static batch of
    B with B closed-loop clients, batch 1 with one request at a time."""
    with open(args.peer) as f:
        peer = {(r["workload"], r["batch"]): r for r in json.load(f)["results"]}
    d = args.infusion
    pairs = [  # label, peer key, peer field, infusion file, workload, mode, infusion field
        ("chat, 32 clients (tokens/s)", ("chat", 32), "output_tokens_per_s",
         "chat-mixed.json", "chat", "continuous", "output_tokens_per_s"),
        ("chat, one at a time (tokens/s)", ("chat", 1), "output_tokens_per_s",
         "chat-mixed.json", "chat", "sequential", "output_tokens_per_s"),
        ("t2i, 8 clients (images/min", ("t2i", 8), None, "t2i.json", "t2i", "continuous",
         "images_per_min"),
        ("t2i, one at a time (images/min", ("t2i", 1), None, "t2i.json", "t2i", "sequential",
         "images_per_min"),
        ("chat, 32 clients over gRPC (tokens/s)", ("chat", 32), "output_tokens_per_s",
         "grpc-chat-mixed.json", "chat", "grpc", "output_tokens_per_s"),
        ("t2i, 8 clients over gRPC (images/min, decode + PNG included)", ("t2i", 8),
         "images_per_min", "grpc-t2i.json", "t2i", "grpc", "images_per_min"),
    ]
    lines = ["| workload | peer | infusion | ratio |", "|---|---|---|---|"]
    for label, key, peer_field, path, workload, mode, field in pairs:
        mine = peer.get(key)
        theirs = _infusion_row(os.path.join(d, path), workload, mode)
        if mine is None or theirs is None:
            continue
        if peer_field is None:  # an image row: the decode on both sides or on neither
            decoded = theirs.get("images_decoded", False)
            peer_field = "images_per_min" if decoded else "images_per_min_without_decode"
            label += (", TAEF2 decode included on both sides)" if decoded
                      else ", no decode on either side)")
        p, i = mine[peer_field], theirs[field]
        lines.append(f"| {label} | {p:,.1f} | {i:,.1f} | {i / p:.2f}× |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


def cmd_merge(args):
    """One peer.json from the results of several bench runs (e.g. one per load)."""
    merged = None
    for path in args.inputs:
        with open(path) as f:
            part = json.load(f)
        if merged is None:
            merged = part
        else:
            merged["results"].extend(part["results"])
    with open(args.out, "w") as f:
        json.dump(merged, f, indent=2)


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="chat and t2i throughput of the peer")
    bench.add_argument("--model", default="models/shapes")
    bench.add_argument("--workload", default="chat,t2i")
    bench.add_argument("--chat_batches", default="32,1")
    bench.add_argument("--chat_requests", type=int, default=128,
                       help="chat requests per batch size (scripts/bench.sh sends 128)")
    bench.add_argument("--chat_tokens", type=int, default=64,
                       help="new tokens per chat request (infusion-bench's default)")
    bench.add_argument("--t2i_batches", default="8,1")
    bench.add_argument("--t2i_requests", type=int, default=32,
                       help="images per batch size (scripts/bench.sh sends 32)")
    bench.add_argument("--threads", type=int, default=0, help="0 = number of cores")
    bench.add_argument("--json", default="")
    check = sub.add_parser("check", help="same tokens and images as infusion?")
    check.add_argument("--model", default="models/shapes")
    check.add_argument("--server", default="build/server/infusion-server")
    check.add_argument("--tool", default="build/tools/infusion_tool/infusion-tool")
    check.add_argument("--proto_dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "proto"))
    check.add_argument("--chat_tokens", type=int, default=64)
    check.add_argument("--threads", type=int, default=1,
                       help="threads of the peer, the server and the tool (a light check)")
    compare = sub.add_parser("compare", help="ratio table of a scripts/bench.sh output folder")
    compare.add_argument("--peer", required=True, help="peer.py bench --json output")
    compare.add_argument("--infusion", required=True, help="folder with infusion-bench JSON")
    compare.add_argument("--out", default="")
    merge = sub.add_parser("merge", help="one bench JSON from several (scripts/bench.sh)")
    merge.add_argument("--out", required=True)
    merge.add_argument("inputs", nargs="+", help="peer.py bench --json outputs")
    args = parser.parse_args()
    if args.command == "bench":
        cmd_bench(args)
    elif args.command == "compare":
        cmd_compare(args)
    elif args.command == "merge":
        cmd_merge(args)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import check as check_mode
        set_threads(args.threads)
        sys.exit(check_mode.run(args, Transfusion(args.model)))


if __name__ == "__main__":
    main()
