"""Batch gradient descent, with the first layer in its direct or its exact dual form.

Each iteration i = 0..N-1 runs forward, records J (the cost of the parameters after i updates),
runs backward and updates every layer: W[l] -= alpha dW[l], b[l] -= alpha db[l].

The dual form (for n_x > m). Gradient descent only ever adds to W[1] multiples of
dW[1] = (1/m) dZ[1] X^T, so W[1](t) = W[1](0) + C(t) X^T with C (n[1], m). Then

    Z[1] = W[1](0) X + C K + b[1],   K = X^T X (m, m), computed once,
    C   -= alpha (1/m) dZ[1],

and W[1] is materialised only when asked for. Exact algebra: the curves agree with the direct form
to rounding, while an iteration costs O(n1 m^2) instead of O(n1 n_x m). K (and K_val = X^T X_val) may
be given (``gram``): blocks of one Gram matrix of all the examples, taken by index for each fold, say.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .checks import check_params, check_xy
from .model import Architecture, Workspace, backward, cost, forward

FORMS = ("auto", "direct", "dual")


class DirectFirstLayer:
    """W[1] kept as it is; Z[1] = W[1] X + b[1]."""

    name = "direct"

    def __init__(self, W1, X, X_val=None, gram=None):
        self.W1, self.X, self.X_val = W1, X, X_val

    def z1(self, b1, out=None):
        Z1 = np.matmul(self.W1, self.X, out=out)  # (n1, m)
        Z1 += b1
        return Z1

    def z1_val(self, b1):
        return self.W1 @ self.X_val + b1

    def update(self, dZ1, alpha, m):
        self.W1 -= alpha * (1.0 / m * (dZ1 @ self.X.T))  # the course's W1 - alpha * dW1

    def weights(self):
        return self.W1


class DualFirstLayer:
    """W[1] = W[1](0) + C X^T, with C updated instead of W[1] (see the module docstring)."""

    name = "dual"

    def __init__(self, W1, X, X_val=None, gram=None):
        self.W1_0, self.X = W1, X
        self.P = W1 @ X                         # W[1](0) X   (n1, m)
        self.K = X.T @ X if gram is None else gram[0]  # X^T X (m, m)
        self.C = np.zeros((W1.shape[0], X.shape[1]), dtype=W1.dtype)  # (n1, m)
        self.step = None                        # the update's buffer, made on the first one
        if X_val is not None:
            self.P_val = W1 @ X_val             # (n1, m_val)
            self.K_val = X.T @ X_val if gram is None else gram[1]  # (m, m_val)

    def z1(self, b1, out=None):
        Z1 = np.matmul(self.C, self.K, out=out)  # P + C K + b1, in that order
        Z1 += self.P
        Z1 += b1
        return Z1

    def z1_val(self, b1):
        return self.P_val + self.C @ self.K_val + b1

    def update(self, dZ1, alpha, m):
        """C -= alpha (1/m dZ[1]): in a buffer when alpha and 1/m keep dZ[1]'s dtype (Python numbers
        do), else as written, where numpy widens the step (a float32 net with a float64 alpha)."""
        inv_m = 1.0 / m
        if self.step is None:
            self.step = np.empty_like(dZ1)
            self.in_place = np.result_type(alpha, inv_m, dZ1) == dZ1.dtype
        if not self.in_place:
            self.C -= alpha * (inv_m * dZ1)
            return
        step = np.multiply(dZ1, inv_m, out=self.step)
        step *= alpha
        self.C -= step

    def weights(self):
        return self.W1_0 + self.C @ self.X.T    # (n1, n_x)


def resolve_form(form: str, n_x: int, m: int, n1: int, iterations: int) -> str:
    """``form`` itself, or for "auto" the cheaper of the two (``choose_form``)."""
    return choose_form(n_x, m, n1, iterations) if form == "auto" else form


def choose_form(n_x: int, m: int, n1: int, iterations: int) -> str:
    """The cheaper form by multiply-add count: direct costs 2 n1 n_x m per iteration (Z[1], dW[1]);
    dual costs n1 m^2 per iteration plus K = X^T X, W(0) X once and C X^T at the end."""
    direct = 2 * n1 * n_x * m * iterations
    dual = n1 * m * m * iterations + m * m * n_x + 2 * n1 * n_x * m
    return "dual" if dual < direct else "direct"


class Validation(NamedTuple):
    """What ``on_step`` receives about the validation set: its cost and A[L] (n[L], m_val)."""
    cost: float
    AL: np.ndarray


@dataclass
class TrainResult:
    W: list                      # trained W[l], 0-based
    b: list
    costs: np.ndarray            # J at every iteration run, float64
    status: str = "completed"    # completed | stopped (by the callback) | diverged
    reason: str = ""
    form: str = "direct"
    val_iterations: list = field(default_factory=list)  # iterations at which val_costs were taken
    val_costs: list = field(default_factory=list)

    @property
    def iterations_run(self) -> int:
        return len(self.costs)


def gradient_descent(X, Y, W, b, arch: Architecture, learning_rate: float, iterations: int,
                     on_step=None, every: int = 100, X_val=None, Y_val=None, form: str = "auto",
                     explode_factor: float = 1e3, gram=None) -> TrainResult:
    """Train ``W, b`` (lists, updated in place) by batch gradient descent on X (n_x, m), Y (n_y, m).

    ``on_step(i, costs, val)`` is called after the cost of iteration i when (i + 1) % every == 0
    and at the last iteration; ``costs`` holds J[0..i] and ``val`` is a ``Validation`` (cost and A[L]
    on X_val, Y_val) of the same parameters, None without validation data. Returning False stops.
    Divergence, a cost that is not finite or exceeds ``explode_factor`` times the first one, or
    parameters that are not finite, ends training with status "diverged" and no warnings.
    ``gram``: (K, K_val) for the dual form, X^T X and X^T X_val (K_val None without validation),
    computed here when not given; the direct form does not use it.
    """
    _check_inputs(X, Y, W, b, arch, learning_rate, iterations, every, X_val, Y_val, form, gram)
    m = X.shape[1]
    form = resolve_form(form, X.shape[0], m, arch.layer_dims[1], iterations)
    first = (DualFirstLayer if form == "dual" else DirectFirstLayer)(W[0], X, X_val, gram)
    costs = np.empty(iterations, dtype=np.float64)
    result = TrainResult(W, b, costs[:0], form=form)
    out = arch.output_activation
    ws = Workspace.for_arrays(arch, X, Y, *W, *b)  # the arrays every iteration writes into
    theta, originals = ws.pack(W, b)
    with np.errstate(all="ignore"):
        try:
            for i in range(iterations):
                Zs, As = forward(W, b, X, arch, Z1=first.z1(b[0], out=ws.Z[0]), ws=ws)
                costs[i] = J = cost(Zs[-1], As[-1], Y, out)
                if not math.isfinite(J) or J > explode_factor * max(costs[0], 1e-12):
                    result.status, result.reason = "diverged", f"cost {J:.4g} at iteration {i}"
                    result.costs = costs[: i + 1]
                    break
                if on_step is not None and ((i + 1) % every == 0 or i == iterations - 1):
                    val = None
                    if X_val is not None:
                        Zv, Av = forward(W, b, X_val, arch, Z1=first.z1_val(b[0]))
                        val = Validation(cost(Zv[-1], Av[-1], Y_val, out), Av[-1])
                        result.val_iterations.append(i)
                        result.val_costs.append(val.cost)
                    if not _finite(first, W, b):
                        result.status, result.reason = "diverged", f"non-finite parameters at iteration {i}"
                        result.costs = costs[: i + 1]
                        break
                    if on_step(i, costs[: i + 1], val) is False:
                        result.status, result.reason = "stopped", f"stopped by callback at iteration {i}"
                        result.costs = costs[: i + 1]
                        break
                dW, db, dZ1 = backward(W, Zs, As, X, Y, arch, need_dW1=False, ws=ws)
                ws.grad *= learning_rate  # W[l] -= alpha dW[l] (l >= 2), b[l] -= alpha db[l]: all at once,
                theta -= ws.grad          # as b and W[2..L] are views of theta laid out as grad
                first.update(dZ1, learning_rate, m)
            else:
                result.costs = costs
        finally:  # the caller's arrays get the values, even if on_step raised
            Workspace.unpack(W, b, originals)
        W[0] = first.weights()
        if result.status == "completed" and not _finite(first, W, b):
            result.status, result.reason = "diverged", "non-finite parameters at the end"
    return result


def _check_inputs(X, Y, W, b, arch: Architecture, learning_rate, iterations, every, X_val, Y_val, form, gram=None):
    """gradient_descent's arguments, refused with a ValueError naming the problem."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS} (got {form!r})")
    dims = arch.layer_dims
    check_params(W, b, dims)
    check_xy(X, Y, arch.output_activation, n_x=dims[0], n_y=dims[-1])
    if (X_val is None) != (Y_val is None):
        raise ValueError("X_val and Y_val come together: give both or neither")
    if X_val is not None:
        check_xy(X_val, Y_val, arch.output_activation, n_x=dims[0], n_y=dims[-1], name="validation X")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive finite number (got {learning_rate!r})")
    if int(iterations) != iterations or iterations < 1 or int(every) != every or every < 1:
        raise ValueError(f"iterations and every must be integers >= 1 (got {iterations!r}, {every!r})")
    if gram is not None:
        m = X.shape[1]
        want = [(m, m), None if X_val is None else (m, X_val.shape[1])]
        got = [None if g is None else np.shape(g) for g in gram]
        if got != want:
            raise ValueError(f"gram must be (K, K_val) of shapes {want} (got {got})")


def _finite(first, W, b) -> bool:
    inner = first.C if isinstance(first, DualFirstLayer) else first.W1
    return bool(np.isfinite(inner).all() and all(np.isfinite(P).all() for P in list(W[1:]) + list(b)))
