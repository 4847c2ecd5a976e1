"""k trainings of one architecture advanced together: batch gradient descent on stacked arrays.

The k folds of a k-fold trial share the architecture, the learning rate and the iteration count; only
their examples and initial weights differ. Stacked on a leading axis (W[l] (k, n[l], n[l-1]), Z[l] and
A[l] (k, n[l], m)), an iteration is one numpy call per operation for all of them instead of one per
fold: ``np.matmul`` runs the k products of a layer in one call, and the elementwise work is one pass.
On the small arrays of a net the calls cost as much as the arithmetic.

Folds of the same size form one stack (k-fold sizes differ by one, so a 5-fold split of 209 examples
makes two: four folds of 167 and one of 168). Nothing is padded: every fold's products have its own
shapes, numpy's stacked matmul calls BLAS once per fold with them, and each fold's sums run over its
own examples in the same order. So each fold's curve, weights and validation values are those of its
own training by ``train.gradient_descent``, bit for bit (tests/nn/test_stacked.py), and the stacked
computation only changes how many numpy calls an iteration takes.

Each fold is its own training: one that diverges stops there (its curve, parameters and reason are
those of that iteration) and the others go on, unless ``stop_together`` ends them all there.
"""
from __future__ import annotations

import numpy as np

from .activations import Hidden
from .fold_stack import FoldStack, _Group
from .model import Architecture, _softplus
from .train import TrainResult, Validation, _check_inputs, resolve_form


def gradient_descent_stacked(stack: FoldStack, Ws, bs, arch: Architecture, learning_rate: float,
                             iterations: int, on_step=None, every: int = 100, form: str = "dual",
                             explode_factor: float = 1e3, stop_together: bool = False) -> list[TrainResult]:
    """Train fold f of ``stack`` from ``Ws[f], bs[f]`` (lists of W[l], b[l], left unchanged) for every f
    at once; one ``TrainResult`` per fold, the one ``gradient_descent`` gives that fold alone.

    ``on_step(i, costs, vals)`` is called after the costs of iteration i when (i + 1) % every == 0 and
    at the last iteration: ``costs`` (k, i + 1) holds every fold's J[0..i], ``vals`` a ``Validation``
    per fold (None without validation data, and for a fold that has ended: its row of ``costs`` stops
    meaning anything there too); returning False stops every fold. ``form`` is resolved as
    ``gradient_descent`` resolves it, per size of fold ("auto": the cheaper for that size).
    """
    if len(Ws) != stack.k or len(bs) != stack.k:
        raise ValueError(f"expected the initial weights of {stack.k} folds (got {len(Ws)} and {len(bs)})")
    for f, fold in enumerate(stack.folds):
        _check_inputs(fold.X, fold.Y, Ws[f], bs[f], arch, learning_rate, iterations, every, fold.X_val, fold.Y_val,
                      form)
        if any(np.asarray(P).dtype != stack.dtype for P in list(Ws[f]) + list(bs[f])):
            raise ValueError(f"fold {f}'s initial weights must be {stack.dtype}, as the stack is")
    n = arch.layer_dims
    groups = [_Run(g, [Ws[i] for i in g.index], [bs[i] for i in g.index], arch,
                   resolve_form(form, n[0], g.m, n[1], int(iterations)), learning_rate) for g in stack.groups]
    return _train(stack, groups, int(iterations), on_step, int(every), explode_factor, stop_together)


