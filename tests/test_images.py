"""images.py: the stdlib PNG reader/writer and the MNIST-style preprocessing of a drawing."""
import struct
import zlib

import numpy as np
import pytest

from glassnet import images
from glassnet.datasets import mnist


def _png(header, idat, extra=()):
    """Assemble a PNG from raw parts (for colour types write_png does not produce, and corruption)."""
    chunks = [(b"IHDR", header), *extra, (b"IDAT", idat), (b"IEND", b"")]
    return images.PNG_SIGNATURE + b"".join(images._chunk(kind, body) for kind, body in chunks)


def _ihdr(width, height, depth=8, colour=0, interlace=0):
    return struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)


def _luminance(rgb):
    return rgb @ np.array([0.299, 0.587, 0.114])


# -- PNG reading and writing -------------------------------------------------------------------------
@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip_every_colour_type_and_filter(tmp_path, channels, filter_type):
    rng = np.random.default_rng(channels * 10 + filter_type)
    pixels = rng.integers(0, 256, size=(7, 9, channels), dtype=np.uint8)
    pixels[0, 0] = 255                                  # fully opaque white in the corner
    path = tmp_path / "x.png"
    images.write_png(path, pixels if channels > 1 else pixels[..., 0], filter_type=filter_type)
    gray = images.read_image(path)
    p = pixels / 255
    colour = _luminance(p[..., :3]) if channels >= 3 else p[..., 0]
    if channels in (2, 4):
        colour = p[..., -1] * colour + (1 - p[..., -1])   # alpha over white
    assert gray.dtype == np.float32 and gray.shape == (7, 9)
    np.testing.assert_allclose(gray, colour, atol=1e-6)
    assert gray[0, 0] == pytest.approx(1.0)


def test_png_float_input_is_read_as_0_to_1(tmp_path):
    ramp = np.linspace(0, 1, 12).reshape(3, 4)
    images.write_png(tmp_path / "ramp.png", ramp)
    np.testing.assert_allclose(images.read_image(tmp_path / "ramp.png"), np.round(ramp * 255) / 255,
                               atol=1e-6)


def test_png_palette_with_transparency(tmp_path):
    palette = bytes([0, 0, 0, 255, 0, 0, 255, 255, 255])            # black, red, white
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    raw = np.concatenate([np.zeros((2, 1), np.uint8), indices], axis=1).tobytes()
    data = _png(_ihdr(3, 2, colour=3), zlib.compress(raw),
                extra=[(b"PLTE", palette), (b"tRNS", bytes([255, 0]))])  # red is fully transparent
    (tmp_path / "p.png").write_bytes(data)
    np.testing.assert_allclose(images.read_image(tmp_path / "p.png"),
                               [[0, 1, 1], [1, 1, 0]], atol=1e-6)


def test_png_16_bit_gray(tmp_path):
    values = np.array([[0, 1000, 65535]], dtype=">u2")
    raw = b"\x00" + values.tobytes()
    (tmp_path / "g16.png").write_bytes(_png(_ihdr(3, 1, depth=16), zlib.compress(raw)))
    np.testing.assert_allclose(images.read_image(tmp_path / "g16.png"), [[0, 1000 / 65535, 1]], rtol=1e-6)


def test_png_agrees_with_pillow_on_its_own_files(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:40, :50]
    rgba = np.stack([x * 5, y * 6, (x + y) * 2, 255 - x], axis=-1).astype(np.uint8)
    rgba[::7] = rng.integers(0, 256, size=rgba[::7].shape)
    for mode in ("L", "LA", "RGB", "RGBA", "P"):
        path = tmp_path / f"{mode}.png"
        pil.fromarray(rgba, "RGBA").convert(mode).save(path, optimize=True)   # Pillow picks the filters
        with pil.open(path) as im:
            expected = images._to_gray(np.asarray(im.convert("RGBA"), np.float32) / 255)
        np.testing.assert_allclose(images.read_image(path), expected, atol=1e-6, err_msg=mode)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:60], "truncated"),
    (lambda d: d[:40] + bytes([d[40] ^ 0xFF]) + d[41:], "CRC mismatch"),
    (lambda d: b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "first chunk must be IHDR|CRC"),
])
def test_corrupt_png_raises_value_error_naming_the_file(tmp_path, damage, message):
    good = tmp_path / "good.png"
    images.write_png(good, np.arange(400, dtype=np.uint8).reshape(20, 20))
    bad = tmp_path / "bad.png"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        images.read_image(bad)
    assert "bad.png" in str(info.value)


