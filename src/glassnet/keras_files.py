"""Reading Keras 3 ``.keras`` files of Sequential models: ``load_keras_model(path)``.

``glassnet.models.load_model("m.keras")`` comes here. A ``.keras`` file is a zip of

    config.json        {"module": "keras", "class_name": "Sequential", "config": {"layers": [...]}, ...}
    metadata.json      {"keras_version": "3.x", "date_saved": ...}
    model.weights.h5   HDF5: layers/<snake_case class name, numbered>/vars/0, 1, ... (one dataset per weight,
                       in the layer's weight order; the "name" attribute of ``vars`` is the layer's name)
    assets/            (unused here)

Nothing in the file is executed: the config is read as JSON, layer classes come from a fixed table
of the glassnet layers that compute what the Keras ones compute, and the weights are plain float
datasets read with h5py (links to other files, external storage and virtual datasets are refused).
Every key of every layer config is accounted for: either translated, or known not to change
predictions (names, initializers, regularizers, constraints), or required to have the value that
glassnet implements (``dilation_rate`` 1, ``groups`` 1, ``channels_last``...). Anything else raises
``glassnet.saving.ModelFileError`` naming the layer and the key, never a model that computes
something different.
"""
import io
import os
import zipfile
import zlib

import numpy as np

from .model_archive import MAX_JSON_BYTES, MAX_MEMBER_BYTES, MAX_RATIO, ModelFileError, read_json, require

H5PY_HINT = 'reading .keras files needs h5py: pip install "glassnet[keras-files]"'
WEIGHTS = "model.weights.h5"

# Keys that never change what a trained layer predicts.
_IGNORED = {"name", "trainable", "dtype", "kernel_initializer", "bias_initializer", "beta_initializer",
            "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer",
            "kernel_regularizer", "bias_regularizer", "activity_regularizer", "beta_regularizer",
            "gamma_regularizer", "kernel_constraint", "bias_constraint", "beta_constraint", "gamma_constraint",
            "synchronized", "renorm_momentum", "renorm_clipping", "seed"}
# Keys that glassnet supports with one value only.
_REQUIRED = {"data_format": ("channels_last", None), "dilation_rate": ([1, 1], 1), "groups": (1,),
             "lora_rank": (None,), "lora_alpha": (None,), "quantization_config": (None,),
             "renorm": (False,), "sparse": (False,), "ragged": (False,), "optional": (False,)}
_POOL = ("pool_size", "strides", "padding")
# Keras class -> (glassnet class name, keys passed on to the glassnet constructor).
LAYERS = {
    "Dense": ("Dense", ("units", "activation", "use_bias")),
    "Conv2D": ("Conv2D", ("filters", "kernel_size", "strides", "padding", "activation", "use_bias")),
    "MaxPooling2D": ("MaxPooling2D", _POOL), "AveragePooling2D": ("AveragePooling2D", _POOL),
    "GlobalAveragePooling2D": ("GlobalAveragePooling2D", ("keepdims",)),
    "GlobalMaxPooling2D": ("GlobalMaxPooling2D", ("keepdims",)),
    "BatchNormalization": ("BatchNormalization", ("axis", "momentum", "epsilon", "center", "scale")),
    "Flatten": ("Flatten", ()), "Dropout": ("Dropout", ("rate", "noise_shape")),
    "Activation": ("Activation", ("activation",)), "ReLU": ("ReLU", ("max_value", "negative_slope", "threshold")),
    "LeakyReLU": ("LeakyReLU", ("negative_slope",)), "Softmax": ("Softmax", ("axis",)),
}


def import_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(H5PY_HINT) from None
    return h5py


def load_keras_model(path):
    """A glassnet ``Sequential`` with the architecture and weights of a Keras 3 ``.keras`` file.

    Raises:
        ImportError: h5py is not installed (``pip install "glassnet[keras-files]"``).
        ModelFileError: not a ``.keras`` zip, unexpected or oversized members, a functional model, a
            layer type or setting glassnet does not have, or weights that do not fit (the message says which).
    """
    h5py = import_h5py()
    shown = repr(os.fspath(path))
    try:
        with zipfile.ZipFile(path) as zf:
            infos = _check_members(zf, shown)
            config = read_json(zf, infos["config.json"], shown)
            metadata = read_json(zf, infos["metadata.json"], shown)
            data = zf.read(infos[WEIGHTS])
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:   # (unsupported zip version)
        raise ModelFileError(f"{shown}: not a .keras file, or truncated ({e})") from None
    version = str(metadata.get("keras_version", ""))
    require(version.startswith("3."), shown, f"written by Keras {version or '(unknown)'}; glassnet reads "
             "Keras 3 .keras files (save with Keras 3: model.save('m.keras'))")
    model, keras_names = _build(config, shown)
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            weights = _read_weights(h5py, f, model, keras_names, shown)
    except OSError as e:
        raise ModelFileError(f"{shown}: {WEIGHTS} is not a readable HDF5 file ({e})") from None
    for layer, arrays in zip(model.layers, weights):
        layer.set_weights(arrays)
    return model


