#!/usr/bin/python3
"""Writes the seed corpora of fuzz/corpus/ (committed; run again only to change them).

Needs Debian's python3-pil, python3-protobuf, protoc and spm_train. Seeds are small real files
(the repository's models, images and configs), layouts the decoders treat differently, and the
crafted inputs of issue #22: files that claim huge images, compressed data that inflates far past
its pixels, JPEG scans repeated, and UTF-8 that is not.

    /usr/bin/python3 fuzz/make_seeds.py
    /usr/bin/python3 fuzz/make_seeds.py http   # the HTTP bodies' seeds alone
"""
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
rng = random.Random(22)


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def copy(target, name, path):
    with open(os.path.join(ROOT, path), "rb") as f:
        write(target, name, f.read())


# ---- images -------------------------------------------------------------------------------------

def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(width, height, bit_depth, color_type, interlaced, data):
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlaced)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(data, 9))
            + chunk(b"IEND", b""))


def adam7_bytes(width, height, bits_per_pixel):
    total = 0
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):
        w, h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if w > 0 and h > 0:
            total += h * (1 + (w * bits_per_pixel + 7) // 8)
    return total


def pil(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def noise(mode, size):
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4}[mode]
    return Image.frombytes(mode, size, bytes(rng.randrange(256)
                                             for _ in range(size[0] * size[1] * channels)))


def image_seeds():
    copy("image", "red_circle.png", "tests/data/images/shapes/red_circle.png")
    copy("image", "star_rgba.png", "tests/data/images/emoji/star.png")
    write("image", "gray.png", pil(noise("L", (7, 5)), "PNG"))
    write("image", "gray_alpha.png", pil(noise("LA", (5, 7)), "PNG"))
    write("image", "rgba.png", pil(noise("RGBA", (9, 4)), "PNG"))
    palette = noise("RGB", (12, 12)).convert("P", palette=Image.ADAPTIVE, colors=8)
    write("image", "palette_transparent.png", pil(palette, "PNG", transparency=3))
    gray16 = Image.frombytes("I;16", (6, 6), bytes(rng.randrange(256) for _ in range(72)))
    write("image", "gray16.png", pil(gray16, "PNG"))
    # Adam7-interlaced 16-bit RGBA, which Pillow does not write: the costliest PNG layout.
    data = bytes(rng.randrange(256) for _ in range(adam7_bytes(10, 9, 64)))
    data = bytes(b if i % 7 else 0 for i, b in enumerate(data))  # some filter bytes valid
    write("image", "rgba16_interlaced.png", png(10, 9, 16, 6, 1, data))
    write("image", "baseline.jpg", pil(noise("RGB", (16, 16)), "JPEG", quality=80))
    write("image", "subsampled_odd.jpg", pil(noise("RGB", (17, 13)), "JPEG", subsampling=2))
    write("image", "gray.jpg", pil(noise("L", (8, 8)), "JPEG"))
    write("image", "progressive.jpg", pil(noise("RGB", (24, 16)), "JPEG", progressive=True))
    write("image", "cmyk.jpg", pil(noise("CMYK", (8, 8)), "JPEG"))
    write("image", "garbage.bin", bytes(rng.randrange(256) for _ in range(256)))
    # Bombs. Headers alone that claim 5000x5000 and 1x16777216 (both refused before decoding).
    header_only = lambda w, h: (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", b"junk") + chunk(b"IEND", b""))
    write("image", "bomb_5000x5000_header.png", header_only(5000, 5000))
    write("image", "bomb_strip_1x16777216_header.png", header_only(1, 1 << 24))
    # A JPEG frame header claiming 65535 x 65535.
    write("image", "bomb_65535x65535_header.jpg",
          b"\xFF\xD8\xFF\xC0" + struct.pack(">HBHHB", 11, 8, 65535, 65535, 1) + b"\x01\x11\x00")
    # 1 x 1 pixel whose data inflates to 16 MB (interlaced: stb_image accepts the surplus).
    write("image", "bomb_1x1_inflates_16mb.png", png(1, 1, 8, 2, 1, bytes(16 << 20)))
    # One 8 x 8 JPEG scan repeated 150 times.
    jpeg = pil(noise("RGB", (8, 8)), "JPEG")
    scan, end = jpeg.index(b"\xFF\xDA"), jpeg.rindex(b"\xFF\xD9")
    write("image", "bomb_150_scans.jpg", jpeg[:end] + jpeg[scan:end] * 149 + b"\xFF\xD9")


# ---- safetensors --------------------------------------------------------------------------------

def safetensors(entries, metadata=None):
    """entries: (name, dtype, shape, raw bytes)"""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data),
                                                                         len(data) + len(raw)]}
        data += raw
    import json
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = struct.pack("<4f", 1.0, -2.5, 3.25, 0.0)
    f16 = struct.pack("<3e", 1.0, -0.5, 65504.0)
    bf16 = struct.pack("<f", 3.0)[2:]
    write("safetensors", "three_dtypes.safetensors",
          safetensors([("layers.0.weight", "F32", [2, 2], f32), ("bias", "F16", [3], f16),
                       ("scale", "BF16", [], bf16)], {"format": "pt"}))
    write("safetensors", "empty.safetensors", safetensors([]))
    write("safetensors", "zero_sized.safetensors", safetensors([("empty", "F32", [0, 4], b"")]))
    write("safetensors", "unaligned.safetensors",
          safetensors([("a", "F16", [1], f16[:2]), ("b", "F32", [1], f32[:4])]))


