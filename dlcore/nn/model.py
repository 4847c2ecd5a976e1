"""An L-layer network in the notation of the course notes: forward pass, cost, backward pass.

Shapes: X (n_x, m), Y (1, m) or (n[L], m), W[l] (n[l], n[l-1]), b[l] (n[l], 1), Z[l] and A[l] (n[l], m).
Python lists are 0-based, so ``W[0]`` is the notes' W[1] and ``As[0]`` is A[1]; A[0] is X.

Layers 1..L-1 use the hidden activation, layer L the output activation. With no hidden layer the
net is logistic regression (sigmoid output) or linear regression (linear output).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import activations
from .checks import check_params, check_x


@dataclass(frozen=True)
class Architecture:
    """What defines the function a net computes (its weights aside)."""

    layer_dims: tuple[int, ...]        # (n_x, n[1], ..., n[L])
    hidden_activation: str = "relu"    # g[l] for l < L
    output_activation: str = "sigmoid"  # g[L]: sigmoid (cross-entropy) or linear (squared error)
    relu_grad_at_zero: float = 1.0     # ReLU'(0) and leaky-ReLU'(0): notes 1, course code 0

    def __post_init__(self):
        dims = tuple(int(n) for n in self.layer_dims)
        if len(dims) < 2 or min(dims) < 1:
            raise ValueError(f"layer_dims needs n_x and at least one layer, each >= 1 (got {list(dims)})")
        object.__setattr__(self, "layer_dims", dims)
        if self.hidden_activation not in activations.HIDDEN_ACTIVATIONS:
            raise ValueError(f"hidden_activation must be one of {activations.HIDDEN_ACTIVATIONS} "
                             f"(got {self.hidden_activation!r})")
        if self.output_activation not in activations.OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {activations.OUTPUT_ACTIVATIONS} "
                             f"(got {self.output_activation!r})")
        if self.relu_grad_at_zero not in (0, 1):
            raise ValueError(f"relu_grad_at_zero must be 0 or 1 (got {self.relu_grad_at_zero!r})")

    @property
    def L(self) -> int:
        return len(self.layer_dims) - 1

    def activation(self, l: int) -> activations.Activation:
        """g of layer l (1-based, as in the notes)."""
        return activations.get(self.output_activation if l == self.L else self.hidden_activation)


class Workspace:
    """The arrays of a forward and a backward pass over m examples, made once and overwritten by
    every call given them (the iterations of training), so that an iteration allocates nothing:
    Z[l], A[l], g'[l](Z[l]) of the hidden layers (``activations.Hidden``: a ``forward`` given the
    workspace keeps ReLU's g' for the ``backward`` given it), dZ[l], dW[l] and db[l]; lists 0-based like W.
    The dZ[l] are row blocks of one array ``dZ_rows`` (so every db[l] is one sum), and db[1..L],
    dW[2..L] are views of one flat ``grad`` (so 1/m, and the update, are one operation each; the
    training loop keeps b and W[2..L] as views of a ``theta`` of the same layout, see ``pack``).
    dW[1] (n[1], n_x) is made on first use: the dual form of the first layer never needs it."""

    def __init__(self, arch: Architecture, m: int, dtype):
        n, L = arch.layer_dims, arch.L
        self.dtype = np.dtype(dtype)
        self.g = [arch.activation(l) for l in range(1, L + 1)]
        self.Z = [np.empty((n[l], m), dtype) for l in range(1, L + 1)]
        self.A = [np.empty((n[l], m), dtype) for l in range(1, L + 1)]
        self.hidden = [activations.Hidden(self.g[l - 1], arch.relu_grad_at_zero, (n[l], m), dtype)
                       for l in range(1, L)]  # g and g' of the hidden layers, g'(Z[l]) kept
        self.dZ_rows = np.empty((sum(n[1:]), m), dtype)
        self.dZ = _blocks(self.dZ_rows.ravel(), [(n[l], m) for l in range(1, L + 1)])
        self.shapes = [(n[l], 1) for l in range(1, L + 1)] + [(n[l], n[l - 1]) for l in range(2, L + 1)]
        self.grad = np.empty(sum(r * c for r, c in self.shapes), dtype)
        views = _blocks(self.grad, self.shapes)
        self.db, self.dW = views[:L], [None] + views[L:]
        self.db_rows = self.grad[:sum(n[1:])].reshape(-1, 1)  # db[1..L] stacked, as dZ_rows

    def pack(self, W, b):
        """theta, a flat copy of b[1..L] and W[2..L] laid out as ``grad``, and views of it in place
        of those arrays in the lists W and b (``unpack`` copies them back)."""
        params = list(b) + list(W[1:])  # theta keeps their dtype, so each update rounds as before
        theta = np.concatenate([P.ravel() for P in params]).astype(np.result_type(*params), copy=False)
        views = _blocks(theta, self.shapes)
        L = len(b)
        originals = list(W), list(b)
        b[:], W[1:] = views[:L], views[L:]
        return theta, originals

    @staticmethod
    def unpack(W, b, originals):
        """Copy the values of the views back into the caller's arrays and put those in the lists."""
        for lst, orig in zip((W, b), originals):
            for l, P in enumerate(orig):
                if lst[l] is not P:
                    np.copyto(P, lst[l], casting="unsafe")
                    lst[l] = P

    @classmethod
    def for_arrays(cls, arch: Architecture, *arrays):
        """A workspace for the examples of arrays[0], in the dtype numpy would give their products."""
        return cls(arch, arrays[0].shape[1], np.result_type(*arrays))

    def dW1(self, shape):
        if self.dW[0] is None:
            self.dW[0] = np.empty(shape, self.dtype)
        return self.dW[0]