def test_bad_zlib_data_and_unsupported_pngs(tmp_path):
    cases = {
        "zlib.png": (_png(_ihdr(2, 2), b"not zlib data"), "does not decompress"),
        "short.png": (_png(_ihdr(4, 4), zlib.compress(b"\x00" * 5)), "expected 20"),
        "filter.png": (_png(_ihdr(1, 1), zlib.compress(b"\x07\x00")), "filter type 7"),
        "adam7.png": (_png(_ihdr(1, 1, interlace=1), zlib.compress(b"\x00\x00")), "interlaced"),
        "4bit.png": (_png(_ihdr(2, 1, depth=4), zlib.compress(b"\x00\x00")), "4-bit gray"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message):
            images.read_image(tmp_path / name)


def test_missing_file_and_non_image(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.read_image(tmp_path / "nope.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises((ValueError, ImportError), match="notes.txt"):
        images.read_image(tmp_path / "notes.txt")


def test_jpeg_without_pillow_says_how_to_get_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)                    # as if Pillow were not installed
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    with pytest.raises(ImportError, match=r'pip install "glassnet\[image\]"'):
        images.read_image(tmp_path / "photo.jpg")


def test_jpeg_with_pillow(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    canvas = np.full((60, 40), 255, np.uint8)
    canvas[10:50, 18:24] = 0
    pil.fromarray(canvas).save(tmp_path / "one.jpg", quality=95)
    gray = images.read_image(tmp_path / "one.jpg")
    assert gray.shape == (60, 40)
    assert gray[30, 20] < 0.1 and gray[5, 5] > 0.9


def test_write_png_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        images.write_png(tmp_path / "x.png", np.zeros((2, 2, 5)))


# -- to_mnist ----------------------------------------------------------------------------------------
def test_to_mnist_dark_on_light_one_becomes_a_centred_bright_stroke():
    canvas = np.ones((200, 120))                     # white paper
    canvas[30:170, 55:65] = 0.0                      # a black vertical bar: a "1"
    digit = images.to_mnist(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() == 0 and digit.max() == pytest.approx(1)
    rows = np.flatnonzero(digit.max(axis=1) > 0.5)
    assert rows[0] == 4 and rows[-1] == 23           # 20 px tall, centred: rows 4..23
    columns = np.flatnonzero(digit.max(axis=0) > 0.5)
    assert set(columns) <= {13, 14, 15}              # a narrow stroke in the middle
    ys, xs = np.mgrid[:28, :28]
    assert (digit * ys).sum() / digit.sum() == pytest.approx(14, abs=0.5)
    assert (digit * xs).sum() / digit.sum() == pytest.approx(14, abs=0.5)
    assert digit[:, :10].max() == 0 and digit[:, 19:].max() == 0


def test_to_mnist_thin_pen_is_thickened_and_light_on_dark_is_not_inverted():
    canvas = np.zeros((1000, 800))                   # a 3 px line on a big dark canvas
    canvas[100:900, 400:403] = 1.0
    digit = images.to_mnist(canvas)
    assert (digit[4:24].max(axis=1) > 0.9).all()     # the whole height, bright
    assert ((digit > 0.5).sum(axis=1)[4:24] >= 2).all()  # at least 2 px wide, as MNIST strokes


def test_to_mnist_keeps_the_aspect_ratio():
    canvas = np.ones((50, 300))
    canvas[20:30, 40:260] = 0                        # a wide horizontal bar, 220 x 10
    digit = images.to_mnist(canvas)
    assert (digit.max(axis=0) > 0.5).sum() == 20     # the long side fills the 20 px box
    assert (digit.max(axis=1) > 0.05).sum() <= 2     # the short side shrinks by as much


def test_to_mnist_rejects_blank_and_wrong_shapes():
    with pytest.raises(ValueError, match="blank"):
        images.to_mnist(np.ones((30, 30)))
    with pytest.raises(ValueError, match="2-D"):
        images.to_mnist(np.ones((3, 30, 30)))


def test_a_real_mnist_digit_survives_png_inversion_and_enlarging(tmp_path):
    (_, _), (x_test, y_test) = mnist.load_data(embedded=True)
    errors = []
    for k in range(20):
        drawing = np.kron(255 - x_test[k], np.ones((9, 9), np.uint8))    # black on white, 252 x 252
        images.write_png(tmp_path / f"{k}.png", drawing, filter_type=4)
        digit = images.to_mnist(images.read_image(tmp_path / f"{k}.png"))
        errors.append(np.abs(digit - x_test[k] / 255).mean())
    assert np.median(errors) < 0.01                  # most come back almost exactly
    assert max(errors) < 0.12


def test_resample_matrix_area_average_and_interpolation():
    np.testing.assert_allclose(images._resample_matrix(4, 0.5) @ [1.0, 3.0, 5.0, 7.0], [2, 6])
    # 3 pixels scaled by 0.5 cover 1.5 output pixels, centred in 2: each half covered
    np.testing.assert_allclose(images._resample_matrix(3, 0.5) @ [1.0, 1.0, 1.0], [0.75, 0.75])
    np.testing.assert_allclose(images._resample_matrix(2, 2.0) @ [0.0, 4.0], [0, 1, 3, 4])
    for n, scale in [(100, 0.2), (7, 1.0), (3, 10 / 3)]:
        assert images._resample_matrix(n, scale).shape == (round(n * scale), n)
