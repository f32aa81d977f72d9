"""`peer.py check`: evidence that the peer does the same work as infusion, so that comparing their
speed compares implementations, not workloads.

Text: the peer's greedy tokens (a static, left-padded batch with a KV cache) are compared with
  1. infusion-server's reply to the same prompt (gRPC Chat, greedy, end tokens ignored, the same
     number of new tokens): same text, same prompt length, same number of generated tokens; the
     server streams text, which drops control tokens, so in addition
  2. `infusion-tool forward` (infusion's reference forward) on the prompt plus the peer's tokens:
     at every generated position infusion's argmax must be the peer's token. By induction that
     is "infusion's greedy decoding yields exactly these tokens".
Images: the peer and infusion-server draw the same prompt with the same seed (the peer
  reimplements infusion's RNG, engine/sampler/rng.cc, so both start from the same noise); the
  server's PNG must match the peer's pixels, rounded the same way, within a tolerance.
"""

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import torch

import peer

# Prompts of different token lengths, so that the batch is really left-padded.
CHAT_INDICES = [0, 20, 61, 151]
IMAGE_INDICES = [3, 100]
# Images: 8-bit RGB levels, checked against two servers. With --bf16_images=false the two sides
# compute the same float32 arithmetic in different operator orders (the engine's fused kernels and
# paged attention, the peer's plain LibTorch), so the latents differ by float rounding, which 25
# guided DDIM steps and the TAEF2 decoder amplify a little. With default flags, on a CPU with
# AVX512-BF16, infusion's image products and TAEF2 decode run in bfloat16 (float32 sums): the same
# work at a looser, stated tolerance (measured: max 8, mean 0.05). An unrelated image differs by
# far more (printed as the scale).
IMAGE_TOLERANCES = [  # server flags, max |difference|, mean |difference|
    ([], 24, 1.0),  # the server that answered the chat prompts
    (["--bf16_images=false"], 8, 0.5),
]


def read_png_rgb(data):
    """8-bit RGB or RGBA, non-interlaced PNG -> [H, W, 3] uint8 tensor (stb's output)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, "unsupported PNG"
        elif kind == b"IDAT":
            idat += body
    channels = 3 if color == 2 else 4
    stride, raw = width * channels, zlib.decompress(idat)
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)  # each row: a filter byte, then the filtered bytes
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    pixels = torch.frombuffer(bytearray(b"".join(rows)), dtype=torch.uint8)
    return pixels.view(height, width, channels)[:, :, :3]


def to_levels(pixels):
    """[3, H, W] in [0, 1] -> [H, W, 3] uint8, as engine/codec/latents.cc TensorToImage."""
    return (pixels * 255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)


class InfusionServer:
    """infusion-server on loopback, ports chosen by the kernel, and gRPC stubs generated from
    proto/ at run time (Debian's python3-grpc-tools), as tests/server/python_client_test.py."""

    def __init__(self, binary, model_dir, proto_dir, work_dir, threads, flags=()):
        from grpc_tools import protoc
        rc = protoc.main(["protoc", "-I", proto_dir, "--python_out=" + work_dir,
                          "--grpc_python_out=" + work_dir, "infusion/v1/infusion.proto"])
        if rc != 0:
            raise RuntimeError("protoc failed")
        sys.path.insert(0, work_dir)
        import grpc
        from infusion.v1 import infusion_pb2, infusion_pb2_grpc
        self.pb = infusion_pb2
        port_file = os.path.join(work_dir, "ports")
        if os.path.exists(port_file):  # a server started before this one
            os.remove(port_file)
        self.log_path = os.path.join(work_dir, "server.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [binary, "--model=" + model_dir, "--host=127.0.0.1", "--port=0",
                 "--metrics_port=0", "--port_file=" + port_file, f"--threads={threads}",
                 *flags],
                stdout=log, stderr=subprocess.STDOUT)
        ports, deadline = {}, time.time() + 120
        while "grpc" not in ports:
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("infusion-server did not start:\n" + open(self.log_path).read())
            if os.path.exists(port_file):
                with open(port_file) as f:
                    ports = dict(line.split() for line in f if len(line.split()) == 2)
            time.sleep(0.05)
        self.channel = grpc.insecure_channel("127.0.0.1:" + ports["grpc"])
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = infusion_pb2_grpc.InfusionStub(self.channel)

    def chat(self, text, max_tokens):
        """Greedy reply with end tokens ignored -> (text, Usage)."""
        pb = self.pb
        request = pb.ChatRequest(
            messages=[pb.Message(role="user", parts=[pb.Part(text=text)])],
            text=pb.TextParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True),
            max_images=0)  # as infusion-bench's chat: the reply may not open an image
        pieces, usage = [], None
        for event in self.stub.Chat(request, timeout=300):
            if event.HasField("text"):
                pieces.append(event.text.text)
            elif event.HasField("finish"):
                usage = event.finish.usage
        return "".join(pieces), usage

    def text_to_image(self, prompt, seed):
        """PNG bytes; steps, guidance and sampler are the model's defaults (generation.json)."""
        request = self.pb.TextToImageRequest(prompt=prompt, image=self.pb.ImageParams(seed=seed))
        for event in self.stub.TextToImage(request, timeout=300):
            if event.HasField("image"):
                return event.image.png
        raise RuntimeError("no image in the stream")

    def stop(self):
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=60)


