"""Figures of training runs and of value identification (pure Plotly)."""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

_MARGIN = dict(l=10, r=10, t=40, b=10)


def loss_figure(log: pd.DataFrame, title: str = "Loss") -> go.Figure:
    """InfoNCE loss per logged step of a run (training/run_folder.read_loss_log)."""
    fig = go.Figure(go.Scatter(x=log["step"], y=log["loss"], mode="lines", name="loss"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="InfoNCE loss", height=300, margin=_MARGIN)
    return fig


def identification_bar_figure(table: pd.DataFrame, metrics: Sequence[str], title: str) -> go.Figure:
    """Grouped bars: one group per representation, one bar per metric (value identification table)."""
    fig = go.Figure([go.Bar(name=m, x=table["representation"], y=table[m],
                            text=[f"{v:.2f}" for v in table[m]], textposition="outside") for m in metrics])
    fig.update_layout(barmode="group", title=title, yaxis_title="score (balanced)", yaxis_range=[0, 1.05],
                      height=380, margin=_MARGIN)
    return fig


def control_figure(comparison: pd.DataFrame) -> go.Figure:
    """k-NN balanced accuracy on value QAs vs non-value (control) QAs, per representation (paper fig. 4)."""
    fig = go.Figure([go.Bar(name=col, x=comparison["representation"], y=comparison[col])
                     for col in ("value QAs", "non-value QAs")])
    fig.update_layout(barmode="group", title="k-NN balanced accuracy: value vs non-value QAs",
                      yaxis_range=[0, 1.05], height=360, margin=_MARGIN)
    return fig
