"""A sequential paired test for the shadow soak: is the challenger better than the champion on new data?

Each labelled shadow day contributes, per row scored by both models, the loss difference
``d = loss(champion) - loss(challenger)`` on the *same* row (positive: the challenger did
better). The soak looks after every newly labelled day and must be allowed to stop at the
first look that is conclusive, so a fixed-sample test is the wrong tool: looking every day
at a t-test's p-value inflates its error rate far above its level (``bench/shadow_bench.py``
measures by how much).

The method is a one-sided Gaussian-mixture *asymptotic confidence sequence* (Waudby-Smith,
Arbour, Sinha, Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic
confidence sequences", Annals of Statistics 2024; the mixture martingale of Robbins (1970) as
in Howard, Ramdas, McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Annals of Statistics 2021). With the running mean ``m_t`` and standard deviation
``s_t`` of the first ``t`` differences, ``S = t (m_t − μ) / s_t`` and a half-normal mixture over
the exponent with scale ρ, the process

    M_t(μ) = 2 / sqrt(1 + t ρ²) · exp(ρ² S² / (2 (1 + t ρ²))) · Φ(ρ S / sqrt(1 + t ρ²))

is (asymptotically) a nonnegative martingale under mean ``μ``, so by Ville's inequality it
exceeds ``1/α`` at *any* time with probability ≤ α. The lower bound ``L_t`` is the smallest
``μ`` with ``M_t(μ) < 1/α`` (the upper bound ``U_t`` likewise, mirrored): each is valid at every
``t`` simultaneously, hence under daily looks, a restart, or a soak that runs longer than
planned. This holds for differences with finite variance whose conditional mean does not
drift; no variance bound, no maximum sample size and no fixed number of looks are needed
(which an alpha-spending design would need). ρ is fixed when the soak starts and tunes where
the bounds are tightest: the rows of ``min_days`` days by default. The always-valid p-value for
"the challenger is better" is ``1 / max_t M_t(0)`` and its e-value ``max_t M_t(0)``.

The verdict at a look, once ``min_days`` and ``min_rows`` are reached:

- ``better`` when the lower bound is above 0 (promote path; approval if required);
- ``worse`` when the upper bound is below 0 (reject, with the numbers);
- at ``max_days`` without either: ``inconclusive``, then ``on_inconclusive`` decides:
  ``reject``, or ``promote_if_non_inferior`` (promote when the lower bound is above
  ``−margin × the champion's mean loss``: the challenger is at most ``margin`` (relative)
  worse, with confidence).

Each early verdict has error ≤ α under the null of equal expected loss: a challenger no better
than the champion is promoted early with probability ≤ α, and one no worse is rejected early
with probability ≤ α. Pure numpy: the state is a handful of numbers, so the soak can persist
it between looks (``to_dict``/``from_dict``) and resume after a triggerer restart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["continue", "better", "worse", "inconclusive"]
Decision = Literal["continue", "promote", "reject"]


def best_rho2(t_opt: float, alpha: float) -> float:
    """ρ² that makes the bounds tightest near ``t_opt`` observations (the closed-form approximation of Waudby-Smith et al.)."""
    a = -2.0 * math.log(alpha)
    return (a + math.log(a + 1.0)) / max(float(t_opt), 1.0)


def log_mixture(s: float, t: float, rho2: float) -> float:
    """log M_t for the standardised sum ``s`` after ``t`` observations (one-sided half-normal mixture)."""
    from scipy.special import log_ndtr

    v = 1.0 + t * rho2
    a = math.sqrt(rho2 / v) * s
    # exp(a²/2)·Φ(a) in logs stays finite for very negative a (log_ndtr handles the tail).
    return math.log(2.0) - 0.5 * math.log(v) + a * a / 2.0 + float(log_ndtr(a))


def boundary(t: float, rho2: float, alpha: float) -> float:
    """The standardised sum ``S*`` at which ``M_t`` reaches ``1/α`` (bisection; ``M_t`` increases with ``S``)."""
    target = math.log(1.0 / alpha)
    lo, hi = 0.0, 1.0
    while log_mixture(hi, t, rho2) < target:
        hi *= 2.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if log_mixture(mid, t, rho2) < target:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass
class Look:
    """One look of the soak: after ``days`` labelled days and ``rows`` paired rows."""

    day: str
    days: int
    rows: int
    estimate: float
    lower: float
    upper: float
    p_value: float
    e_value: float
    champion_loss: float
    challenger_loss: float
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PairedSequentialTest:
    """Running state of the soak's test (Welford sums of the differences and the two mean losses)."""

    alpha: float
    rho2: float
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    champion_loss_sum: float = 0.0
    challenger_loss_sum: float = 0.0
    min_p: float = 1.0
    looks: list[dict] = field(default_factory=list)

    @classmethod
    def start(cls, *, alpha: float, expected_rows: float) -> PairedSequentialTest:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        return cls(alpha=alpha, rho2=best_rho2(expected_rows, alpha))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairedSequentialTest:
        return cls(**data)

    @property
    def days(self) -> list[str]:
        return [look["day"] for look in self.looks]

    def update(self, day: str, champion_loss, challenger_loss, *, min_days: int = 1, min_rows: int = 2) -> Look:
        """Add one labelled day's per-row losses of both models on the same rows; returns the look."""
        import numpy as np

        champ = np.asarray(champion_loss, dtype=float)
        chall = np.asarray(challenger_loss, dtype=float)
        if champ.shape != chall.shape or champ.ndim != 1:
            raise ValueError(f"day {day}: champion and challenger losses must be paired 1-d arrays, got {champ.shape} and {chall.shape}")
        if day in self.days:
            raise ValueError(f"day {day} was already added to this soak (looks: {self.days})")
        keep = np.isfinite(champ) & np.isfinite(chall)
        champ, chall = champ[keep], chall[keep]
        d = champ - chall
        if len(d):
            # Chan et al.'s parallel update of mean and sum of squared deviations.
            n_b, mean_b = len(d), float(d.mean())
            m2_b = float(((d - mean_b) ** 2).sum())
            n = self.n + n_b
            delta = mean_b - self.mean
            self.mean += delta * n_b / n
            self.m2 += m2_b + delta * delta * self.n * n_b / n
            self.n = n
            self.champion_loss_sum += float(champ.sum())
            self.challenger_loss_sum += float(chall.sum())
        look = self._look(day, min_days=min_days, min_rows=min_rows)
        self.looks.append(look.to_dict())
        return look

    def _look(self, day: str, *, min_days: int, min_rows: int) -> Look:
        days, t = len(self.looks) + 1, self.n
        champ_mean = self.champion_loss_sum / t if t else float("nan")
        chall_mean = self.challenger_loss_sum / t if t else float("nan")
        if t < 2:
            return Look(day, days, t, self.mean if t else float("nan"), -math.inf, math.inf, 1.0, 1.0, champ_mean, chall_mean, "continue")
        sd = math.sqrt(self.m2 / (t - 1))
        half = sd * boundary(t, self.rho2, self.alpha) / t
        if sd > 0:
            log_e = log_mixture(t * self.mean / sd, t, self.rho2)
            p = min(1.0, math.exp(-min(log_e, 700.0)))
        else:
            p = 1.0 if self.mean <= 0 else 0.0
        self.min_p = min(self.min_p, p)
        lower, upper = self.mean - half, self.mean + half
        verdict: Verdict = "continue"
        if days >= min_days and t >= min_rows:
            if lower > 0:
                verdict = "better"
            elif upper < 0:
                verdict = "worse"
        e_value = 1.0 / self.min_p if self.min_p > 0 else math.inf
        return Look(day, days, t, self.mean, lower, upper, self.min_p, e_value, champ_mean, chall_mean, verdict)