def _train(stack, groups, iterations, on_step, every, explode_factor, stop_together):
    """The lock-step loop over the groups, with gradient_descent's checks for each fold."""
    k = stack.k
    costs = np.empty((k, iterations), np.float64)
    limit = np.full(k, np.inf)
    done = np.zeros(k, bool)
    where = {f: (g, j) for g in groups for j, f in enumerate(g.index)}  # fold -> (its group, its row)
    results = [TrainResult(None, None, costs[f, :0], form=where[f][0].form) for f in range(k)]

    def end(folds, status, reason, i):
        for f in folds:
            g, j = where[f]
            results[f].status, results[f].reason, results[f].costs = status, reason(f), costs[f, :i + 1]
            results[f].W, results[f].b = g.parameters(j)
            g.freeze(j)
        done[folds] = True
        limit[folds] = np.inf

    def stopped(folds, i) -> bool:
        """Folds ``folds`` ended at iteration i: whether the loop ends (all ended, or stop_together)."""
        if stop_together and len(folds):
            end(np.flatnonzero(~done), "stopped", lambda f: f"fold {folds[0]} diverged at iteration {i}", i)
        return bool(done.all())

    with np.errstate(all="ignore"):
        for i in range(iterations):
            for g in groups:
                costs[g.index, i] = g.forward_cost()
            J = costs[:, i]
            if i == 0:
                limit[~done] = explode_factor * np.maximum(J[~done], 1e-12)
            ok = np.isfinite(J) & (J <= limit)
            if not ok.all():  # a cost not finite, or exploded: that fold diverged (unless it had ended)
                bad = np.flatnonzero(~ok & ~done)
                end(bad, "diverged", lambda f: f"cost {J[f]:.4g} at iteration {i}", i)
                if stopped(bad, i):
                    break
            if on_step is not None and ((i + 1) % every == 0 or i == iterations - 1):
                vals = [None] * k
                for g in groups:
                    for f, v in zip(g.index, g.validation() if stack.validated else ()):
                        if not done[f]:
                            vals[f] = v
                            results[f].val_iterations.append(i)
                            results[f].val_costs.append(v.cost)
                bad = np.flatnonzero(~finite(groups, k) & ~done)
                end(bad, "diverged", lambda f: f"non-finite parameters at iteration {i}", i)
                if stopped(bad, i):
                    break
                if on_step(i, costs[:, :i + 1], vals) is False:
                    end(np.flatnonzero(~done), "stopped", lambda f: f"stopped by callback at iteration {i}", i)
                    break
            for g in groups:
                g.backward_update()
        else:
            last = np.flatnonzero(~done)
            ok = finite(groups, k)
            end(last, "completed", lambda f: "", iterations - 1)
            for f in last[~ok[last]]:
                results[f].status, results[f].reason = "diverged", "non-finite parameters at the end"
    return results


def finite(groups, k: int):
    """Per fold: whether every parameter is finite (the dual form's C, not the W[1] made from it)."""
    ok = np.ones(k, bool)
    for g in groups:
        ok[g.index] = g.finite()
    return ok


