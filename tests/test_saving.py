"""Model files: save -> load is bit-exact; hostile or mistaken files are rejected before use.

Bad inputs 32-39 of the project's list: truncated files, pickle payloads, unknown classes and module
paths, mismatched arrays, path-traversal / symlink / bomb members, NaN weights, newer versions and
failed saves. Every malicious payload here would create a marker file if it ever ran.
"""
import errno
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import glassnet
from glassnet import model_archive, saving
from glassnet.layers import Dense
from glassnet.saving import ModelFileError, ModelFileWarning, UnsafeModelFileError


class _Gadget:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears iff a pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model():
    return glassnet.Sequential([Dense(5, activation="relu", input_shape=(4,)),
                                Dense(3, activation="softmax")])


@pytest.fixture
def saved(tmp_path):
    model = _model()
    path = tmp_path / "model.gnet"
    saving.save_model(model, path)
    return model, path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def _write_zip(path, members):
    """Write ``[(name or ZipInfo, bytes), ...]`` as a zip archive."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _edit(src, dst, edit_config=None, edit_members=None):
    """A copy of ``src`` with its config.json and/or member dict changed in place by the callbacks."""
    members = _members(src)
    config = json.loads(members["config.json"])
    if edit_config:
        edit_config(config)
    members["config.json"] = json.dumps(config).encode()
    if edit_members:
        edit_members(members)
    return _write_zip(dst, members.items())


def _npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


# -- round trips ------------------------------------------------------------------------------------
def test_round_trip_is_bit_exact_and_config_equal(saved):
    model, path = saved
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    loaded = glassnet.models.load_model(path)
    assert np.array_equal(model(x), loaded(x))
    assert json.dumps(loaded.get_config()) == json.dumps(model.get_config())
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_model_save_method_and_file_layout(tmp_path):
    model = _model()
    path = tmp_path / "m.anything"          # any extension is accepted
    model.save(path)
    members = _members(path)
    assert set(members) == {"config.json", "metadata.json"} | {f"weights/{i:04d}.npy" for i in range(4)}
    config = json.loads(members["config.json"])
    assert config["format"] == "glassnet" and config["format_version"] == saving.FORMAT_VERSION
    assert config["kind"] == "model" and config["model"]["class_name"] == "Sequential"
    assert config["weights"][0] == {"member": "weights/0000.npy", "layer": model.layers[0].name,
                                    "name": "kernel", "shape": [4, 5], "dtype": "float32"}
    kernel = np.load(io.BytesIO(members["weights/0000.npy"]), allow_pickle=False)
    assert np.array_equal(kernel, model.layers[0].weights[0].data)
    assert set(json.loads(members["metadata.json"])) >= {"glassnet_version", "numpy_version", "date_saved"}


def test_compile_settings_and_optimizer_state_resume_training(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, size=32)
    model = _model()
    model.compile(optimizer=glassnet.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if model.compile_config is None or not hasattr(model.optimizer, "get_state"):
        pytest.skip("needs Sequential.compile to set compile_config and Optimizer.get_state/set_state")
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(tmp_path / "m.gnet")
    loaded = glassnet.models.load_model(tmp_path / "m.gnet")
    assert type(loaded.optimizer) is glassnet.optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_load_without_compile(tmp_path):
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "m.gnet")
    loaded = saving.load_model(tmp_path / "m.gnet", compile=False)
    assert getattr(loaded, "optimizer", None) is None


def test_save_weights_load_weights_by_position(tmp_path):
    model = _model()
    saving.save_weights(model, tmp_path / "w.gnet")
    other = glassnet.Sequential([Dense(5, activation="relu"), Dense(3, activation="softmax")])   # unbuilt
    saving.load_weights(other, tmp_path / "w.gnet")
    x = np.ones((2, 4), "float32")
    assert np.array_equal(model(x), other(x))
    with pytest.raises(ModelFileError, match="holds only weights"):
        saving.load_model(tmp_path / "w.gnet")


# -- atomic saves (item 39) -------------------------------------------------------------------------
def test_failed_write_leaves_old_file_and_no_temp(saved, monkeypatch):
    _, path = saved
    before = path.read_bytes()

    def disk_full(f, *args):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(saving, "_write_archive", disk_full)
    with pytest.raises(OSError, match="No space left") as info:
        saving.save_model(_model(), path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_failed_fsync_leaves_old_file(saved, monkeypatch):
    _, path = saved
    before = path.read_bytes()

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        saving.save_model(_model(), path)
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


def test_save_to_missing_directory(tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "m.gnet"
    with pytest.raises(FileNotFoundError) as info:
        saving.save_model(_model(), path)
    assert str(path) in str(info.value)


def test_save_to_read_only_directory(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not make the folder read-only")
        with pytest.raises(PermissionError) as info:
            saving.save_model(_model(), folder / "m.gnet")
        assert str(folder / "m.gnet") in str(info.value)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def test_overwrite_false_and_directory_path(saved):
    _, path = saved
    with pytest.raises(FileExistsError, match="overwrite=True"):
        saving.save_model(_model(), path, overwrite=False)
    with pytest.raises(IsADirectoryError):
        saving.save_model(_model(), path.parent)


# -- truncated and not-a-model files (item 32) ------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, -22, -1])
def test_truncated_file(saved, tmp_path, keep):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.gnet"
    cut.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        saving.load_model(cut)


def test_unsupported_zip_version_is_a_model_file_error(saved, tmp_path):
    """zipfile raises NotImplementedError for a "version needed to extract" it doesn't know (found by
    test_fuzz); that is a corrupted file to the user, not a crash."""
    _, path = saved
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 4), (b"PK\x01\x02", 6)):   # local header, central directory
        at = data.find(signature)
        data[at + offset:at + offset + 2] = (255).to_bytes(2, "little")       # version 25.5
    bad = tmp_path / "version.gnet"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="truncated or corrupted.*version"):
        saving.load_model(bad)


def test_not_a_zip(tmp_path):
    (tmp_path / "x.gnet").write_text("hello")
    with pytest.raises(ModelFileError, match="not a glassnet model file"):
        saving.load_model(tmp_path / "x.gnet")


# -- pickles (item 33): rejected, and never run -------------------------------------------------------
def test_gadget_is_live(tmp_path):
    """The control: unpickling the payload really would create the marker."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(_Gadget(marker)))
    assert marker.exists()