def decide(look: Look | dict, *, max_days: int, margin: float, on_inconclusive: str) -> tuple[Decision, str]:
    """The soak's decision after a look, with a sentence that gives the numbers."""
    look = look if isinstance(look, dict) else look.to_dict()
    numbers = (
        f"mean loss difference (champion − challenger) {look['estimate']:+.5f}, {look['days']} days, {look['rows']} rows, "
        f"confidence sequence [{look['lower']:+.5f}, {look['upper']:+.5f}], always-valid p = {look['p_value']:.3g}"
    )
    if look["verdict"] == "better":
        return "promote", f"challenger significantly better: {numbers}"
    if look["verdict"] == "worse":
        return "reject", f"challenger significantly worse: {numbers}"
    if look["days"] < max_days:
        return "continue", f"not conclusive yet: {numbers}"
    if on_inconclusive == "promote_if_non_inferior":
        bound = -margin * look["champion_loss"]
        if look["lower"] > bound:
            return "promote", f"inconclusive after {max_days} days but non-inferior (lower bound above {bound:+.5f}, margin {margin:.1%}): {numbers}"
        return "reject", f"inconclusive after {max_days} days and not shown non-inferior (margin {margin:.1%}, bound {bound:+.5f}): {numbers}"
    return "reject", f"inconclusive after {max_days} days (on_inconclusive=reject): {numbers}"


def row_losses(task: str, y_true, score) -> Any:
    """Per-row loss: log-loss for classification (``score`` = P(class 1)), squared error for regression."""
    import numpy as np

    y = np.asarray(y_true, dtype=float)
    s = np.asarray(score, dtype=float)
    if task == "classification":
        p = np.clip(s, 1e-7, 1 - 1e-7)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return (y - s) ** 2