# ---- configs ------------------------------------------------------------------------------------

def config_seeds():
    copy("model_config", "shapes.json", "models/shapes/config.json")
    copy("model_config", "emoji.json", "models/emoji/config.json")
    copy("model_config", "tiny_linear.json", "tests/data/configs/tiny-linear.json")
    copy("model_config", "tiny_unet.json", "tests/data/configs/tiny-unet.json")
    copy("generation_config", "shapes.json", "models/shapes/generation.json")
    copy("generation_config", "emoji.json", "models/emoji/generation.json")
    write("generation_config", "empty.json", b"{}")
    write("generation_config", "ddpm.json",
          b'{"sampler": "ddpm", "eta": 1.0, "top_k": 5, "temperature": 0.7, "max_tokens": 1}')


# ---- tokenizer ----------------------------------------------------------------------------------

def tokenizer_seeds():
    copy("tokenizer", "shapes.model", "models/shapes/tokenizer.model")
    with tempfile.TemporaryDirectory() as scratch:
        shutil.copy(os.path.join(ROOT, "tests/data/corpus.txt"), os.path.join(scratch, "c.txt"))
        for kind, extra in (("bpe", ["--normalization_rule_name=identity"]),
                            ("unigram", ["--normalization_rule_name=identity",
                                         "--add_dummy_prefix=false"])):
            subprocess.run(["spm_train", "--input=c.txt", "--model_prefix=" + kind,
                            "--model_type=" + kind, "--vocab_size=320",
                            "--hard_vocab_limit=false", "--byte_fallback=true",
                            "--character_coverage=1.0", "--minloglevel=2",
                            "--control_symbols=<boi>,<eoi>"] + extra,
                           cwd=scratch, check=True, capture_output=True)
            shutil.copy(os.path.join(scratch, kind + ".model"),
                        os.path.join(CORPUS, "tokenizer", "tiny_%s.model" % kind))


# ---- gRPC requests ------------------------------------------------------------------------------

def request_seeds():
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["protoc", "-I", os.path.join(ROOT, "proto"), "--python_out=" + scratch,
                        "infusion/v1/infusion.proto"], check=True)
        sys.path.insert(0, scratch)
        from infusion.v1 import infusion_pb2 as pb
    with open(os.path.join(ROOT, "tests/data/images/shapes/red_circle.png"), "rb") as f:
        red_circle = f.read()
    # The first byte picks the message type (request_parser_fuzzer.cc).
    seeds = {
        "generate": (0, pb.GenerateRequest(
            parts=[pb.Part(text="Once upon a time "), pb.Part(image=pb.Image(data=red_circle))],
            text=pb.TextParams(max_tokens=8, temperature=0.5, stop=["\n", "ünï"]),
            image=pb.ImageParams(steps=4, sampler="ddim"), max_images=2)),
        "text_to_image": (1, pb.TextToImageRequest(
            prompt="a red circle", image=pb.ImageParams(steps=3, guidance_scale=0.0, seed=7))),
        "caption": (2, pb.CaptionRequest(image=pb.Image(data=red_circle), prompt="A photo of",
                                         text=pb.TextParams(top_p=0.9, top_k=3))),
        "chat": (3, pb.ChatRequest(messages=[
            pb.Message(role="system", parts=[pb.Part(text="Be brief.")]),
            pb.Message(role="user", parts=[pb.Part(text="what color is the circle?"),
                                           pb.Part(image=pb.Image(data=red_circle))])])),
        "edit_image": (4, pb.EditImageRequest(image=pb.Image(data=red_circle),
                                              instruction="make the red circle blue",
                                              image_params=pb.ImageParams(eta=0.5))),
        "model_info": (5, pb.GetModelInfoRequest()),
    }
    for name, (kind, message) in seeds.items():
        write("request_parser", name + ".bin", bytes([kind]) + message.SerializeToString())
    # Hand-made wire bytes: invalid UTF-8 two messages deep (ChatRequest.messages[1].parts[0].text),
    # and a truncated message.
    field = lambda number, payload: bytes([number << 3 | 2, len(payload)]) + payload
    good = field(1, b"user") + field(2, field(1, b"hi"))
    bad = field(1, b"user") + field(2, field(1, b"\xc3\x28"))
    write("request_parser", "chat_invalid_utf8.bin", bytes([3]) + field(1, good) + field(1, bad))
    write("request_parser", "truncated.bin", b"\x01\x0a\x10trunc")