class _Run:
    """One group's parameters and the arrays of its forward and backward passes, laid out as the
    unstacked ``model.Workspace`` lays out one fold's: theta (k, P) holds each fold's b[1..L] and
    W[2..L] (W[1] too in the direct form) in one row, and grad the same layout."""

    def __init__(self, group: _Group, Ws, bs, arch: Architecture, form: str, learning_rate: float):
        k, dt, n, L, m = len(group.index), group.stack.dtype, arch.layer_dims, arch.L, group.m
        self.group, self.index, self.arch, self.form, self.L, self.m = group, group.index, arch, form, L, m
        self.g = [arch.activation(l) for l in range(1, L + 1)]
        first = [(n[1], n[0])] if form == "direct" else []
        self.shapes = [(n[l], 1) for l in range(1, L + 1)] + first + [(n[l], n[l - 1]) for l in range(2, L + 1)]
        self.theta = np.stack([np.concatenate([P.ravel() for P in list(b) + ([W[0]] if first else []) + list(W[1:])])
                               for W, b in zip(Ws, bs)]).astype(dt, copy=False)
        self.grad = np.empty_like(self.theta)
        views, gviews = self._views(self.theta), self._views(self.grad)
        self.b, self.W = views[:L], (views[L:] if first else [None] + views[L:])  # W[0]: the direct form's W[1]
        self.dW = gviews[L:] if first else [None] + gviews[L:]
        self.WT = [None if w is None else w.transpose(0, 2, 1) for w in self.W]
        self.Z = [np.empty((k, n[l], m), dt) for l in range(1, L + 1)]
        self.A = [np.empty((k, n[l], m), dt) for l in range(1, L + 1)]
        self.AT = [a.transpose(0, 2, 1) for a in self.A]
        rows = sum(n[1:])
        self.dZ_rows = np.empty((k, rows, m), dt)
        self.dZ = [self.dZ_rows[:, s - n[l]:s] for l, s in zip(range(1, L + 1), np.cumsum(n[1:]))]
        self.db_rows = self.grad[:, :rows].reshape(k, rows, 1)
        self.hidden = [Hidden(self.g[l], arch.relu_grad_at_zero, (k, n[l + 1], m), dt) for l in range(L - 1)]
        self.lr = np.full((k, 1), learning_rate, dt)  # per fold: 0 once a fold has ended
        self.frozen: list = []                          # the rows of folds that have ended
        self.m_dt = np.asarray(m, dt)
        if form == "dual":
            self.W1_0 = [np.asarray(W[0], dt) for W in Ws]
            self.P = np.stack([W1 @ f.X for W1, f in zip(self.W1_0, group.folds)])
            self.C = np.zeros((k, n[1], m), dt)
            self.step_C = np.empty_like(self.C)
            self.K = group.stacked("K")
            if group.stack.validated:
                self.P_val = np.stack([W1 @ f.X_val for W1, f in zip(self.W1_0, group.folds)])
                self.K_val = group.stacked("K_val")
        else:
            self.X = group.stacked("X")
            self.XT = self.X.transpose(0, 2, 1)

    def _views(self, flat):
        """(k, r, c) views of the rows of ``flat`` (k, P), laid out as ``shapes``."""
        out, start = [], 0
        for r, c in self.shapes:
            out.append(flat[:, start:start + r * c].reshape(flat.shape[0], r, c))
            start += r * c
        return out

    def forward_cost(self):
        """The forward pass over the training examples; every fold's J (k,)."""
        matmul, L = np.matmul, self.L
        if self.form == "dual":  # P + C K + b[1], as the unstacked dual form adds them
            Z = matmul(self.C, self.K, out=self.Z[0])
            Z += self.P
        else:
            Z = matmul(self.W[0], self.X, out=self.Z[0])
        for l in range(L):
            if l:
                Z = matmul(self.W[l], A, out=self.Z[l])
            Z += self.b[l]
            A = self.hidden[l].value(Z, self.A[l]) if l < L - 1 else self.g[l].value(Z, out=self.A[l])
        self.AL = A  # Z[L] itself for a linear output
        return self.costs(Z, A, self.group.Y, self.m_dt)

    def costs(self, ZL, AL, Y, m):
        """J of every fold (k,), computed as ``model.cost`` computes one fold's."""
        if self.arch.output_activation == "sigmoid":
            T = _softplus(ZL)
            T -= Y * ZL
        else:
            T = AL - Y
            T *= T
            m = 2 * m
        return T.sum(axis=(1, 2)) / m

    def backward_update(self):
        """Every fold's gradients (as ``model.backward``) and its update (as ``gradient_descent``)."""
        matmul, L = np.matmul, self.L
        dZ = np.subtract(self.AL, self.group.Y, out=self.dZ[L - 1])
        for l in range(L - 1, 0, -1):  # 0-based layer l: dW[l] from A[l-1], dZ[l-1] from W[l]^T dZ[l]
            matmul(dZ, self.AT[l - 1], out=self.dW[l])
            dZ = matmul(self.WT[l], dZ, out=self.dZ[l - 1])
            self.hidden[l - 1].backprop(dZ, self.Z[l - 1], self.A[l - 1])
        if self.form == "direct":
            matmul(dZ, self.XT, out=self.dW[0])
        self.dZ_rows.sum(axis=2, keepdims=True, out=self.db_rows)
        inv_m = 1.0 / self.m
        self.grad *= inv_m
        self.grad *= self.lr
        self.theta -= self.grad
        if self.form == "dual":  # C -= alpha (1/m dZ[1])
            np.multiply(dZ, inv_m, out=self.step_C)
            self.step_C *= self.lr[:, :, None]
            self.C -= self.step_C
        if self.frozen:  # an ended fold's step may be inf * 0: its row is kept at zero, finite
            self._zero(self.frozen)

    def validation(self):
        """Each fold's ``Validation``: its cost and A[L] on its validation examples."""
        matmul, L = np.matmul, self.L
        if self.form == "dual":
            Z = matmul(self.C, self.K_val)
            Z += self.P_val
        else:
            Z = matmul(self.W[0], self.group.stacked("X_val"))
        for l in range(L):
            if l:
                Z = matmul(self.W[l], A)
            Z += self.b[l]
            A = self.g[l].value(Z)
        J = self.costs(Z, A, self.group.Y_val, np.asarray(self.group.m_val, self.group.stack.dtype))
        return [Validation(float(J[j]), A[j]) for j in range(len(self.index))]

    def finite(self):
        """Per fold of the group: whether every parameter is finite."""
        ok = np.isfinite(self.theta).all(axis=1)
        if self.form == "dual":
            ok &= np.isfinite(self.C).all(axis=(1, 2))
        return ok

    def parameters(self, j: int):
        """Row j's W, b lists as they stand (copies; W[1] made from C in the dual form)."""
        rows = [v[j].copy() for v in self._views(self.theta)]
        if self.form == "direct":
            return rows[self.L:], rows[:self.L]
        return [self.W1_0[j] + self.C[j] @ self.group.folds[j].X.T] + rows[self.L:], rows[:self.L]

    def freeze(self, j: int):
        """Row j ended: its parameters set to zero and kept there, so the group goes on finite."""
        self.lr[j] = 0
        self.frozen.append(j)
        self._zero([j])

    def _zero(self, rows):
        self.theta[rows] = 0
        if self.form == "dual":
            self.C[rows] = 0