def _blocks(flat, shapes):
    """Consecutive views of the 1-D array ``flat`` with the given 2-D shapes."""
    views, start = [], 0
    for r, c in shapes:
        views.append(flat[start:start + r * c].reshape(r, c))
        start += r * c
    return views


def forward(W, b, X, arch: Architecture, Z1=None, ws: Workspace | None = None):
    """Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]) for l = 1..L, with A[0] = X.

    Returns the lists ``Zs, As`` (the caches of the backward pass); ``As[-1]`` is AL (n[L], m).
    ``Z1`` may be given precomputed (the dual form of the first layer does so). The arrays are
    those of ``ws`` when given (overwritten by the next call), else new ones; given, its hidden
    layers keep what ``backward`` with the same ``ws`` needs (see ``activations.Hidden``).
    """
    given = ws is not None
    if not given:
        X = np.asarray(X)
        ws = Workspace.for_arrays(arch, X, *W, *b)
    Zs, As = [], []
    A = X
    for l in range(1, arch.L + 1):
        if l == 1 and Z1 is not None:
            Z = Z1
        else:
            Z = np.matmul(W[l - 1], A, out=ws.Z[l - 1])  # W[l] A[l-1]  (n[l], m)
            Z += b[l - 1]                                # + b[l]
        if given and l < arch.L:  # a training's pass: g'(Z) kept for its backward pass
            A = ws.hidden[l - 1].value(Z, ws.A[l - 1])
        else:
            A = ws.g[l - 1].value(Z, out=ws.A[l - 1])
        Zs.append(Z)
        As.append(A)
    return Zs, As


def _softplus(Z):
    """log(1 + e^z) = max(z, 0) + log(1 + e^-|z|), without overflow: a new array, made in place."""
    T = np.abs(Z)
    np.negative(T, out=T)
    np.exp(T, out=T)
    np.log1p(T, out=T)
    T += np.maximum(Z, 0.0)  # the sum the other way round: the same bits
    return T