def test_object_array_member_is_rejected_unrun(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "pwned"
    payload = _npy(np.array([_Gadget(marker)], dtype=object), allow_pickle=True)
    bad = _edit(path, tmp_path / "bad.gnet", edit_members=lambda m: m.update({"weights/0000.npy": payload}))
    with pytest.raises(UnsafeModelFileError, match="object arrays and pickles are not allowed"):
        saving.load_model(bad)
    with pytest.raises(UnsafeModelFileError):
        saving.load_weights(_model(), bad)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_renamed_pickle_is_rejected_unrun(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.gnet"      # a model.pkl / legacy torch .pt renamed
    path.write_bytes(pickle.dumps({"model": _Gadget(marker)}, protocol=protocol))
    with pytest.raises(UnsafeModelFileError, match="object arrays and pickles are not allowed"):
        saving.load_model(path)
    assert not marker.exists()


def test_torch_zip_is_rejected_unrun(tmp_path):
    marker = tmp_path / "pwned"
    path = _write_zip(tmp_path / "model.pt", [("archive/data.pkl", pickle.dumps(_Gadget(marker))),
                                              ("archive/version", b"3\n")])
    with pytest.raises(UnsafeModelFileError, match="pickles are not allowed"):
        saving.load_model(path)
    assert not marker.exists()


def test_pickle_as_config_json_is_rejected_unrun(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "pwned"
    members = _members(path)
    members["config.json"] = pickle.dumps(_Gadget(marker))
    with pytest.raises(ModelFileError, match="not valid JSON"):
        saving.load_model(_write_zip(tmp_path / "bad.gnet", members.items()))
    assert not marker.exists()


# -- member names, links and bombs (item 36) ----------------------------------------------------------
@pytest.mark.parametrize("name, message", [
    ("../../.bashrc", r"escapes the archive"),
    ("weights/../../x.npy", r"escapes the archive"),
    ("/etc/passwd", r"absolute path"),
    ("C:/Windows/evil.npy", r"absolute path"),
    ("weights\\0000.npy", r"backslash"),
    ("notes.txt", r"is not expected"),
    ("weights/", r"is not expected"),
    ("model.weights.h5", r"Keras"),
])
def test_bad_member_names(saved, tmp_path, name, message):
    _, path = saved
    bad = _edit(path, tmp_path / "bad.gnet", edit_members=lambda m: m.update({name: b"echo pwned"}))
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(bad)


def test_symlink_member(saved, tmp_path):
    _, path = saved
    link = zipfile.ZipInfo("weights/0004.npy")
    link.external_attr = (0o120777 << 16)          # S_IFLNK: a symbolic link to /etc/passwd
    members = list(_members(path).items()) + [(link, b"/etc/passwd")]
    with pytest.raises(ModelFileError, match="symbolic link"):
        saving.load_model(_write_zip(tmp_path / "bad.gnet", members))


def test_real_zip_bomb(saved, tmp_path):
    _, path = saved
    bad = tmp_path / "bomb.gnet"
    members = _members(path)
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, b"\0" * (64 * 2**20) if name == "weights/0000.npy" else data)
    assert bad.stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="decompression bomb"):
        saving.load_model(bad)


def test_declared_size_over_cap(saved, tmp_path):
    """A directory entry that claims ~4 GiB: rejected from the directory alone, nothing inflated."""
    _, path = saved
    data = bytearray(path.read_bytes())
    at = data.rindex(b"PK\x01\x02")                                   # the last central directory entry
    data[at + 24: at + 28] = (0xFFFFFFF0).to_bytes(4, "little")      # the last member's uncompressed size
    (tmp_path / "big.gnet").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="the cap is"):
        saving.load_model(tmp_path / "big.gnet")