def tool_logits(tool, model_dir, ids, work_dir):
    """infusion-tool forward on one text sequence -> logits [len(ids), vocab]."""
    seq, out = os.path.join(work_dir, "seq.json"), os.path.join(work_dir, "forward.safetensors")
    with open(seq, "w") as f:
        json.dump({"segments": [{"text": ids}]}, f)
    subprocess.run([tool, "forward", "--model", model_dir, "--input", seq, "--out", out,
                    "--threads=1"], check=True, stdout=subprocess.DEVNULL)
    return peer.read_safetensors(out)["logits"]


def check_rng():
    """The 10,000th output of a default-seeded std::mt19937_64 is fixed by the C++ standard."""
    rng = peer.InfusionRng(5489)
    for _ in range(9999):
        rng.next_u64()
    return rng.next_u64() == 9981545732273789042


def run(args, model):
    failures = []

    def verdict(ok, line):
        print(("PASS " if ok else "FAIL ") + line)
        if not ok:
            failures.append(line)

    verdict(check_rng(), "rng: std::mt19937_64 reimplementation (10,000th output of seed 5489)")
    work_dir = tempfile.mkdtemp(prefix="peer-check-")
    server = None
    try:
        n = args.chat_tokens
        prompts = [model.chat_prompt_ids(peer.chat_prompt(i)) for i in CHAT_INDICES]
        images = [model.image_prompt_ids(peer.image_prompt(i)) for i in IMAGE_INDICES]
        with torch.inference_mode():
            tokens = model.generate_chat(prompts, n)
            pixels, _ = model.generate_images(images, IMAGE_INDICES)
        server = InfusionServer(args.server, args.model, os.path.abspath(args.proto_dir),
                                work_dir, args.threads)

        print(f"chat: {len(prompts)} prompts of {sorted(len(p) for p in prompts)} tokens in one "
              f"left-padded batch, {n} greedy tokens each, end tokens ignored")
        for index, ids, row in zip(CHAT_INDICES, prompts, tokens.tolist()):
            text, usage = server.chat(peer.chat_prompt(index), n)
            mine = model.tokenizer.decode(row)
            verdict(text == mine and usage.prompt_tokens == len(ids)
                    and usage.generated_tokens == n,
                    f"chat[{index}] vs infusion-server: text equal {text == mine}, prompt "
                    f"{usage.prompt_tokens}/{len(ids)} tokens, generated "
                    f"{usage.generated_tokens}/{n}")
            if text != mine:
                print(f"  infusion: {text!r}\n  peer:     {mine!r}")
            sequence = ids + row[:-1]
            raw = tool_logits(args.tool, args.model, sequence, work_dir)
            with torch.inference_mode():
                diff = (model.full_logits(sequence) - raw).abs().max().item()
            c = model.config  # the engine's token rules, as Transfusion.text_logits
            generated = raw[len(ids) - 1:].clone()
            generated[:, [c["bos_token_id"], c["boi_token_id"], c["eoi_token_id"]]] = -math.inf
            greedy = generated.argmax(-1).tolist()
            top2 = generated.topk(2, -1).values
            margin = (top2[:, 0] - top2[:, 1]).min().item()
            agree = sum(a == b for a, b in zip(greedy, row))
            verdict(greedy == row, f"chat[{index}] vs infusion-tool forward: argmax equals the "
                    f"peer's token at {agree}/{n} positions; smallest top-1/top-2 logit gap "
                    f"{margin:.3f}; max |logit difference| {diff:.2e}")

        steps = len(model.sampler.timesteps)
        for flags, max_diff, mean_diff in IMAGE_TOLERANCES:
            if flags:  # a server of its own for these flags
                server.stop()
                server = InfusionServer(args.server, args.model, os.path.abspath(args.proto_dir),
                                        work_dir, args.threads, flags)
            print(f"t2i, infusion-server {' '.join(flags) or 'with default flags'}: "
                  f"{len(images)} prompts in one batch, seeds {IMAGE_INDICES}, {steps} steps, "
                  f"guidance {model.guidance}, TAEF2 decode; tolerance: max |difference| <= "
                  f"{max_diff} and mean <= {mean_diff} of 255 levels")
            theirs_all = []
            for index, mine in zip(IMAGE_INDICES, pixels):
                theirs = read_png_rgb(server.text_to_image(peer.image_prompt(index), index))
                theirs_all.append(theirs)
                diff = (to_levels(mine).int() - theirs.int()).abs().float()
                verdict(diff.max().item() <= max_diff and diff.mean().item() <= mean_diff,
                        f"t2i[{index}] vs infusion-server PNG: max |difference| "
                        f"{diff.max().item():.0f}, mean {diff.mean().item():.3f} levels, "
                        f"{(diff > 0).float().mean().item() * 100:.1f}% of values differ")
            scale = (theirs_all[0].int() - theirs_all[1].int()).abs().float()
            print(f"  scale: infusion's two images differ from each other by max "
                  f"{scale.max():.0f}, mean {scale.mean():.3f} levels")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    print("check: " + ("PASS" if not failures else f"FAIL ({len(failures)} failed)"))
    return 0 if not failures else 1
