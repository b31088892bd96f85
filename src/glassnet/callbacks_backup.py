"""BackupAndRestore: resume an interrupted ``fit`` from the last finished epoch (``keras.callbacks``).

After every finished epoch, ``backup_dir`` holds::

    epoch-0003.gnet   the model after 3 finished epochs: weights, optimizer state, iterations and
                      learning rate (``save_model``, atomic)
    state.json        {"format": "glassnet-backup", "epoch": 3, "model_file": "epoch-0003.gnet",
                       "rng": {"global": ..., "layers": {"3": ...}}}   (layers by position)

written in that order, each atomically (temp file, fsync, rename); the older epoch file is deleted
only once state.json names the new one. So a process killed at any instant (Ctrl-C, SIGKILL, power
loss) leaves a state.json that names a complete model file.

When ``fit`` starts and state.json exists, the weights, the optimizer state, the random generators
(``config.rng()``'s ``bit_generator.state`` and any seeded Dropout's own) and the epoch are restored,
so the run goes on as if it had never stopped: same shuffles, same final weights, bit for bit.
The states of other callbacks (EarlyStopping's patience counter, ...) are not saved, as in Keras.
"""
import json
import os

from . import config
from .callbacks import Callback

STATE_FILE = "state.json"


class BackupAndRestore(Callback):
    """Back up the training state to ``backup_dir`` at each epoch end; restore it when ``fit`` starts.

    Args:
        backup_dir: a folder for this run only (created if missing).
        save_freq: "epoch" (the only value supported).
        double_checkpoint: accepted for Keras compatibility; the previous epoch's file is always kept
            until the new one is complete.
        delete_checkpoint: delete the backup when ``fit`` finishes (not when it is interrupted).

    Raises:
        glassnet.saving.ModelFileError: the backup's model file is damaged (when ``fit`` starts).
        ValueError: state.json is malformed or the backup does not fit the model.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a folder path. Received: "
                             f"backup_dir={backup_dir!r}")
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: only save_freq='epoch' is supported. Received: {save_freq!r}")
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint

    # -- restore ------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        state_path = os.path.join(self.backup_dir, STATE_FILE)
        if not os.path.exists(state_path):
            return
        from .saving import load_model
        try:
            with open(state_path) as f:
                state = json.load(f)
            epoch, model_file, rng = int(state["epoch"]), str(state["model_file"]), state["rng"]
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"BackupAndRestore: {state_path} is not a valid backup state ({e}); delete "
                             "the folder to start afresh.") from None
        if os.path.basename(model_file) != model_file:
            raise ValueError(f"BackupAndRestore: {state_path} names a file outside the backup folder.")
        saved = load_model(os.path.join(self.backup_dir, model_file))
        model, optimizer = self.model, self.model.optimizer
        try:
            model.set_weights(saved.get_weights())
            optimizer.set_state(model.trainable_weights, saved.optimizer.get_state(saved.trainable_weights))
            self._set_rng_states(rng)
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f"BackupAndRestore: the backup in {self.backup_dir} does not fit this model or "
                             f"run ({e}). Use a new backup_dir for a different model.") from None
        optimizer.iterations = saved.optimizer.iterations
        if optimizer.learning_rate != saved.optimizer.learning_rate:
            optimizer.learning_rate = saved.optimizer.learning_rate
        model._initial_epoch = max(epoch, getattr(model, "_initial_epoch", 0))

    def _set_rng_states(self, rng):
        config.rng().bit_generator.state = rng["global"]
        for i, layer in enumerate(self.model.layers):          # by position: names differ between runs
            if str(i) in rng["layers"]:
                layer._rng.bit_generator.state = rng["layers"][str(i)]

    def _rng_states(self):
        layers = {str(i): layer._rng.bit_generator.state for i, layer in enumerate(self.model.layers)
                  if getattr(layer, "_rng", None) is not None}
        return {"global": config.rng().bit_generator.state, "layers": layers}

    # -- back up ------------------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{epoch + 1:04d}.gnet"
        self.model.save(os.path.join(self.backup_dir, name))
        state = {"format": "glassnet-backup", "epoch": epoch + 1, "model_file": name, "rng": self._rng_states()}
        _write_atomic(os.path.join(self.backup_dir, STATE_FILE), json.dumps(state, indent=1).encode())
        for old in self._epoch_files():
            if old != name:
                os.remove(os.path.join(self.backup_dir, old))

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or getattr(self.model, "interrupted", False):
            return
        state_path = os.path.join(self.backup_dir, STATE_FILE)
        if os.path.exists(state_path):
            os.remove(state_path)                # first: a half-deleted backup is then no backup
        for old in self._epoch_files():
            os.remove(os.path.join(self.backup_dir, old))
        if os.path.isdir(self.backup_dir) and not os.listdir(self.backup_dir):
            os.rmdir(self.backup_dir)

    def _epoch_files(self):
        if not os.path.isdir(self.backup_dir):
            return []
        return sorted(n for n in os.listdir(self.backup_dir) if n.startswith("epoch-") and n.endswith(".gnet"))


def _write_atomic(path, data):
    """Write ``data`` to a temp file beside ``path``, fsync, rename over ``path``, fsync the folder."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    try:
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