def test_too_many_members(saved, tmp_path, monkeypatch):
    _, path = saved
    monkeypatch.setattr(model_archive, "MAX_MEMBERS", 3)
    with pytest.raises(ModelFileError, match="the cap is 3"):
        saving.load_model(path)


# -- classes and keys (item 34) -----------------------------------------------------------------------
def _layer_entry(config, i=1):
    return config["model"]["config"]["layers"][i]


@pytest.mark.parametrize("edit, message", [
    (lambda c: _layer_entry(c).update(class_name="os.system"), r"unknown layer type 'os\.system'"),
    (lambda c: _layer_entry(c).update(class_name="eval"), r"unknown layer type 'eval'"),
    (lambda c: _layer_entry(c).update(class_name="Input"), r"unknown layer type 'Input'"),
    (lambda c: _layer_entry(c).update(module="builtins"), r"with no other keys"),
    (lambda c: _layer_entry(c)["config"].update(evil="rm -rf"), r"evil"),
    (lambda c: c["model"].update(class_name="os.system"), r"unknown model type 'os\.system'"),
    (lambda c: c["model"]["config"].update(module="builtins"), r"module"),
    (lambda c: c.update(safe_mode=False), r"unexpected \['safe_mode'\]"),
    (lambda c: _layer_entry(c)["config"].update(activation="os.system"), r"rebuilding the model"),
])
def test_unknown_classes_and_keys(saved, tmp_path, edit, message):
    _, path = saved
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(_edit(path, tmp_path / "bad.gnet", edit))


def test_initializer_module_path_is_not_imported(saved, tmp_path):
    _, path = saved
    evil = {"module": "builtins", "class_name": "eval", "config": {}, "registered_name": None}
    bad = _edit(path, tmp_path / "bad.gnet",
                lambda c: _layer_entry(c)["config"].update(kernel_initializer=evil))
    with pytest.raises(ModelFileError):
        saving.load_model(bad)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["optimizer"].update(class_name="os.system"), r"unknown optimizer type 'os\.system'"),
    (lambda c: c["optimizer"]["config"].update(evil=1), r"evil"),
    (lambda c: c["loss"].update(module="builtins"), r"cannot read the loss setting"),
    (lambda c: c.update(loss={"class_name": "eval", "config": {}}), r"unknown loss type 'eval'"),
    (lambda c: c.update(run_code="rm -rf /"), r"unexpected keyword|unknown compile settings"),
], ids=["optimizer-class", "optimizer-key", "loss-module", "loss-class", "compile-key"])
def test_unknown_compile_settings(tmp_path, edit, message):
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    if not isinstance(model.compile_config, dict) or not isinstance(model.compile_config.get("loss"), dict):
        pytest.skip("needs Sequential.compile to set compile_config with a serialized loss")
    model.save(tmp_path / "m.gnet")
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(_edit(tmp_path / "m.gnet", tmp_path / "bad.gnet", lambda c: edit(c["compile"])))


