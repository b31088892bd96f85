"""Reading, writing and preparing images: your own drawing in, an MNIST-style 28 x 28 digit out.

``read_image(path)``  PNG decoded here with the standard library alone (``zlib`` + the five PNG row
                      filters); JPEG and other formats through Pillow when it is installed
                      (``pip install "glassnet[image]"``). Always returns grayscale float32 in [0, 1].
``to_mnist(gray)``    the MNIST recipe (LeCun et al.): ink bright on black, cropped to the digit,
                      the longer side scaled to 20 px keeping the aspect ratio (area averaging),
                      pasted into 28 x 28 so that the centre of mass sits at pixel (14, 14).
``write_png(path, a)`` a gray / gray+alpha / RGB / RGBA array to a PNG file (``zlib`` only).
"""
import os
import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}          # PNG colour type -> samples per pixel
_COLOUR_NAMES = {0: "gray", 2: "RGB", 3: "palette", 4: "gray+alpha", 6: "RGBA"}
MAX_PIXELS = 64 * 2**20                            # refuse anything larger (decompression bombs)


# -- reading ---------------------------------------------------------------------------------------
def read_image(path):
    """Read an image file as grayscale ``float32`` values in [0, 1], shape (H, W).

    Colour becomes luminance ``0.299·R + 0.587·G + 0.114·B`` (ITU-R 601, as Pillow's "L");
    transparency is composited over white, so black ink on a transparent canvas reads as
    dark-on-light.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an image glassnet can read, or a corrupt one; the message names the file.
        ImportError: a JPEG (or other non-PNG) file while Pillow is not installed.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:                                 # FileNotFoundError as is
        data = f.read()
    if data.startswith(PNG_SIGNATURE):
        return decode_png(data, name=path)
    return _read_with_pillow(path, data)


def decode_png(data, name="<bytes>"):
    """Decode the bytes of a non-interlaced PNG (8 or 16 bits per sample) to gray float32 in [0, 1]."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"{name}: not a PNG file (the 8-byte PNG signature is missing).")
    header, palette, alpha, idat = None, None, None, []
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise ValueError(f"{name}: corrupt PNG: the file ends before the IEND chunk (truncated?).")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise ValueError(f"{name}: corrupt PNG: chunk {kind!r} is truncated.")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise ValueError(f"{name}: corrupt PNG: CRC mismatch in chunk {kind!r}.")
        pos += 12 + length
        if kind == b"IHDR":
            header = _parse_ihdr(body, name)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            alpha = np.frombuffer(body, np.uint8)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        if header is None:
            raise ValueError(f"{name}: corrupt PNG: the first chunk must be IHDR, found {kind!r}.")
    width, height, depth, colour = header
    samples = _unfilter(_inflate(b"".join(idat), header, name), header, name)
    if colour == 3:                                             # palette: indices -> RGBA
        if palette is None:
            raise ValueError(f"{name}: corrupt PNG: a palette image without a PLTE chunk.")
        index = samples[..., 0]
        if index.max(initial=0) >= len(palette):
            raise ValueError(f"{name}: corrupt PNG: a pixel uses a colour missing from the palette.")
        a = np.full(len(palette), 255, np.uint8)
        if alpha is not None:
            a[:min(len(alpha), len(a))] = alpha[:len(a)]
        samples, colour = np.concatenate([palette, a[:, None]], axis=1)[index], 6
    return _to_gray(samples.astype(np.float32) / (2**depth - 1))


def _parse_ihdr(body, name):
    if len(body) != 13:
        raise ValueError(f"{name}: corrupt PNG: the IHDR chunk has {len(body)} bytes, expected 13.")
    width, height, depth, colour, compression, filter_method, interlace = struct.unpack(">IIBBBBB", body)
    if colour not in _CHANNELS:
        raise ValueError(f"{name}: corrupt PNG: unknown colour type {colour}.")
    if depth not in (8, 16) or (colour == 3 and depth != 8):
        raise ValueError(f"{name}: unsupported PNG: {depth}-bit {_COLOUR_NAMES[colour]}; glassnet reads "
                         "8-bit (and 16-bit non-palette) PNGs. Hint: re-save it as an 8-bit PNG.")
    if interlace != 0:
        raise ValueError(f"{name}: unsupported PNG: interlaced (Adam7). Hint: re-save it without "
                         "interlacing, or install Pillow and save as JPEG.")
    if compression != 0 or filter_method != 0:
        raise ValueError(f"{name}: corrupt PNG: unknown compression/filter method.")
    if not 0 < width * height <= MAX_PIXELS:
        raise ValueError(f"{name}: unsupported PNG size {width} x {height} (at most {MAX_PIXELS:,} pixels).")
    return width, height, depth, colour


