#!/usr/bin/env python3
"""Draws the test scenes of this folder, in the style of docs/shapes.md: 64x64 RGB on white,
objects in a 3x3 grid of 21-pixel cells, filled solid colours, no anti-aliasing.

Standard library only, so the images can be regenerated anywhere: python3 make_shapes.py
"""
import os
import struct
import zlib

SIZE = 64
CELL = 21
WHITE = (255, 255, 255)
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 30),
}
ROWS = {"top": 0, "middle": 1, "bottom": 2}
COLUMNS = {"left": 0, "center": 1, "right": 2}

# file name -> objects (shape, colour, row, column, side s, jitter dx, jitter dy)
SCENES = {
    "red_circle.png": [("circle", "red", "top", "left", 15, 0, 0)],
    "green_triangle_above_blue_square.png": [
        ("triangle", "green", "top", "center", 17, 1, -1),
        ("square", "blue", "bottom", "center", 13, -2, 1),
    ],
    "three_yellow_squares.png": [
        ("square", "yellow", "top", "left", 12, 0, 2),
        ("square", "yellow", "middle", "center", 14, 1, 0),
        ("square", "yellow", "bottom", "right", 16, -1, -2),
    ],
    "purple_circle_orange_triangle_red_square.png": [
        ("circle", "purple", "middle", "left", 17, 2, 0),
        ("triangle", "orange", "middle", "right", 14, 0, 1),
        ("square", "red", "bottom", "center", 12, 0, 0),
    ],
}


def covers(shape, s, u, v):
    """Whether the pixel whose centre is at (u, v), relative to the box's top left, is inside."""
    if shape == "square":
        return True
    if shape == "circle":
        return (u - s / 2) ** 2 + (v - s / 2) ** 2 <= (s / 2) ** 2
    # Isosceles triangle, apex at the top centre, base s along the bottom.
    return abs(u - s / 2) <= (v / s) * (s / 2)


def draw(objects):
    pixels = [[WHITE] * SIZE for _ in range(SIZE)]
    for shape, color, row, column, s, dx, dy in objects:
        x0 = COLUMNS[column] * CELL + (CELL - s) // 2 + dx
        y0 = ROWS[row] * CELL + (CELL - s) // 2 + dy
        for y in range(s):
            for x in range(s):
                if covers(shape, s, x + 0.5, y + 0.5):
                    pixels[y0 + y][x0 + x] = COLORS[color]
    return pixels


def png(pixels):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data)))

    height, width = len(pixels), len(pixels[0])
    # Filter type 0 (none) before every row.
    raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    for name, objects in SCENES.items():
        with open(os.path.join(here, name), "wb") as f:
            f.write(png(draw(objects)))


if __name__ == "__main__":
    main()
