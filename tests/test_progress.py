"""The progress output of fit / evaluate / predict (issue 2 item 8; bad input 50).

verbose 0 prints nothing; verbose 2 prints one line per epoch; verbose 1 redraws a bar on a terminal
and writes only the final line to a file or pipe; a console that cannot print "━" gets an ASCII bar,
and neither "\\b" nor ANSI escape codes reach a stream that is not a terminal.
"""
import io
import re
import sys

import numpy as np
import pytest

from glassnet import callbacks, layers
from glassnet.models import Sequential

FINAL_LINE = re.compile(r"^4/4 .*\d+(ms|us)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}$")


@pytest.fixture
def model_and_data():
    rng = np.random.default_rng(0)
    x = rng.random((100, 4), dtype=np.float32)
    y = np.arange(100) % 3
    model = Sequential([layers.Dense(3, input_shape=(4,), activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


class FakeTTY(io.StringIO):
    encoding = "utf-8"

    def isatty(self):
        return True


def cp1252_stdout():
    return io.TextIOWrapper(io.BytesIO(), encoding="cp1252", errors="strict", write_through=True)


def read_back(stream):
    stream.flush()
    return stream.buffer.getvalue().decode("cp1252")


def test_verbose_0_prints_nothing(model_and_data, capsys):
    model, x, y = model_and_data
    model.fit(x, y, epochs=2, verbose=0, validation_split=0.2)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_verbose_2_prints_one_line_per_epoch_without_a_bar(model_and_data, capsys):
    model, x, y = model_and_data
    model.fit(x, y, epochs=3, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0::2] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    progress = lines[1::2]
    assert len(lines) == 6
    for line in progress:
        assert re.fullmatch(r"4/4 - \d+s - \d+(ms|us)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", line), line


def test_verbose_1_to_a_pipe_writes_epoch_headers_and_final_lines(model_and_data, capsys):
    model, x, y = model_and_data
    history = model.fit(x, y, epochs=5, verbose=1)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/5" and "Epoch 5/5" in lines
    assert len(lines) == 10                                   # a header and one final line per epoch
    final = lines[-1]
    assert FINAL_LINE.match(final), final
    assert "━" in final                                       # the Unicode bar where it can be printed
    assert f"loss: {history.history['loss'][-1]:.4f}" in final
    assert "\b" not in out and "\x1b" not in out and "\r" not in out


def test_auto_verbose_on_a_pipe_is_one_line_per_epoch(model_and_data, capsys):
    model, x, y = model_and_data
    model.fit(x, y, epochs=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[2] == "Epoch 2/2"


def test_evaluate_and_predict_print_one_line(model_and_data, capsys):
    model, x, y = model_and_data
    model.evaluate(x, y, verbose=1)
    model.predict(x, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert FINAL_LINE.match(lines[0]), lines[0]
    assert re.match(r"^4/4 .*\d+(ms|us)/step$", lines[1]), lines[1]


def test_cp1252_stdout_gets_an_ascii_bar(model_and_data, monkeypatch):
    model, x, y = model_and_data
    stream = cp1252_stdout()
    monkeypatch.setattr(sys, "stdout", stream)
    model.fit(x, y, epochs=2, verbose=1)                    # no UnicodeEncodeError
    model.evaluate(x, y, verbose=1)
    out = read_back(stream)
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert re.match(r"^4/4 \[=+\] \d+s \d+(ms|us)/step - accuracy: ", lines[1]), lines[1]
    assert all(ord(c) < 128 for c in out)
    assert "\b" not in out and "\x1b" not in out and "\r" not in out


def test_cp1252_terminal_redraws_an_ascii_bar_without_escape_codes(model_and_data, monkeypatch):
    model, x, y = model_and_data
    monkeypatch.setenv("TERM", "xterm")
    stream = cp1252_stdout()
    monkeypatch.setattr(stream, "isatty", lambda: True)
    monkeypatch.setattr(sys, "stdout", stream)
    model.fit(x, y, epochs=1, verbose=1)
    out = read_back(stream)
    assert "\r4/4 [====================]" in out
    assert "\x1b" not in out and "\b" not in out
    assert all(ord(c) < 128 for c in out)


def test_a_terminal_gets_the_redrawn_unicode_bar(model_and_data, monkeypatch):
    model, x, y = model_and_data
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = FakeTTY()
    monkeypatch.setattr(sys, "stdout", stream)
    model.fit(x, y, epochs=2, verbose=1)
    out = stream.getvalue()
    assert out.startswith("Epoch 1/2\n")
    assert out.count("\r") >= 2                              # drawn in place, at least once per epoch
    assert "━" in out and "\x1b[32m" in out                  # Keras's green bar
    assert out.endswith("\n")
    last = out.rsplit("\r", 1)[-1]
    assert re.search(r"4/4 .*(ms|us)/step - accuracy: \d\.\d{4} - loss: \d\.\d{4}", last)


def test_progbar_redraws_on_a_terminal_and_is_throttled():
    stream = FakeTTY()
    bar = callbacks.Progbar(100, verbose=1, stream=stream, interval=3600)
    for step in range(1, 100):
        bar.update(step, {"loss": 0.5})
    bar.update(100, {"loss": 0.25}, finished=True)
    out = stream.getvalue()
    assert out.count("\r") == 2                              # the first draw, then the final one
    assert "1/100" in out and "100/100" in out and "loss: 0.2500" in out


def test_progbar_to_a_file_writes_only_the_final_line():
    stream = io.StringIO()                                   # encoding None: ASCII bar
    bar = callbacks.Progbar(10, verbose=1, stream=stream)
    for step in range(1, 10):
        bar.update(step, {"loss": 1.0})
    bar.update(10, {"loss": 0.5}, finished=True)
    assert stream.getvalue().count("\n") == 1
    assert re.fullmatch(r"10/10 \[=+\] \d+s \d+(ms|us)/step - loss: 0\.5000\n", stream.getvalue())


def test_progbar_formats_small_values_in_scientific_notation():
    line = callbacks.Progbar(1, verbose=1, stream=io.StringIO()).line(1, {"loss": 1.5e-5, "acc": 0.0}, True)
    assert line.endswith("acc: 0.0000 - loss: 1.5000e-05")