def cost(ZL, AL, Y, output_activation: str = "sigmoid") -> float:
    """The cost J of the output layer.

    sigmoid: cross-entropy J = -(1/m) sum(y log a + (1-y) log(1-a)), computed from z as
             (1/m) sum(softplus(z) - y z), which stays finite when a rounds to 0 or 1.
    linear:  half mean squared error J = (1/(2m)) sum((a - y)^2).
    Both have dJ/dZ[L] = (A[L] - Y) / m, which ``backward`` uses.
    """
    m = Y.shape[1]
    if output_activation == "sigmoid":
        T, YZ = _softplus(ZL), Y * ZL
        if YZ.dtype == T.dtype:
            T -= YZ
        else:  # a wider Y (float64 labels of a float32 net): the difference in its dtype, as numpy gives it
            T = T - YZ
        return float(T.sum() / m)
    D = AL - Y
    return float((D * D).sum() / (2 * m))


def backward(W, Zs, As, X, Y, arch: Architecture, need_dW1: bool = True, ws: Workspace | None = None):
    """Gradients of J for every layer, from the caches of ``forward``.

    dZ[L] = A[L] - Y
    dW[l] = (1/m) dZ[l] A[l-1]^T         (n[l], n[l-1])
    db[l] = (1/m) sum over examples of dZ[l]   (n[l], 1)
    dZ[l-1] = W[l]^T dZ[l] * g'[l-1](Z[l-1])
    dA[0] = W[1]^T dZ[1] is never computed: nothing uses it. With ``need_dW1=False`` dW[1] is
    skipped as well (the dual form updates the first layer from dZ[1] alone).
    Returns lists ``dW, db`` (0-based like W) and dZ[1]: arrays of ``ws`` when given (overwritten by
    the next call; it must be the ``ws`` of the ``forward`` that made Zs, As), else new ones.
    (1/m) is applied after the sum, as the course does, to keep its bits.
    """
    L, m = arch.L, Y.shape[1]
    given = ws is not None
    if not given:
        ws = Workspace.for_arrays(arch, As[-1], X, Y, *W)
    inv_m = 1.0 / m
    dW, db = [None] * L, [None] * L
    dZ = np.subtract(As[-1], Y, out=ws.dZ[L - 1])  # (n[L], m)
    for l in range(L, 0, -1):
        A_prev = As[l - 2] if l > 1 else X
        if l > 1 or need_dW1:
            out = ws.dW[l - 1] if l > 1 else ws.dW1((dZ.shape[0], X.shape[0]))
            dW[l - 1] = np.matmul(dZ, A_prev.T, out=out)  # dZ[l] A[l-1]^T   (n[l], n[l-1])
        if l > 1:
            dZ_prev = np.matmul(W[l - 1].T, dZ, out=ws.dZ[l - 2])  # dA[l-1], (n[l-1], m)
            hidden = ws.hidden[l - 2]
            if given:  # the forward pass with this ws kept what g' needs
                hidden.backprop(dZ_prev, Zs[l - 2], As[l - 2])
            else:
                dZ_prev *= hidden.g.grad(Zs[l - 2], As[l - 2], arch.relu_grad_at_zero, out=hidden.G)
            dZ1 = dZ = dZ_prev
        else:
            dZ1 = dZ
    ws.dZ_rows.sum(axis=1, keepdims=True, out=ws.db_rows)  # sum over examples of dZ[l], every l
    ws.grad *= inv_m                                      # (1/m) for db[1..L] and dW[2..L]
    if need_dW1:
        dW[0] *= inv_m
    db = list(ws.db)
    return dW, db, dZ1


def predict_proba(W, b, X, arch: Architecture):
    """A[L] (n[L], m): probabilities for a sigmoid output, values for a linear one."""
    check_params(W, b, arch.layer_dims)
    check_x(X, arch.layer_dims[0])
    return forward(W, b, X, arch)[1][-1]


def predict(W, b, X, arch: Architecture):
    """Class labels 1{A[L] > 0.5} (n[L], m) for a sigmoid output; the values A[L] for a linear one."""
    AL = predict_proba(W, b, X, arch)
    if arch.output_activation == "sigmoid":
        return (AL > 0.5).astype(np.int64)
    return AL