def _inflate(compressed, header, name):
    """zlib-decompress the IDAT stream, never producing more than the image can hold."""
    width, height, depth, colour = header
    expected = height * (1 + width * _CHANNELS[colour] * depth // 8)     # +1: the filter byte per row
    try:
        d = zlib.decompressobj()
        raw = d.decompress(compressed, expected + 1)
    except zlib.error as exc:
        raise ValueError(f"{name}: corrupt PNG: the image data does not decompress ({exc}).") from None
    if len(raw) != expected:
        raise ValueError(f"{name}: corrupt PNG: image data has {len(raw)} bytes, expected {expected}.")
    return np.frombuffer(raw, np.uint8).reshape(height, -1)


def _unfilter(rows, header, name):
    """Undo the PNG row filters (spec §9.2); returns samples (H, W, C) as uint8 or uint16.

    Filters predict each byte ``x`` from its left neighbour ``a`` (one pixel back), the byte above
    ``b`` and the one above-left ``c``: 0 None, 1 Sub ``x + a``, 2 Up ``x + b``, 3 Average
    ``x + ⌊(a + b)/2⌋``, 4 Paeth ``x + paeth(a, b, c)``, all mod 256. None, Sub and Up are whole-row
    NumPy expressions; Average and Paeth depend on the byte just decoded, so they loop in Python.
    """
    width, height, depth, colour = header
    bpp = max(1, _CHANNELS[colour] * depth // 8)                # bytes per pixel: the "a" distance
    kinds, rows = rows[:, 0], rows[:, 1:]
    if kinds.max(initial=0) > 4:
        raise ValueError(f"{name}: corrupt PNG: unknown row filter type {int(kinds.max())}.")
    out = np.zeros((height + 1, rows.shape[1]), np.uint8)       # row 0: the zero row "above" the image
    for y, kind in enumerate(kinds, start=1):
        x, above = rows[y - 1], out[y - 1]
        if kind == 0:
            out[y] = x
        elif kind == 1:                                         # running sum per byte lane, mod 256
            lanes = np.zeros(-(-len(x) // bpp) * bpp, np.uint8)
            lanes[:len(x)] = x
            out[y] = np.cumsum(lanes.reshape(-1, bpp), axis=0, dtype=np.uint8).ravel()[:len(x)]
        elif kind == 2:
            out[y] = x + above                                  # uint8 arithmetic wraps mod 256
        else:
            out[y] = _unfilter_sequential(x.tolist(), above.tolist(), bpp, kind)
    samples = out[1:]
    if depth == 16:
        samples = samples.view(">u2").astype(np.uint16)
    return samples.reshape(height, width, _CHANNELS[colour])


def _unfilter_sequential(x, above, bpp, kind):
    """Average (3) and Paeth (4) for one row, byte by byte (the PNG spec's reference algorithm)."""
    row = bytearray(len(x))
    for i, value in enumerate(x):
        a = row[i - bpp] if i >= bpp else 0
        b = above[i]
        if kind == 3:
            predictor = (a + b) >> 1
        else:
            c = above[i - bpp] if i >= bpp else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)    # |p − a|, |p − b|, |p − c|
            #                                                          with p = a + b − c
            predictor = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        row[i] = (value + predictor) & 0xFF
    return np.frombuffer(bytes(row), np.uint8)


def _to_gray(samples):
    """(H, W, C) floats in [0, 1] -> (H, W) luminance, alpha composited over white."""
    channels = samples.shape[-1]
    colour = samples[..., :3] if channels >= 3 else samples[..., :1]
    gray = colour @ np.array([0.299, 0.587, 0.114], np.float32) if channels >= 3 else colour[..., 0]
    if channels in (2, 4):                                      # alpha over a white page
        alpha = samples[..., -1]
        gray = alpha * gray + (1 - alpha)
    return np.clip(gray, 0, 1).astype(np.float32)


def _read_with_pillow(path, data):
    is_jpeg = data.startswith(b"\xff\xd8\xff")
    try:
        from PIL import Image
    except ImportError:
        kind = "a JPEG" if is_jpeg else "not a PNG"
        raise ImportError(f"{path} is {kind} file; glassnet reads PNG by itself and other formats "
                          'with Pillow. Install it with: pip install "glassnet[image]" (or save '
                          "the image as PNG).") from None
    try:
        with Image.open(path) as im:
            im = im.convert("RGBA")
            rgba = np.asarray(im, dtype=np.float32) / 255
    except Exception as exc:                                    # Pillow raises many kinds
        raise ValueError(f"{path}: not an image file glassnet can read ({exc}).") from None
    return _to_gray(rgba)


# -- writing ---------------------------------------------------------------------------------------
def write_png(path, array, filter_type=0):
    """Write ``array`` as an 8-bit PNG: (H, W) gray, (H, W, 2) gray+alpha, (H, W, 3) RGB, (H, W, 4) RGBA.

    uint8 arrays are written as they are; float arrays are read as [0, 1] and scaled to 0..255.
    ``filter_type`` (0-4) applies that PNG row filter to every row (for tests of the reader).
    """
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.size == 0:
        raise ValueError("write_png expects (H, W) or (H, W, C) with C in 1..4. "
                         f"Received: shape {np.shape(array)}.")
    if a.dtype != np.uint8:
        if a.dtype.kind not in "fiub":
            raise ValueError(f"write_png expects numbers, received dtype {a.dtype}.")
        a = np.round(np.clip(np.asarray(a, np.float64), 0, 1) * 255).astype(np.uint8)
    height, width, channels = a.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = _filter(a.reshape(height, -1), channels, filter_type)
    raw = np.concatenate([np.full((height, 1), filter_type, np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
                + _chunk(b"IEND", b""))


def _filter(x, bpp, kind):
    """The encoder side of ``_unfilter``: residual = x − prediction (mod 256), one NumPy expression."""
    x = x.astype(np.int32)
    a = np.pad(x, ((0, 0), (bpp, 0)))[:, :-bpp]                 # left neighbour
    b = np.pad(x, ((1, 0), (0, 0)))[:-1]                        # above
    c = np.pad(b, ((0, 0), (bpp, 0)))[:, :-bpp]                 # above-left
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    prediction = {0: 0, 1: a, 2: b, 3: (a + b) >> 1, 4: paeth}[kind]
    return ((x - prediction) % 256).astype(np.uint8)


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# -- MNIST-style preprocessing ----------------------------------------------------------------------
def to_mnist(gray, box=20, size=28):
    """Turn a grayscale picture of one digit into an MNIST digit: (28, 28) float32 in [0, 1].

    1. stretch to [0, 1]; if the border is light (its median > 0.5) the picture is dark-on-light,
       so invert it: MNIST digits are white ink on black;
    2. subtract the background (the border's median) and ignore faint pixels below 0.1;
    3. crop to the bounding box of the ink; thicken strokes thinner than MNIST's (≈ 2 px at 20 px);
    4. scale the longer side to ``box`` = 20 px, keeping the aspect ratio (area averaging);
    5. paste into ``size`` x ``size`` = 28 x 28 so that the centre of mass lands on pixel (14, 14).

    Raises:
        ValueError: not a 2-D array, or an empty picture (no ink found).
    """
    g = np.asarray(gray, dtype=np.float64)
    if g.ndim != 2 or min(g.shape) < 2:
        raise ValueError(f"to_mnist expects a 2-D grayscale image, received shape {g.shape}.")
    lo, hi = g.min(), g.max()
    if not hi - lo > 1e-6:
        raise ValueError("to_mnist: the image is blank (a single colour), no digit to read.")
    g = (g - lo) / (hi - lo)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:
        g = 1 - g                                                 # dark-on-light -> light-on-dark
        border = 1 - border
    background = np.median(border)
    g = np.clip((g - background) / (1 - background), 0, 1) if background < 1 else g
    g[g < 0.1] = 0
    if not g.any():
        raise ValueError("to_mnist: no digit found (the image has no ink after removing the background).")
    g = _crop(g)
    g = _crop(_thicken(g, min_width=1.5 * max(g.shape) / box))
    scale = box / max(g.shape)
    digit = _resample_matrix(g.shape[0], scale) @ g @ _resample_matrix(g.shape[1], scale).T
    digit /= digit.max()
    h, w = digit.shape
    ys, xs = np.arange(h), np.arange(w)                          # centre of mass, pixel coordinates
    cy, cx = (digit.sum(1) @ ys) / digit.sum(), (digit.sum(0) @ xs) / digit.sum()
    top = int(np.clip(round(size / 2 - cy), 0, size - h))
    left = int(np.clip(round(size / 2 - cx), 0, size - w))
    out = np.zeros((size, size), np.float32)
    out[top:top + h, left:left + w] = digit
    return out


def digit_input_shape(model, name):
    """The sample shape (without batch) a model of 28 x 28 digits takes: (784,), (28, 28) or (28, 28, 1).

    Raises ValueError naming ``name`` when the model does not take 784 values or does not give
    10 scores (one per digit).
    """
    shape = tuple(model.input_shape or ())[1:]
    if int(np.prod(shape)) != 28 * 28:
        raise ValueError(f"{name}: the model takes inputs of shape {shape}, but a digit is 28 x 28 = 784 "
                         "values; expected (784,), (28, 28) or (28, 28, 1)")
    if tuple(model.output_shape)[-1] != 10:
        raise ValueError(f"{name}: the model has {model.output_shape[-1]} outputs, expected 10 "
                         "(one score per digit)")
    return shape


def _crop(g):
    """The smallest rectangle holding every non-zero pixel."""
    rows, cols = np.flatnonzero(g.any(axis=1)), np.flatnonzero(g.any(axis=0))
    return g[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def _resample_matrix(n, scale):
    """(m, n) matrix R so that ``R @ v`` resizes a length-n signal by ``scale``, m = ⌈n·scale⌉.

    The n input pixels cover n·scale output pixels, centred in the m output pixels (so a stroke
    1.4 px wide after scaling spans two partly-covered pixels, anti-aliased as in MNIST).
    Shrinking (scale ≤ 1): area averaging, ``R[i, j] = scale · |output pixel i ∩ input pixel j|``
    measured in input pixels. Growing: linear interpolation at the output pixel centres.
    """
    m = max(1, int(np.ceil(n * scale - 1e-6)))
    offset = (m - n * scale) / 2                                 # output pixels left free at each end
    i = np.arange(m)[:, None]
    if scale <= 1:
        lo = (i - offset) / scale                                # output pixel i in input coordinates
        j = np.arange(n)[None, :]
        return np.clip(np.minimum(lo + 1 / scale, j + 1) - np.maximum(lo, j), 0, None) * scale
    s = np.clip((np.arange(m) + 0.5 - offset) / scale - 0.5, 0, n - 1)
    j0 = np.floor(s).astype(int)
    j1 = np.minimum(j0 + 1, n - 1)
    r = np.zeros((m, n))
    np.add.at(r, (np.arange(m), j0), 1 - (s - j0))
    np.add.at(r, (np.arange(m), j1), s - j0)
    return r


def _thicken(g, min_width):
    """Grow strokes whose width (≈ 2·area / perimeter) is under ``min_width`` pixels (max filter)."""
    ink = np.pad(g > 0.5, 1)
    area = ink.sum()
    perimeter = np.count_nonzero(ink[1:] != ink[:-1]) + np.count_nonzero(ink[:, 1:] != ink[:, :-1])
    width = 2 * area / max(perimeter, 1)
    steps = max(0, int(np.ceil((min_width - width) / 2))) if area else 0
    g = np.pad(g, steps)                                         # room to grow at the edges
    for _ in range(steps):                                       # 3 x 3 max filter, once per pixel of growth
        p = np.pad(g, 1)
        g = np.max([p[i:i + g.shape[0], j:j + g.shape[1]] for i in range(3) for j in range(3)], axis=0)
    return g
