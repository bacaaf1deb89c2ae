import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="The game on the simplex")


@app.cell
def _():
    import marimo as mo
    import numpy as np

    from robust_gates.paper_repro.demos import _lib as lib
    from robust_gates.paper_repro.demos import _plots as plots

    return lib, mo, np, plots


@app.cell
def _(mo):
    mo.md(r"""
    # The robust gate as a game on the simplex

    Three data sources (*domains*) each come with an expert model trained on it. A **gate**
    decides, for every input, how much to trust each expert; the result is one *gated model*.
    The gate should be good whatever mixture `lam = (lam_1, lam_2, lam_3)` of the domains shows
    up at test time, so we play a game: the gate picks the model, an adversary picks the
    mixture, and the loss is `sum_k lam_k KL(D_k || model)` (in nats).

    **Step 1: draw the domains and the experts.** *Diversity* moves the three domains apart
    (0: all three are the same distribution, so nothing can go wrong). *Expert error* blends
    every expert with noise (0: each expert is exactly its domain, "perfect experts").
    """)
    return


@app.cell
def _(mo):
    seed = mo.ui.slider(0, 20, 1, value=0, label="instance (random seed)", show_value=True, debounce=True)
    diversity = mo.ui.slider(0.0, 1.0, 0.05, value=0.8, label="diversity of the domains", show_value=True,
                             debounce=True)
    error = mo.ui.slider(0.0, 0.5, 0.05, value=0.0, label="expert error", show_value=True, debounce=True)
    mo.hstack([seed, diversity, error], justify="start", gap=2)
    return diversity, error, seed


@app.cell
def _(mo):
    mo.md(r"""
    **Step 2: say what you know about the test mixture.** Prior knowledge is a set `Lambda` of
    mixtures the adversary may use; here a box `|lam_k - c_k| <= h` around a centre `c`. Pick
    the centre's weights `c_1` and `c_2` of domains 1 and 2 (domain 3 gets `c_3 = 1 - c_1 - c_2`;
    if `c_1 + c_2 > 1` both are rescaled to sum to 1) and the half-width `h`. A wide box is "I know
    nothing", a narrow one is confident knowledge.
    """)
    return


@app.cell
def _(mo):
    c1 = mo.ui.slider(0.0, 1.0, 0.05, value=0.6, label="centre c_1", show_value=True, debounce=True)
    c2 = mo.ui.slider(0.0, 1.0, 0.05, value=0.2, label="centre c_2", show_value=True, debounce=True)
    half_width = mo.ui.slider(0.05, 1.0, 0.05, value=0.15, label="half-width h", show_value=True,
                              debounce=True)
    mo.hstack([c1, c2, half_width], justify="start", gap=2)
    return c1, c2, half_width


@app.cell
def _(c1, c2, diversity, error, half_width, lib, seed):
    _r = lambda v: round(float(v), 4)  # noqa: E731  (clean cache keys from the slider floats)
    _w12 = _r(c1.value) + _r(c2.value)
    centre = ((_r(c1.value), _r(c2.value), _r(1 - _w12)) if _w12 <= 1
              else (_r(c1.value / _w12), _r(c2.value / _w12), 0.0))
    game = (int(seed.value), _r(diversity.value), _r(error.value))
    summary = lib.game_summary(*game, centre, _r(half_width.value))
    grid = lib.phi_grid(*game)
    return centre, grid, summary


@app.cell
def _(centre, mo, np, summary):
    _fmt = lambda v: np.array2string(np.asarray(v), precision=3, separator=", ", floatmode="fixed")  # noqa: E731
    _rs, _rb = summary["res_simplex"], summary["res_box"]
    if summary["perfect"]:
        _t3 = (f"**T3 (perfect experts):** the drop `V(simplex) - V(Lambda)` = "
               f"**{summary['t3_drop']:.5f}** is at least `min over Lambda of KL(D_lam || D_lam*)` = "
               f"**{summary['t3_bound']:.5f}** nats (equal when `lam*` has no zero weight). Knowing "
               f"more can only help, and it helps exactly as far as `Lambda` stays away from `lam*`.")
    else:
        _t3 = ("**T3** is stated for perfect experts: set the expert error to 0 to see its bound. "
               f"The value still drops by `V(simplex) - V(Lambda)` = **{summary['t3_drop']:.5f}** nats "
               "(it can never rise: a smaller `Lambda` is an easier game, T2).")
    values = mo.md(
        f"""
        **V(simplex) = {summary['V_simplex']:.5f} nats** &nbsp; (`lam*` = {_fmt(_rs.lam)},
        certificate gap {_rs.gap:.1e})

        **V(Λ) = {summary['V_box']:.5f} nats** &nbsp; (`lam*` = {_fmt(_rb.lam)},
        certificate gap {_rb.gap:.1e}; box centre {_fmt(centre)})

        {_t3}
        """
    )
    mo.callout(values, kind="info")
    return (values,)


@app.cell
def _(grid, mo, plots, summary):
    mo.hstack([
        mo.image(plots.png(plots.plot_simplex(grid, summary))),
        mo.md(r"""
    **Step 3: the adversary's view.** Each mixture `lam` of the three domains is a point of
    the triangle (a corner is one domain alone). The colour shows `phi(lam)`: the smallest
    loss any gated model can reach when it knows `lam` in advance.

    The adversary wants the mixture where even the best answer is bad: the highest point,
    `lam*` (red star); its height is the value `V`. Confined to the box, the adversary takes
    the highest point of the box instead (blue cross), and `V(Λ)` is its height.

    Move the box over the red star: the two values become equal.
    """),
    ], widths=[1.1, 1], align="center", gap=1.5)
    return


@app.cell
def _(mo):
    mo.md(r"""
    **Step 4: the robust model and the equalizer.** Left: a gate can produce any distribution
    that lies, point by point, between the smallest and the largest expert (grey band); the
    robust models are drawn on top. Right: each domain's loss under the robust models. On the
    whole simplex every domain the adversary uses (`lam*_k > 0`) gets *exactly* the loss `V`
    (dashed line) and the others at most `V`: no domain is sacrificed. Inside a box the
    adversary cannot put all its weight on one domain, so a single bar may exceed `V(Λ)`; what
    equals `V(Λ)` is the loss under the worst mixture of the box.
    """)
    return


@app.cell
def _(mo, plots, summary):
    mo.image(plots.png(plots.plot_models(summary)))
    return


if __name__ == "__main__":
    app.run()
