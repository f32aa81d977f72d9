"""An independent NumPy implementation of the infusion forward pass, written from
docs/model-format.md alone (no code shared with the C++ engine). Used by
independent_forward_test.py as the oracle for `infusion-tool forward`."""

import json
import math
import struct

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if info["dtype"] == "BF16":
            raw = np.frombuffer(body[begin:end], dtype=np.uint16).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        else:
            arr = np.frombuffer(body[begin:end], dtype=_DTYPES[info["dtype"]])
        out[name] = arr.astype(np.float32).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def silu(x):
    return x / (1.0 + np.exp(-x))


def linear(w, x, prefix, bias=True):
    y = x @ w[prefix + ".weight"].T
    if bias and prefix + ".bias" in w:
        y = y + w[prefix + ".bias"]
    return y


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def conv2d(w, prefix, x, stride=1):
    """x: [Cin, S, S]; weight [Cout, Cin, k, k]; padding k // 2."""
    weight, bias = w[prefix + ".weight"], w[prefix + ".bias"]
    cout, cin, k, _ = weight.shape
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    size = x.shape[1]
    out_size = (size + 2 * pad - k) // stride + 1
    y = np.zeros((cout, out_size, out_size), dtype=np.float64)
    for dy in range(k):
        for dx in range(k):
            window = xp[:, dy:dy + stride * out_size:stride, dx:dx + stride * out_size:stride]
            y += np.einsum("oc,chw->ohw", weight[:, :, dy, dx], window)
    return (y + bias[:, None, None]).astype(np.float32)