def test_registry_is_glassnet_layers_only():
    registry = saving.layer_registry()
    assert registry["Dense"] is Dense
    assert all(issubclass(cls, glassnet.layers.Layer) for cls in registry.values())
    with pytest.raises(ModelFileError, match="unknown layer type 'os.system'"):
        saving.get_layer_class("os.system")


# -- versions and JSON (item 38) ----------------------------------------------------------------------
def test_newer_format_version(saved, tmp_path):
    _, path = saved
    bad = _edit(path, tmp_path / "new.gnet", lambda c: c.update(format_version=3, new_feature={}))
    message = r"format version 3 is newer than supported \(1\); upgrade glassnet"
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(bad)


@pytest.mark.parametrize("text, message", [
    (b'{"format": "glassnet", "format": "glassnet"}', "repeats a key"),
    (b'{"format": NaN}', "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b"[" * 100_000, "not valid JSON"),
    (b'{"format": "keras"}', "not a glassnet model file"),
], ids=["duplicate-key", "nan", "list", "deep-nesting", "keras"])
def test_bad_json(saved, tmp_path, text, message):
    _, path = saved
    members = _members(path)
    members["config.json"] = text
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(_write_zip(tmp_path / "bad.gnet", members.items()))


# -- arrays that do not fit (item 35) -----------------------------------------------------------------
def _resized_kernel(config, members):
    config["weights"][0]["shape"] = [4, 6]
    members["weights/0000.npy"] = _npy(np.zeros((4, 6), "float32"))


def _drop_last(config, members):
    config["weights"].pop()
    members.pop("weights/0003.npy")


def _add_extra(config, members):
    config["weights"].append({"member": "weights/0004.npy", "layer": "ghost", "name": "kernel",
                              "shape": [2], "dtype": "float32"})
    members["weights/0004.npy"] = _npy(np.zeros(2, "float32"))


def _float64_bias(config, members):
    config["weights"][1]["dtype"] = "float64"
    members["weights/0001.npy"] = _npy(np.zeros(5, "float64"))


@pytest.mark.parametrize("edit, message", [
    (_resized_kernel, r"weight 'kernel': expected shape \(4, 5\) float32, received \(4, 6\) float32"),
    (_drop_last, r"3 weight arrays but the model has 4.*missing from the file: \[\"layer 'dense_\d+' bias"),
    (_add_extra, r"5 weight arrays but the model has 4.*extra in the file: \[\"layer 'ghost'"),
    (_float64_bias, r"weight 'bias': expected shape \(5,\) float32, received \(5,\) float64"),
])
def test_mismatched_arrays_leave_model_untouched(saved, tmp_path, edit, message):
    model, path = saved
    members = _members(path)
    config = json.loads(members["config.json"])
    edit(config, members)
    members["config.json"] = json.dumps(config).encode()
    bad = _write_zip(tmp_path / "bad.gnet", members.items())
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(bad)
    target = _model()
    before = target.get_weights()
    with pytest.raises(ModelFileError, match="unchanged"):
        saving.load_weights(target, bad)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, target.get_weights()))


def test_load_model_runs_no_initializer(saved, monkeypatch):
    """Every weight of a loaded model comes from the file, so building it fills nothing first."""
    model, path = saved
    def refuse(*args, **kwargs):
        raise AssertionError("an initializer ran while load_model built the model")
    monkeypatch.setattr(glassnet.initializers.GlorotUniform, "__call__", refuse)
    monkeypatch.setattr(glassnet.initializers.Zeros, "__call__", refuse)
    loaded = saving.load_model(path)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(model.get_weights(), loaded.get_weights()))
    with pytest.raises(AssertionError, match="an initializer ran"):     # building in code still runs them
        _model()


