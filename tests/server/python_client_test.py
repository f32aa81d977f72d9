#!/usr/bin/env python3
"""A client no one here wrote: Debian's Python grpcio, with stubs generated from the .proto files
alone (by grpc_tools.protoc, at test time), calls every RPC of a real infusion-server."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def generate_stubs(out_dir):
    from grpc_tools import protoc

    here = os.path.dirname(os.path.abspath(__file__))
    # The health and reflection protos are compiled from the top of out_dir: as grpc/health/...
    # their modules would hide inside the `grpc` package, which is grpcio's.
    shutil.copy(os.path.join(ARGS.proto_dir, "grpc/health/v1/health.proto"), out_dir)
    shutil.copy(os.path.join(here, "reflection.proto"), out_dir)
    for include, proto in [(ARGS.proto_dir, "infusion/v1/infusion.proto"),
                           (out_dir, "health.proto"), (out_dir, "reflection.proto")]:
        rc = protoc.main(["protoc", "-I", include, "--python_out=" + out_dir,
                          "--grpc_python_out=" + out_dir, proto])
        if rc != 0:
            raise RuntimeError("protoc failed on " + proto)
    sys.path.insert(0, out_dir)


class Server:
    """infusion-server on loopback ports the kernel picks."""

    def __init__(self, work_dir):
        self.port_file = os.path.join(work_dir, "ports")
        self.log_path = os.path.join(work_dir, "server.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [ARGS.server, "--model=" + ARGS.model, "--host=127.0.0.1", "--port=0",
                 "--metrics_port=0", "--port_file=" + self.port_file, "--threads=1"],
                stdout=log, stderr=subprocess.STDOUT)
        ports = {}
        deadline = time.time() + 60
        while len(ports) < 2:
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError("infusion-server did not start:\n" + self.log())
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    ports = dict(line.split() for line in f if line.strip())
            time.sleep(0.02)
        self.address = "127.0.0.1:" + ports["grpc"]

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        self.process.terminate()
        return self.process.wait(timeout=60)


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import grpc
        import health_pb2
        import health_pb2_grpc
        from infusion.v1 import infusion_pb2_grpc

        cls.work_dir = tempfile.mkdtemp(prefix="infusion-python-test-")
        cls.server = Server(cls.work_dir)
        cls.channel = grpc.insecure_channel(cls.server.address)
        cls.stub = infusion_pb2_grpc.InfusionStub(cls.channel)
        health = health_pb2_grpc.HealthStub(cls.channel)
        deadline = time.time() + 60
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if time.time() > deadline:
                raise RuntimeError("never SERVING:\n" + cls.server.log())
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        exit_code = cls.server.stop()
        shutil.rmtree(cls.work_dir, ignore_errors=True)
        assert exit_code == 0, "infusion-server exited with %d" % exit_code

    def image(self):
        from infusion.v1 import infusion_pb2 as pb
        with open(ARGS.image, "rb") as f:
            return pb.Image(data=f.read())

    def events(self, stream):
        """The kinds of a stream's events (t, p, i, f) and the events themselves."""
        kinds, events = "", []
        for response in stream:
            kinds += {"text": "t", "progress": "p", "image": "i", "finish": "f"}[
                response.WhichOneof("event")]
            events.append(response)
        return kinds, events

    def test_health_reports_serving(self):
        import health_pb2
        import health_pb2_grpc
        health = health_pb2_grpc.HealthStub(self.channel)
        for service in ["", "infusion.v1.Infusion"]:
            response = health.Check(health_pb2.HealthCheckRequest(service=service))
            self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING, service)

    def test_reflection_lists_the_services(self):
        import reflection_pb2 as rpb
        import reflection_pb2_grpc
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        requests = [rpb.ServerReflectionRequest(list_services=""),
                    rpb.ServerReflectionRequest(file_containing_symbol="infusion.v1.Infusion")]
        listed, described = list(stub.ServerReflectionInfo(iter(requests)))
        names = {s.name for s in listed.list_services_response.service}
        self.assertIn("infusion.v1.Infusion", names)
        self.assertIn("grpc.health.v1.Health", names)
        self.assertTrue(described.file_descriptor_response.file_descriptor_proto)

    def test_get_model_info(self):
        from infusion.v1 import infusion_pb2 as pb
        info = self.stub.GetModelInfo(pb.GetModelInfoRequest())
        self.assertEqual(info.context_length, 256)
        self.assertEqual(info.image_size, 32)
        self.assertTrue(info.default_image.HasField("steps"))

    def test_text_to_image(self):
        from infusion.v1 import infusion_pb2 as pb
        request = pb.TextToImageRequest(
            prompt="a red circle",
            image=pb.ImageParams(steps=3, guidance_scale=0.0, seed=0, preview_every=1))
        kinds, events = self.events(self.stub.TextToImage(request))
        self.assertEqual(kinds, "pppif")
        self.assertTrue(events[0].progress.preview_png.startswith(PNG_MAGIC))
        self.assertTrue(events[3].image.png.startswith(PNG_MAGIC))
        self.assertEqual((events[3].image.width, events[3].image.height), (32, 32))
        self.assertEqual(events[4].finish.reason, "image")
        self.assertEqual(events[4].finish.usage.image_steps, 3)
        self.assertEqual(events[3].image.seed, 0)  # the seed asked for, 0 included

    def test_an_unseeded_image_carries_the_seed_that_draws_it_again(self):
        from infusion.v1 import infusion_pb2 as pb
        unseeded = pb.TextToImageRequest(prompt="a blue square", image=pb.ImageParams(steps=2))
        _, events = self.events(self.stub.TextToImage(unseeded))
        (first,) = [e.image for e in events if e.HasField("image")]
        _, events = self.events(self.stub.TextToImage(unseeded))
        (second,) = [e.image for e in events if e.HasField("image")]
        self.assertNotEqual(first.seed, second.seed)  # drawn at random for each call
        seeded = pb.TextToImageRequest(prompt="a blue square",
                                       image=pb.ImageParams(steps=2, seed=first.seed))
        _, events = self.events(self.stub.TextToImage(seeded))
        (again,) = [e.image for e in events if e.HasField("image")]
        self.assertEqual(again.seed, first.seed)
        self.assertEqual(again.png, first.png)

    def test_edit_image(self):
        from infusion.v1 import infusion_pb2 as pb
        request = pb.EditImageRequest(image=self.image(), instruction="make the circle blue",
                                      image_params=pb.ImageParams(steps=2))
        kinds, events = self.events(self.stub.EditImage(request))
        self.assertEqual(kinds, "ppif")
        self.assertEqual(events[-1].finish.reason, "image")

    def test_caption(self):
        from infusion.v1 import infusion_pb2 as pb
        request = pb.CaptionRequest(image=self.image(), prompt="A picture of",
                                    text=pb.TextParams(max_tokens=4, temperature=0.0))
        kinds, events = self.events(self.stub.Caption(request))
        self.assertRegex(kinds, "^t*f$")
        self.assertIn(events[-1].finish.reason, ("stop", "length"))

    def test_chat(self):
        from infusion.v1 import infusion_pb2 as pb
        request = pb.ChatRequest(
            messages=[pb.Message(role="system", parts=[pb.Part(text="Be brief.")]),
                      pb.Message(role="user", parts=[pb.Part(image=self.image()),
                                                     pb.Part(text="What is this?")])],
            text=pb.TextParams(max_tokens=4), max_images=0)
        kinds, events = self.events(self.stub.Chat(request))
        self.assertRegex(kinds, "^t*f$")
        self.assertIn(events[-1].finish.reason, ("stop", "length"))

    def test_request_id_is_echoed_and_names_the_log_line(self):
        from infusion.v1 import infusion_pb2 as pb
        request = pb.CaptionRequest(image=self.image(), prompt="A picture of",
                                    text=pb.TextParams(max_tokens=3, temperature=0.0))
        call = self.stub.Caption(request, metadata=[("x-request-id", "py-7")])
        kinds, events = self.events(call)
        self.assertEqual(dict(call.initial_metadata()).get("x-request-id"), "py-7")
        lines = [l for l in self.server.log().splitlines() if '"request_id":"py-7"' in l]
        self.assertEqual(len(lines), 1, self.server.log())
        logged = json.loads(lines[0][lines[0].index("{"):])
        self.assertEqual(logged["frontend"], "grpc")
        self.assertEqual(logged["kind"], "Caption")
        self.assertEqual(logged["status"], "OK")
        self.assertEqual(logged["output_tokens"], events[-1].finish.usage.generated_tokens)
        self.assertEqual(logged["prompt_tokens"], events[-1].finish.usage.prompt_tokens)
        self.assertGreater(logged["latency_seconds"], 0)
        # An id no log should carry whole: cut to 128 characters, odd ones replaced.
        call = self.stub.Caption(request, metadata=[("x-request-id", "a b\"c" + "x" * 300)])
        self.events(call)
        echoed = dict(call.initial_metadata()).get("x-request-id")
        self.assertEqual(echoed, "a_b_c" + "x" * 123)
        # Without one, the server makes one up.
        call = self.stub.Caption(request)
        self.events(call)
        self.assertRegex(dict(call.initial_metadata()).get("x-request-id"), "^[0-9a-f]{16}$")

    def test_generate(self):
        from infusion.v1 import infusion_pb2 as pb
        request = pb.GenerateRequest(
            parts=[pb.Part(text="Look:"), pb.Part(image=self.image()), pb.Part(text="It is")],
            text=pb.TextParams(max_tokens=4), image=pb.ImageParams(steps=2))
        kinds, events = self.events(self.stub.Generate(request))
        self.assertRegex(kinds, "^(t|p+i)*f$")

    def test_invalid_requests_are_invalid_argument(self):
        import grpc
        from infusion.v1 import infusion_pb2 as pb
        cases = [
            (self.stub.TextToImage, pb.TextToImageRequest(prompt=""), "prompt"),
            (self.stub.TextToImage,
             pb.TextToImageRequest(prompt="x", image=pb.ImageParams(steps=0)), "image.steps"),
            (self.stub.Caption, pb.CaptionRequest(image=pb.Image(data=b"junk")), "image.data"),
            (self.stub.Chat, pb.ChatRequest(messages=[pb.Message(role="robot",
                                                                 parts=[pb.Part(text="hi")])]),
             "messages[0].role"),
        ]
        for method, request, field in cases:
            with self.assertRaises(grpc.RpcError) as raised:
                list(method(request))
            self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, field)
            self.assertIn(field, raised.exception.details())

    def test_bytes_that_are_not_utf8_are_invalid_argument(self):
        import grpc
        # TextToImageRequest.prompt (field 1) holding bytes that are not UTF-8, sent as raw bytes:
        # Python's protobuf would refuse to build such a message.
        call = self.channel.unary_stream("/infusion.v1.Infusion/TextToImage",
                                         request_serializer=lambda raw: raw,
                                         response_deserializer=lambda raw: raw)
        with self.assertRaises(grpc.RpcError) as raised:
            list(call(b"\x0a\x03a\xffb"))
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(raised.exception.details(), "prompt is not valid UTF-8")

    def test_cancel_and_deadline(self):
        import grpc
        from infusion.v1 import infusion_pb2 as pb
        request = pb.TextToImageRequest(prompt="a red circle", image=pb.ImageParams(steps=1000))
        stream = self.stub.TextToImage(request)
        next(stream)
        stream.cancel()
        with self.assertRaises(grpc.RpcError) as raised:
            list(stream)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.CANCELLED)
        with self.assertRaises(grpc.RpcError) as raised:
            list(self.stub.TextToImage(request, timeout=0.05))
        self.assertEqual(raised.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help="the infusion-server binary")
    parser.add_argument("--model", required=True, help="a model directory")
    parser.add_argument("--proto_dir", required=True, help="the repository's proto/ directory")
    parser.add_argument("--image", required=True, help="a PNG for the image inputs")
    ARGS, rest = parser.parse_known_args()
    stubs = tempfile.mkdtemp(prefix="infusion-python-stubs-")
    try:
        generate_stubs(stubs)
        unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
    finally:
        shutil.rmtree(stubs, ignore_errors=True)


if __name__ == "__main__":
    main()
