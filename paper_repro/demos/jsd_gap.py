import marimo

__generated_with = "0.25.2"
app = marimo.App(
    width="medium",
    app_title="Why retraining on the aggregate loses",
)


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
    # Why retraining on the aggregate loses

    *The Jensen-Shannon gap.* Three domains live on the line; each has **two modes** (two
    bumps), and the six modes interleave. The modular system keeps one expert per domain (a
    two-bump model, here exactly its domain) and learns only a gate. The monolithic
    alternative pours all the data together and retrains **one** model, a mixture of a few
    Gaussians, by maximum likelihood.

    **Step 1: pull the modes apart and choose the monolithic model's capacity.** At separation
    0 all modes sit on top of each other and the three domains coincide. Two Gaussians is the
    capacity of a single expert; six are enough to copy the whole aggregate.
    """)
    return


@app.cell
def _(mo):
    separation = mo.ui.slider(0.0, 1.0, 0.05, value=0.6, label="separation of the modes", show_value=True,
                              debounce=True)
    capacity = mo.ui.slider(1, 6, 1, value=2, label="monolithic capacity (Gaussians)", show_value=True,
                            debounce=True)
    mo.hstack([separation, capacity], justify="start", gap=2)
    return capacity, separation


@app.cell
def _(lib):
    # every slider position lies on the sweep grid: computing the six sweeps once (about 2 s)
    # makes every later slider move a cache hit
    sweeps = {c: lib.jsd_sweep(c) for c in range(1, 7)}
    return (sweeps,)


@app.cell
def _(capacity, lib, separation, sweeps):
    sep = round(float(separation.value), 3)
    cap = int(capacity.value)
    point = lib.jsd_point(sep, cap)
    sweep = sweeps[cap]
    return cap, point, sep, sweep


@app.cell
def _(mo, np, point):
    _p = point
    values = mo.md(f"""
    **Worst case of the gated model = {_p['worst_gated']:.4f} nats** = the robust value `V` =
    {_p['V']:.4f} (certificate gap {_p['gap']:.1e}), which for perfect experts is the capacity
    `C(D) = max_lam JSD_lam(D)` = {_p['js_star']:.4f} nats (out of at most log 3 = {np.log(3):.4f}).

    **Worst case of the monolithic model = {_p['worst_mono']:.4f} nats**, i.e.
    {_p['worst_mono'] - _p['V']:.4f} more; the theory (SPEC MA) says at least
    `KL(D_lam* || monolithic)` = {_p['ma_bound']:.4f} more.
    Even the aggregate itself (unlimited capacity) has worst case {_p['worst_aggregate']:.4f} >= `C(D)`
    (SPEC MB). JSD at uniform weights: {_p['js_uniform']:.4f} nats.
    """)
    mo.callout(values, kind="info")
    return (values,)


@app.cell
def _(mo):
    mo.md(r"""
    **Step 2: look at the models.** Left: the gated model routes each region to the expert that
    knows it, so it covers every mode. The retrained model of small capacity cannot: maximum
    likelihood on the pooled data spreads it over the modes, and a domain whose modes it misses
    pays a large KL. Right: the worst-case loss of each approach as the modes separate (the grey
    line marks the current separation).
    """)
    return


@app.cell
def _(cap, mo, plots, point, sep, sweep):
    mo.image(plots.png(plots.plot_jsd(point, sweep, sep, cap)))
    return


@app.cell
def _(mo):
    mo.md(r"""
    **Step 3: where the barrier bites.** No single model, however large, has a worst case
    below the Jensen-Shannon capacity `C(D)` (black line), and that floor rises to log 3 as the
    domains stop overlapping. The robust gate of good experts sits *on* the floor. Even the
    aggregate itself, a monolithic model of unlimited capacity, sits just above it (purple,
    nearly hidden under the black line; equal only when the pooling weights are `lam*`). A
    monolithic model of limited capacity sits above the floor by at least
    `KL(D_lam* || model)` (dotted, SPEC MA), which is large exactly when the model is too small
    to reproduce the mixture `D_lam*`: the shaded gap. Raise the capacity to close it; the
    floor stays.
    """)
    return


if __name__ == "__main__":
    app.run()
