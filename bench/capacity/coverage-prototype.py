# The rejected design for `rigor capacity` (issue 19), kept as the record of why: the coverage of
# a capacity interval found by doubling to bracket the SLO crossing, three bisection steps
# (2 trials each), then K rates × R trials over the bracket, a straight-line fit of
# log(p99 latency) on the rate, and the calibration (inverse-regression) interval of the
# rate where the fit meets the SLO, by Fieller's theorem. The server is M/M/1-shaped,
# p99(λ) = 20 + 400/(50 − λ) ms with 10% lognormal trial noise, SLO p99 ≤ 200 ms.
# Run with SciPy and NumPy: python3 bench/capacity/coverage-prototype.py
# Result (2,000 searches each): K=5,R=3 coverage 0.935, width 1.0 req/s; K=4,R=4 0.958;
# K=6,R=2 0.931. The shortfall is the line's bias over a curved bracket. rigor capacity
# uses test inversion on a fixed verification design instead, which assumes no curve shape
# (src/run/capacity/mod.rs; its coverage test; docs/llm-serving.md, "Capacity").
import numpy as np
from scipy import stats
rng = np.random.default_rng(1)
mu, base, c, T, sigma = 50.0, 20.0, 400.0, 200.0, 0.10   # p99(l) = base + c/(mu-l) ms
def p99(l): return base + c / (mu - l) if l < mu else 1e9
true = mu - c / (T - base)                                  # rate where p99 == T
def trial(l): return p99(l) * np.exp(rng.normal(0, sigma))
def run(K=5, R=3, frac=0.5):
    # bracket: double from 1 until the median of 2 reps exceeds T
    lo, l = 0.0, 1.0
    while np.median([trial(l) for _ in range(2)]) <= T:
        lo, l = l, l * 2
        if l > 1e4: return None
    hi = l
    # refine the bracket by bisection (2 reps), 3 steps
    for _ in range(3):
        m = (lo + hi) / 2
        if np.median([trial(m) for _ in range(2)]) <= T: lo = m
        else: hi = m
    xs = np.repeat(np.linspace(lo, hi, K), R)
    ys = np.log([trial(x) for x in xs])
    n = len(xs); X = np.c_[np.ones(n), xs]
    beta, res, *_ = np.linalg.lstsq(X, ys, rcond=None)
    a, b = beta; s2 = np.sum((ys - X @ beta) ** 2) / (n - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    y0 = np.log(T); est = (y0 - a) / b
    t = stats.t.ppf(0.975, n - 2)
    # Fieller: (y0 - a) - est*b has variance var_a + est^2 var_b + 2 est cov_ab
    va, vb, vab = cov[0,0], cov[1,1], cov[0,1]
    A = b*b - t*t*vb; B = -2*((y0-a)*b - t*t*(-vab)); C = (y0-a)**2 - t*t*va
    # solve A x^2 + B x + C <= 0  -> careful sign: f(x) = ((y0-a) - x b)^2 - t^2 (va + x^2 vb + 2 x vab)
    A = b*b - t*t*vb; B = -2*(y0-a)*b - 2*t*t*vab; C = (y0-a)**2 - t*t*va
    disc = B*B - 4*A*C
    if A <= 0 or disc < 0: return (est, None, None, 6 + K*R)
    r1, r2 = (-B - np.sqrt(disc)) / (2*A), (-B + np.sqrt(disc)) / (2*A)
    return (est, min(r1, r2), max(r1, r2))
for K, R in ((5, 3), (4, 4), (6, 2)):
    cov = 0; width = []; N = 2000; unbounded = 0
    for _ in range(N):
        r = run(K, R)
        if r is None or r[1] is None: unbounded += 1; continue
        est, lo, hi = r[:3]
        cov += lo <= true <= hi; width.append(hi - lo)
    print(f"K={K} R={R}: true {true:.2f}, coverage {cov/N:.3f}, unbounded {unbounded}, median width {np.median(width):.2f} req/s")