def _check_members(zf, path):
    infos = {}
    for info in zf.infolist():
        name = info.filename
        ok = name in ("config.json", "metadata.json", WEIGHTS) or (name.startswith("assets/") and ".." not in name)
        hint = " (weights_format='npz' is not supported; save with the default .h5 weights)" \
            if name.endswith(".npz") else ""
        require(ok, path, f"unexpected member {name!r} in a .keras file{hint}")
        cap = MAX_JSON_BYTES if name.endswith(".json") else MAX_MEMBER_BYTES
        require(info.file_size <= cap, path, f"member {name!r} declares {info.file_size} bytes; the cap is {cap}")
        require(info.file_size <= 2**20 or info.file_size <= MAX_RATIO * max(info.compress_size, 1), path,
                 f"member {name!r} expands {info.file_size} / {info.compress_size} times (a decompression bomb?)")
        require(name not in infos, path, f"duplicate member {name!r}")
        infos[name] = info
    for name in ("config.json", "metadata.json", WEIGHTS):
        require(name in infos, path, f"not a Keras 3 .keras file (no {name})")
    return infos


def _object(entry, what, path):
    require(isinstance(entry, dict) and isinstance(entry.get("config"), dict) and
             isinstance(entry.get("class_name"), str), path, f"{what} must be an object with 'class_name' "
             f"and 'config'. Received: {entry!r:.200}")
    require(entry.get("registered_name") in (None, entry["class_name"]), path,
             f"{what} is a custom (registered) object {entry.get('registered_name')!r}; glassnet reads only "
             f"built-in Keras layers and never runs code from a file")
    return entry["class_name"], entry["config"]


def _dtype(value, what, path):
    if isinstance(value, dict):
        value = value.get("config", {}).get("name") if value.get("class_name") == "DTypePolicy" else value
    require(value in ("float32", "float64", None), path, f"{what}: dtype policy {value!r:.100} is not "
             "supported (float32 or float64)")
    return value


def _build(config, path):
    """The glassnet model (unbuilt weights) and, per layer, the Keras name for the weights' group check."""
    from . import layers as glassnet_layers
    from .models import Sequential
    kind, model_config = _object(config, "config.json", path)
    require(kind == "Sequential", path, f"the model is a {kind}; glassnet reads Keras Sequential models only")
    entries = model_config.get("layers")
    require(isinstance(entries, list) and entries, path, "the Sequential config has no 'layers' list")
    dtype = _dtype(model_config.get("dtype"), "the model", path)
    built, keras_names, input_shape = [], [], None
    for i, entry in enumerate(entries):
        cls, cfg = _object(entry, f"layer {i}", path)
        what = f"layer {i} ({cls} {cfg.get('name')!r})"
        if cls == "InputLayer":
            require(i == 0, path, f"{what}: an InputLayer must come first")
            shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
            require(isinstance(shape, list) and len(shape) >= 2 and all(type(d) is int and d > 0 for d in shape[1:]),
                     path, f"{what}: batch_shape must be [null, d1, ...] with known sizes. Received: {shape!r}")
            _dtype(cfg.get("dtype"), what, path)
            extra = set(cfg) - {"batch_shape", "batch_input_shape", "dtype", "name"} - set(_REQUIRED)
            require(not extra, path, f"{what}: unexpected keys {sorted(extra)}")
            _check_required(cfg, what, path)
            input_shape = tuple(shape[1:])
            continue
        require(cls in LAYERS, path, f"{what}: unknown layer type {cls!r}: glassnet has no layer that computes "
                 f"what it computes. Layers glassnet reads: InputLayer, {', '.join(sorted(LAYERS))}.")
        name, keys = LAYERS[cls]
        unknown = set(cfg) - set(keys) - _IGNORED - set(_REQUIRED)
        require(not unknown, path, f"{what}: unexpected keys {sorted(unknown)} (a newer Keras, or a setting "
                 "glassnet does not implement); refusing rather than computing something different")
        _check_required(cfg, what, path)
        kwargs = {k: cfg[k] for k in keys if k in cfg}
        activation = kwargs.get("activation")
        require(activation is None or isinstance(activation, str) and activation != "step", path,
                 f"{what}: the activation {activation!r:.100} cannot be read (only built-in names)")
        layer_dtype = _dtype(cfg.get("dtype"), what, path) or dtype
        try:
            layer = getattr(glassnet_layers, name)(dtype=layer_dtype, **kwargs)
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{path}: {what}: cannot rebuild it in glassnet: {e}") from None
        built.append(layer)
        keras_names.append(cfg.get("name"))
    if input_shape is None:
        build_config = config.get("build_config") or {}
        shape = build_config.get("input_shape") if isinstance(build_config, dict) else None
        require(isinstance(shape, list) and len(shape) >= 2, path, "no InputLayer and no build_config input "
                 "shape: the model was saved before it was built")
        input_shape = tuple(shape[1:])
    layers = [glassnet_layers.Input(input_shape, dtype=dtype)] + built
    try:
        return Sequential(layers, name=model_config.get("name") or None), keras_names
    except ValueError as e:
        raise ModelFileError(f"{path}: the layers do not fit together in glassnet: {e}") from None