# ---- HTTP bodies --------------------------------------------------------------------------------

def http_seeds():
    import base64
    import json
    with open(os.path.join(CORPUS, "image", "red_circle.png"), "rb") as f:
        red_circle = f.read()
    data_url = "data:image/png;base64," + base64.b64encode(red_circle).decode()
    bodies = {
        "chat": {"model": "shapes", "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "what color is it?"},
                                         {"type": "image_url", "image_url": {"url": data_url}}]},
            {"role": "assistant"}],
            "max_completion_tokens": 16, "temperature": 0.7, "top_p": 0.9, "top_k": 5,
            "min_p": 0.1, "repetition_penalty": 1.1, "seed": 18446744073709551615,
            "stop": ["\n", "END"], "stream": True, "stream_options": {"include_usage": True},
            "n": 1, "logprobs": False, "frequency_penalty": 0, "user": "x"},
        "chat_old_image_url": {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": "data:image/jpeg;base64,/9j/"}]}],
            "max_tokens": 10.0, "seed": -3, "stop": "x"},
        "completion": {"model": "shapes", "prompt": ["a red"], "max_tokens": 8, "echo": True,
                       "ignore_eos": True, "stream": False},
        "image": {"model": "shapes", "prompt": "a red circle", "n": 2, "size": "64x64",
                  "response_format": "b64_json", "output_format": "png", "seed": 7,
                  "steps": 4, "guidance_scale": 2.5},
        "image_stream": {"prompt": "a blue square", "stream": True, "partial_images": 3,
                         "size": "auto"},
        "refused": {"messages": "hi", "n": 2, "tools": [{}], "top_p": 1e300,
                    "max_tokens": 99999999999, "temperature": "hot"},
    }
    for name, body in bodies.items():
        write("http_json", name + ".json", json.dumps(body).encode())
    write("http_json", "not_object.json", b"[1, 2, {\"messages\": []}]")
    write("http_json", "invalid_utf8.json",
          b'{"prompt": "\xc3\x28", "messages": [{"role": "\xff", "content": "a"}]}')

    def form(parts):
        out = b""
        for name, value, filename in parts:
            disposition = b'form-data; name="' + name + b'"'
            if filename is not None:
                disposition += b'; filename="' + filename + b'"'
            out += b"--infusion-fuzz\r\nContent-Disposition: " + disposition + b"\r\n"
            if filename is not None:
                out += b"Content-Type: image/png\r\n"
            out += b"\r\n" + value + b"\r\n"
        return out + b"--infusion-fuzz--\r\n"

    write("http_image_edit", "edit.form", form([
        (b"image", red_circle, b"circle.png"), (b"prompt", b"make it blue", None),
        (b"n", b"2", None), (b"size", b"64x64", None), (b"seed", b"7", None),
        (b"steps", b"3", None), (b"guidance_scale", b"1.5", None),
        (b"response_format", b"b64_json", None)]))
    write("http_image_edit", "edit_list_stream.form", form([
        (b"image[]", red_circle[:64], b"a.png"), (b"prompt", b"x", None),
        (b"stream", b"true", None), (b"partial_images", b"2", None),
        (b"mask", b"ignored", b"mask.png")]))
    write("http_image_edit", "no_image.form", form([(b"prompt", b"make it blue", None)]))
    write("http_image_edit", "bad_numbers.form", form([
        (b"image", b"\x89PNG", b"i.png"), (b"prompt", b"p", None), (b"n", b"1e300", None),
        (b"guidance_scale", b"-1e39", None), (b"steps", b"2.5", None)]))
    write("http_image_edit", "truncated.form", form([(b"prompt", b"p", None)])[:40])


if __name__ == "__main__":
    if sys.argv[1:] == ["http"]:  # only the HTTP bodies' seeds (no PIL, protoc or spm_train)
        http_seeds()
        sys.exit(0)
    image_seeds()
    safetensors_seeds()
    config_seeds()
    tokenizer_seeds()
    request_seeds()
    http_seeds()
