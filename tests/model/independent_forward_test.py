"""Done-when check of the model format: for random models of both patch-encoder variants,
`infusion-tool forward` matches the NumPy implementation of docs/model-format.md
(independent_forward.py) to 1e-4 relative to each output's largest magnitude.

usage: independent_forward_test.py INFUSION_TOOL SOURCE_DIR WORK_DIR"""

import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import independent_forward as ref  # noqa: E402


def check(tool, source_dir, work, variant):
    model = os.path.join(work, variant)
    subprocess.run([tool, "init", "--config", f"{source_dir}/tests/data/configs/tiny-{variant}.json",
                    "--out", model, "--seed", "5",
                    "--tokenizer_corpus", f"{source_dir}/tests/data/corpus.txt"], check=True,
                   stdout=subprocess.DEVNULL)
    config = json.load(open(os.path.join(model, "config.json")))
    weights = ref.read_safetensors(os.path.join(model, "model.safetensors"))
    im = config["image"]
    n = (im["latent_size"] // im["patch_size"]) ** 2
    dim = im["latent_channels"] * im["patch_size"] ** 2
    rng = np.random.default_rng(1)
    images = [rng.standard_normal((n, dim)).astype(np.float32) for _ in range(2)]
    for i, patches in enumerate(images):
        ref.write_safetensors(os.path.join(work, f"{variant}_img{i}.safetensors"), {"patches": patches})
    segments = [("text", [2, 17, 40, 4]), ("image", images[0], 250), ("text", [5, 33, 61]),
                ("image", images[1], 0), ("text", [5, 12])]
    seq = {"segments": []}
    for seg in segments:
        if seg[0] == "text":
            seq["segments"].append({"text": seg[1]})
        else:
            idx = 0 if seg[1] is images[0] else 1
            seq["segments"].append({"image": f"{variant}_img{idx}.safetensors", "t": seg[2]})
    seq_path = os.path.join(work, f"{variant}_seq.json")
    json.dump(seq, open(seq_path, "w"))
    out_path = os.path.join(work, f"{variant}_out.safetensors")
    subprocess.run([tool, "forward", "--model", model, "--input", seq_path, "--out", out_path],
                   check=True)
    got = ref.read_safetensors(out_path)
    want_logits, want_eps = ref.forward(config, weights, segments)
    ok = True
    for name, want in (("logits", want_logits), ("eps", want_eps)):
        have = got[name]
        if have.shape != want.shape:
            print(f"{variant} {name}: shape {have.shape} != {want.shape}")
            ok = False
            continue
        err = np.abs(have - want).max() / max(np.abs(want).max(), 1e-12)
        print(f"{variant} {name} {list(have.shape)}: max relative error {err:.2e}")
        ok &= err <= 1e-4
    return ok


def main():
    tool, source_dir, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    results = [check(tool, source_dir, work, v) for v in ("linear", "unet")]
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