def _check_required(cfg, what, path):
    for key, allowed in _REQUIRED.items():
        if key in cfg:
            require(cfg[key] in allowed, path, f"{what}: {key}={cfg[key]!r} is not supported (only "
                     f"{allowed[0]!r})")


def _snake_case(name):
    from .layers.layer import to_snake_case
    return to_snake_case(name)


def _read_weights(h5py, f, model, keras_names, path):
    """Per layer, its arrays from ``layers/<group>/vars/<i>``: every link, type, dtype and shape checked."""
    where = f"{path}: {WEIGHTS}"

    def child(group, key, kind):
        link = group.get(key, getlink=True)
        require(isinstance(link, h5py.HardLink), where, f"{group.name}/{key} is a link to elsewhere; refused")
        item = group[key]
        require(isinstance(item, kind), where, f"{item.name} is not a {kind.__name__}")
        return item

    require(set(f.keys()) <= {"layers", "vars", "optimizer"}, where, f"unexpected groups {sorted(f.keys())}")
    groups = child(f, "layers", h5py.Group) if model.layers else None
    counts, expected, result = {}, [], []
    for layer, keras_name in zip(model.layers, keras_names):
        base = _snake_case(type(layer).__name__)                 # Keras numbers groups per class name
        n = counts.get(base, 0)
        counts[base] = n + 1
        key = base if n == 0 else f"{base}_{n}"
        expected.append(key)
        want = [(w.name, w.shape) for w in layer.weights]
        if key not in groups:
            require(not want, where, f"no weights for layer {keras_name!r} (group layers/{key})")
            result.append([])
            continue
        variables = child(child(groups, key, h5py.Group), "vars", h5py.Group)
        stored = variables.attrs.get("name")
        stored = stored.decode() if isinstance(stored, bytes) else stored
        require(stored in (None, keras_name), where, f"layers/{key} holds the weights of {stored!r}, expected "
                 f"{keras_name!r}")
        require(set(variables.keys()) == {str(i) for i in range(len(want))}, where,
                 f"layer {keras_name!r} has weights {sorted(variables.keys())}, expected {len(want)} "
                 f"({', '.join(f'{n} {s}' for n, s in want)})")
        arrays = []
        for i, (name, shape) in enumerate(want):
            ds = child(variables, str(i), h5py.Dataset)
            require(ds.external is None and not ds.is_virtual, where, f"{ds.name} uses external storage")
            require(ds.dtype.kind == "f" and ds.dtype.itemsize in (2, 4, 8) and ds.shape == tuple(shape),
                     where, f"layer {keras_name!r} weight {name!r}: expected {tuple(shape)} float, received "
                     f"{ds.shape} {ds.dtype}")
            arrays.append(np.asarray(ds[()], dtype=layer.dtype))
        result.append(arrays)
    extra = sorted(set(groups.keys()) - set(expected)) if groups is not None else []
    require(not extra, where, f"weights for layers the config does not have: {extra}")
    return result
