"""The "bare NumPy" reference: the same two MLPs trained by a hand-written loop, no framework.

It computes what glassnet's ``fit`` computes (Keras 3 numerics: the sparse categorical
cross-entropy of a sigmoid output is taken from its logits, Adam in the "epsilon hat" form, batch 32, shuffled each
epoch), with every array made once and updated with ``out=``. Its epoch time is the arithmetic
floor; glassnet's time minus this one is the framework's per-step overhead.
"""
import numpy as np

EPS = 1e-7


def _glorot(rng, d, u):
    limit = np.sqrt(6 / (d + u))
    return rng.uniform(-limit, limit, (d, u)).astype(np.float32)


class Adam:
    """Keras's Adam on a list of float32 arrays, in place (same formula as glassnet.optimizers.Adam)."""

    def __init__(self, params, lr=1e-3, beta_1=0.9, beta_2=0.999, eps=EPS):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, beta_1, beta_2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = [np.zeros_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        alpha = np.float32(self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t))
        for w, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self.tmp):
            np.subtract(g, m, out=tmp)
            tmp *= np.float32(1 - self.b1)
            m += tmp                                   # m += (g − m)(1 − β1)
            np.square(g, out=tmp)
            tmp -= v
            tmp *= np.float32(1 - self.b2)
            v += tmp                                   # v += (g² − v)(1 − β2)
            np.sqrt(v, out=tmp)
            tmp += np.float32(self.eps)
            np.divide(m, tmp, out=tmp)
            tmp *= alpha
            w -= tmp                                   # w −= α·m / (√v + ε)


def _sparse_cce_logits_grad(z, y, rows):
    """Loss value and dL/dz for sparse CCE on the logits z behind the sigmoid (mean over the batch).

    Keras 3 (and glassnet) compute a cross-entropy on a sigmoid/softmax output from the logits the
    activation remembers: L = logsumexp(z) − z_y, dL/dz = (softmax(z) − onehot(y)) / N.
    """
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, y]))
    dz = e / total
    dz[rows, y] -= 1
    dz /= len(y)
    return loss, dz


def train(x, y, hidden=None, epochs=1, batch_size=32, seed=0, on_epoch=None):
    """Train 784→10 sigmoid (``hidden=None``) or 784→hidden relu→10 sigmoid; returns epoch losses."""
    rng = np.random.default_rng(seed)
    n, d = x.shape
    sizes = [d, 10] if hidden is None else [d, hidden, 10]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [_glorot(rng, a, b), np.zeros(b, np.float32)]
    opt = Adam(params)
    losses = []
    for epoch in range(epochs):
        if on_epoch:
            on_epoch("begin", epoch)
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            rows = np.arange(len(idx))
            if hidden is None:
                W, b = params
                loss, dz = _sparse_cce_logits_grad(xb @ W + b, yb, rows)
                grads = [xb.T @ dz, dz.sum(axis=0)]
            else:
                W1, b1, W2, b2 = params
                h = np.maximum(xb @ W1 + b1, 0)
                loss, dz = _sparse_cce_logits_grad(h @ W2 + b2, yb, rows)
                dh = (dz @ W2.T) * (h > 0)
                grads = [xb.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]
            opt.step(grads)
            total += loss * len(idx)
        losses.append(total / n)
        if on_epoch:
            on_epoch("end", epoch)
    return losses
