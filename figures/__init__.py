"""Figures: one module per figure, each a pure ``DataFrame -> Figure`` plotter plus the producer
of its results table; :data:`FIGURES` is the registry the report draws from."""

from . import (
    fig1_architecture,
    fig2_geometry,
    fig3_jsd_gap,
    fig_equalizer,
    fig_generalization,
    fig_modular_vs_monolithic,
    fig_primal_dual,
    fig_solver_convergence,
    fig_value_vs_lambda,
)
from .registry import (
    FIGURES,
    FigureSpec,
    MissingData,
    draw_all,
    draw_figure,
    produce_data,
    register_figure,
)
from .style import PALETTE, new_figure, save_figure, style, styled

__all__ = ["FIGURES", "FigureSpec", "MissingData", "draw_all", "draw_figure", "produce_data",
           "register_figure", "PALETTE", "new_figure", "save_figure", "style", "styled"]

register_figure(FigureSpec(
    "fig1", "Architecture", "Frozen experts P_k and a gate g(x) form the gated model P_g.",
    "fig1_architecture.csv", fig1_architecture.plot, fig1_architecture.produce, paper=True))
register_figure(FigureSpec(
    "fig2", "Geometry of prior knowledge",
    "phi on the simplex, the region Lambda, projected adversary iterates, lam* and the T3 values.",
    "fig2_geometry.csv", fig2_geometry.plot, fig2_geometry.produce, paper=True))
register_figure(FigureSpec(
    "fig3", "The JSD gap",
    "Routing fits each mode with its expert; one retrained bump must spread over all modes.",
    "fig3_jsd_gap.csv", fig3_jsd_gap.plot, fig3_jsd_gap.produce, paper=True))
from . import fig4_distillation  # noqa: E402  (sequence distillation, SPEC SD)

register_figure(FigureSpec(
    "fig4", "Efficiency: structural vs monolithic distillation",
    "Quality (KL to P_g*), robustness (worst case over Lambda) and size of a causal router over "
    "frozen experts versus n-gram students; an upgraded expert helps the router untrained.",
    "fig4_distillation.csv", fig4_distillation.plot, fig4_distillation.produce,
    requires="`robust-gates distill --out DIR` writes it (with the result tables)", paper=True))
from . import fig5_gradient_conflict  # noqa: E402  (pure plotter; the data needs torch)

register_figure(FigureSpec(
    "fig5", "Gradient conflict",
    "Loss versus mixture weight for the robust gate, fixed and oracle monolithic models.",
    "fig5_gradient_conflict.csv", fig5_gradient_conflict.plot, None,
    requires="run `robust-gates repro fig5` first", paper=True,
    shipped="paper_repro/neural/results/fig5_gradient_conflict.csv"))
from . import real_text  # noqa: E402  (pure plotter; the data needs torch)

register_figure(FigureSpec(
    "real_text", "Modular versus monolithic on real text",
    "Worst-case against average bits per byte on Python code, English prose and C headers.",
    "real_table.csv", real_text.plot, None,
    requires="run `robust-gates repro real` first", paper=True,
    shipped="paper_repro/neural/results/real_table.csv"))
register_figure(FigureSpec(
    "value_vs_lambda", "Value against the size of Lambda (T2, T3)",
    "V(Lambda_r) grows with the box radius r; T3's bound on the improvement is tight here.",
    "value_vs_lambda.csv", fig_value_vs_lambda.plot, fig_value_vs_lambda.produce))
register_figure(FigureSpec(
    "equalizer", "Least-favorable mixture and equalizer (LF)",
    "Domains with lam*_k > 0 all incur exactly V at the robust gate; the others at most V.",
    "equalizer.csv", fig_equalizer.plot, fig_equalizer.produce))
register_figure(FigureSpec(
    "modular_vs_monolithic", "Modular versus monolithic against diversity (MB, MA)",
    "A model retrained on the aggregate never beats C(D); the modular value stays within eps of it.",
    "modular_vs_monolithic.csv", fig_modular_vs_monolithic.plot,
    fig_modular_vs_monolithic.produce))

register_figure(FigureSpec(
    "solver_convergence", "Certificate gap against iterations (algorithms 1-3)",
    "Blahut-Arimoto closes its bounds linearly; the fast Newton solver in a few steps.",
    "solver_convergence.csv", fig_solver_convergence.plot, fig_solver_convergence.produce))


def _produce_primal_dual(quick: bool = False, seed: int = 0):
    from robust_gates.simulations.primal_dual import default_study

    return default_study(quick=quick, seed=seed, progress=False)[0]


def _produce_generalization(quick: bool = False, seed: int = 0):
    from robust_gates.simulations.generalization import default_study

    return default_study(quick=quick, seed=seed, progress=False)[0]


register_figure(FigureSpec(
    "primal_dual", "Stochastic primal-dual convergence (algorithm 4)",
    "Certificate gap of the averaged iterates against rounds, one-hot and log-likelihood gates.",
    "primal_dual_trajectory.csv", fig_primal_dual.plot, _produce_primal_dual))
register_figure(FigureSpec(
    "generalization", "Generalization gap against sample size (GB)",
    "Population worst-case excess of the empirical robust gate versus M, with the M^-1/2 line.",
    "generalization_trials.csv", fig_generalization.plot, _produce_generalization))