def _load_in_a_fresh_interpreter(call):
    """Run ``saving.<call>`` in a new Python; its output and how far the load raised its peak RSS (MB)."""
    script = ("import resource, glassnet\n"
              "from glassnet import saving\n"
              "from glassnet.layers import Dense\n"
              "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              f"try:\n    saving.{call}\nexcept saving.ModelFileError as e:\n    print('ModelFileError', e)\n"
              "print('grew', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "grew " in out.stdout, out.stdout + out.stderr
    return out.stdout, int(out.stdout.split("grew ")[-1])


def test_huge_layer_in_a_small_file_fails_without_using_the_memory(saved, tmp_path):
    """A 1 KB file whose config asks for a first layer of 30,000,000 units (a 4 x 30,000,000 kernel,
    then a 30,000,000 x 3 one: 840 MB of float32 to fill): load_model must refuse it from the shapes,
    not fill the layers first. Measured in a fresh interpreter, whose peak RSS must hardly grow."""
    _, path = saved
    bad = _edit(path, tmp_path / "huge.gnet",
                edit_config=lambda c: _layer_entry(c)["config"].update(units=30_000_000))
    output, grew_mb = _load_in_a_fresh_interpreter(f"load_model({str(bad)!r})")
    assert "ModelFileError" in output and "expected shape (4, 30000000)" in output, output
    assert grew_mb < 100, f"loading grew the peak RSS by {grew_mb} MB (filling the layers takes 840 MB)"


def test_load_weights_into_an_unbuilt_model_checks_before_building_it(tmp_path):
    """An unbuilt model is built with the file's input shape, but only once the arrays are known to fit:
    a file that does not fit leaves it unbuilt, and a huge recorded input shape fills nothing."""
    saving.save_weights(_model(), tmp_path / "w.gnet")
    unbuilt = lambda: glassnet.Sequential([Dense(5, activation="relu"), Dense(3, activation="softmax")])
    wider = unbuilt()
    wider.layers[0].units = 6                                     # its kernel would be (4, 6), not (4, 5)
    with pytest.raises(ModelFileError, match=r"expected shape \(4, 6\) float32, received \(4, 5\)"):
        saving.load_weights(wider, tmp_path / "w.gnet")
    assert not wider.built and not wider.layers[0].weights
    huge = _edit(tmp_path / "w.gnet", tmp_path / "huge.gnet",
                 edit_config=lambda c: c.update(build_input_shape=[None, 30_000_000]))
    model = unbuilt()
    with pytest.raises(ModelFileError, match=r"expected shape \(30000000, 5\)"):
        saving.load_weights(model, huge)
    assert not model.built
    output, grew_mb = _load_in_a_fresh_interpreter(
        f"load_weights(glassnet.Sequential([Dense(5), Dense(3)]), {str(huge)!r})")
    assert "ModelFileError" in output, output
    assert grew_mb < 100, f"loading grew the peak RSS by {grew_mb} MB (filling the kernel takes 600 MB)"


@pytest.mark.parametrize("edit_members, message", [
    (lambda m: m.update({"weights/0000.npy": _npy(np.zeros((5, 4), "float32"))}), r"says shape \(4, 5\)"),
    (lambda m: m.update({"weights/0000.npy": _npy(np.zeros((4, 5), "int32"))}), "expected dtype float32"),
    (lambda m: m.update({"weights/0000.npy": m["weights/0000.npy"][:-4]}), "truncated or corrupted"),
    (lambda m: m.update({"weights/0000.npy": b"not an array"}), "not a valid .npy array"),
    (lambda m: m.pop("weights/0002.npy"), r"missing: \['weights/0002.npy'\]"),
    (lambda m: m.update({"optimizer/0000.npy": _npy(np.zeros(1, "float32"))}),
     r"present but not listed: \['optimizer/0000.npy'\]"),
])
def test_array_members_checked_against_config(saved, tmp_path, edit_members, message):
    _, path = saved
    with pytest.raises(ModelFileError, match=message):
        saving.load_model(_edit(path, tmp_path / "bad.gnet", edit_members=edit_members))


# -- non-finite weights (item 37) ---------------------------------------------------------------------
def test_nan_weights_warn_or_raise_under_strict(tmp_path):
    model = _model()
    weights = model.get_weights()
    weights[0][0, :2] = np.nan
    weights[0][1, 0] = np.inf
    model.set_weights(weights)
    model.save(tmp_path / "nan.gnet")
    name = model.layers[0].name
    with pytest.warns(ModelFileWarning, match=f"layer {name} kernel contains 3 non-finite values"):
        loaded = saving.load_model(tmp_path / "nan.gnet")
    assert np.isnan(loaded.get_weights()[0][0, :2]).all()
    with pytest.raises(ModelFileError, match=f"layer {name} kernel contains 3 non-finite values"):
        saving.load_model(tmp_path / "nan.gnet", strict=True)