def group_norm(w, prefix, x, groups, eps=1e-5):
    c = x.shape[0]
    g = x.reshape(groups, c // groups, -1)
    mean = g.mean(axis=(1, 2), keepdims=True)
    var = g.var(axis=(1, 2), keepdims=True)
    g = (g - mean) / np.sqrt(var + eps)
    x = g.reshape(x.shape)
    return x * w[prefix + ".weight"][:, None, None] + w[prefix + ".bias"][:, None, None]


def res_block(w, prefix, x, tau, groups):
    u = conv2d(w, prefix + ".conv1", silu(group_norm(w, prefix + ".norm1", x, groups)))
    u = u + linear(w, silu(tau), prefix + ".time_proj")[:, None, None]
    out = conv2d(w, prefix + ".conv2", silu(group_norm(w, prefix + ".norm2", u, groups)))
    skip = conv2d(w, prefix + ".skip", x) if prefix + ".skip.weight" in w else x
    return out + skip


def patchify(z, p):
    c, s, _ = z.shape
    g = s // p
    return z.reshape(c, g, p, g, p).transpose(1, 3, 0, 2, 4).reshape(g * g, c * p * p)


def unpatchify(patches, c, s, p):
    g = s // p
    return patches.reshape(g, g, c, p, p).transpose(2, 0, 3, 1, 4).reshape(c, s, s)


def timestep_embedding(w, t, freq_dim):
    half = freq_dim // 2
    freqs = np.exp(-math.log(10000.0) * np.arange(half) / half)
    phi = np.concatenate([np.cos(t * freqs), np.sin(t * freqs)]).astype(np.float32)
    return linear(w, silu(linear(w, phi, "image.time_embed.linear_1")), "image.time_embed.linear_2")


def forward(config, w, segments):
    """segments: list of ("text", [ids]) or ("image", patches [n, P], t)."""
    im = config["image"]
    d = config["hidden_size"]
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads",
                                                               config["num_attention_heads"])
    head_dim = d // heads
    unet = im["patch_encoder"] == "unet"
    c, s, p = im["latent_channels"], im["latent_size"], im["patch_size"]
    g = s // p

    xs, img_of, images = [], [], []
    for seg in segments:
        if seg[0] == "text":
            for tok in seg[1]:
                xs.append(w["model.embed_tokens.weight"][tok])
                img_of.append(-1)
        else:
            patches, t = seg[1], seg[2]
            tau = timestep_embedding(w, float(t), im["time_frequency_dim"])
            ctx = {"tau": tau, "start": len(xs)}
            if not unet:
                emb = linear(w, patches + tau, "image.encoder.proj")
            else:
                groups = im["unet"]["norm_groups"]
                levels = len(im["unet"]["channels"])
                h = conv2d(w, "image.encoder.conv_in", unpatchify(patches, c, s, p))
                skips = []
                for l in range(levels):
                    for r in range(im["unet"]["num_res_blocks"]):
                        h = res_block(w, f"image.encoder.down.{l}.res.{r}", h, tau, groups)
                        skips.append(h)
                    if l < levels - 1:
                        h = conv2d(w, f"image.encoder.down.{l}.downsample", h, stride=2)
                h = group_norm(w, "image.encoder.norm_out", h, groups)
                h = conv2d(w, "image.encoder.proj_out", silu(h))
                emb = h.reshape(d, g * g).T
                ctx["skips"] = skips
            for j in range(emb.shape[0]):
                xs.append(emb[j])
                img_of.append(len(images))
            images.append(ctx)
    x = np.stack(xs).astype(np.float32)
    n_pos = x.shape[0]
    img_of = np.array(img_of)
    i_idx, j_idx = np.meshgrid(np.arange(n_pos), np.arange(n_pos), indexing="ij")
    allowed = (j_idx <= i_idx) | ((img_of[:, None] >= 0) & (img_of[:, None] == img_of[None, :]))

    inv_freq = config["rope_theta"] ** (-np.arange(0, head_dim, 2) / head_dim)
    angle = np.arange(n_pos)[:, None] * inv_freq[None, :]
    cos = np.concatenate([np.cos(angle), np.cos(angle)], -1)[:, None, :]
    sin = np.concatenate([np.sin(angle), np.sin(angle)], -1)[:, None, :]

    def rope(u):
        half = head_dim // 2
        rot = np.concatenate([-u[..., half:], u[..., :half]], -1)
        return u * cos + rot * sin

    eps = config["rms_norm_eps"]
    for i in range(config["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        a = rms_norm(x, w[pre + "input_layernorm.weight"], eps)
        q = rope((a @ w[pre + "self_attn.q_proj.weight"].T).reshape(n_pos, heads, head_dim))
        k = rope((a @ w[pre + "self_attn.k_proj.weight"].T).reshape(n_pos, kv_heads, head_dim))
        v = (a @ w[pre + "self_attn.v_proj.weight"].T).reshape(n_pos, kv_heads, head_dim)
        out = np.zeros((n_pos, heads, head_dim), dtype=np.float64)
        for h in range(heads):
            kv = h // (heads // kv_heads)
            scores = q[:, h, :] @ k[:, kv, :].T / math.sqrt(head_dim)
            scores = np.where(allowed, scores, -np.inf)
            scores = scores - scores.max(axis=1, keepdims=True)
            prob = np.exp(scores)
            prob /= prob.sum(axis=1, keepdims=True)
            out[:, h, :] = prob @ v[:, kv, :]
        x = x + out.reshape(n_pos, d).astype(np.float32) @ w[pre + "self_attn.o_proj.weight"].T
        b = rms_norm(x, w[pre + "post_attention_layernorm.weight"], eps)
        mlp = silu(b @ w[pre + "mlp.gate_proj.weight"].T) * (b @ w[pre + "mlp.up_proj.weight"].T)
        x = x + mlp @ w[pre + "mlp.down_proj.weight"].T
    y = rms_norm(x, w["model.norm.weight"], eps)

    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    logits = y[img_of < 0] @ head.T
    eps_out = []
    for ctx in images:
        rows = y[ctx["start"]:ctx["start"] + g * g]
        if not unet:
            eps_out.append(linear(w, rows, "image.decoder.proj"))
            continue
        groups = im["unet"]["norm_groups"]
        levels = len(im["unet"]["channels"])
        h = conv2d(w, "image.decoder.proj_in", rows.T.reshape(d, g, g))
        skips = list(ctx["skips"])
        for l in reversed(range(levels)):
            for r in range(im["unet"]["num_res_blocks"]):
                h = res_block(w, f"image.decoder.up.{l}.res.{r}",
                              np.concatenate([h, skips.pop()], 0), ctx["tau"], groups)
            if l > 0:
                h = conv2d(w, f"image.decoder.up.{l}.upsample", h.repeat(2, axis=1).repeat(2, axis=2))
        e = conv2d(w, "image.decoder.conv_out", silu(group_norm(w, "image.decoder.norm_out", h, groups)))
        eps_out.append(patchify(e, p))
    eps_all = np.concatenate(eps_out, 0) if eps_out else np.zeros((0, c * p * p), np.float32)
    return logits, eps_all
