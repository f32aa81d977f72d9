#!/usr/bin/env python3
"""Weighted average of two model.safetensors files of the same model ("model soup").

    scripts/average_weights.py A.safetensors B.safetensors --alpha 0.5 --out OUT.safetensors

Writes (1 - alpha) * A + alpha * B for every tensor. Both files must hold the same tensor names,
dtypes (F32 or F16) and shapes, as two checkpoints of one training lineage do (a fine-tune and
the model it started from); the output keeps A's header layout and metadata. Averaging the
weights of fine-tunes that start from a common model is the "model soup" of Wortsman et al.
(arXiv 2203.05482). Standard library only.
"""
import argparse
import json
import struct
import sys

FORMATS = {"F32": ("f", 4), "F16": ("e", 2)}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + length])
    return header, data[8 + length:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--alpha", type=float, required=True, help="weight of B, in [0, 1]")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        sys.exit(f"--alpha must be in [0, 1], got {args.alpha}")
    header_a, body_a = read(args.a)
    header_b, body_b = read(args.b)
    names_a = {k for k in header_a if k != "__metadata__"}
    names_b = {k for k in header_b if k != "__metadata__"}
    if names_a != names_b:
        sys.exit(f"tensor names differ: only in A {sorted(names_a - names_b)}, "
                 f"only in B {sorted(names_b - names_a)}")
    out = bytearray(body_a)
    for name in sorted(names_a):
        ta, tb = header_a[name], header_b[name]
        if ta["dtype"] != tb["dtype"] or ta["shape"] != tb["shape"]:
            sys.exit(f"{name}: {ta['dtype']}{ta['shape']} in A, {tb['dtype']}{tb['shape']} in B")
        if ta["dtype"] not in FORMATS:
            sys.exit(f"{name}: dtype {ta['dtype']} is not supported (F32, F16)")
        code, size = FORMATS[ta["dtype"]]
        begin_a, end_a = ta["data_offsets"]
        begin_b, end_b = tb["data_offsets"]
        count = (end_a - begin_a) // size
        fmt = f"<{count}{code}"
        xa = struct.unpack_from(fmt, body_a, begin_a)
        xb = struct.unpack_from(fmt, body_b, begin_b)
        w = args.alpha
        struct.pack_into(fmt, out, begin_a, *[(1.0 - w) * x + w * y for x, y in zip(xa, xb)])
    encoded = json.dumps(header_a, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(args.out, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        f.write(out)
    print(f"wrote {args.out}: {len(names_a)} tensors, {1 - args.alpha:g} x {args.a} + "
          f"{args.alpha:g} x {args.b}")


if __name__ == "__main__":
    main()
