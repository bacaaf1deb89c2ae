"""What every neural experiment's ``main`` needs first: torch itself and a usable device."""

from __future__ import annotations

__all__ = ["require_torch", "check_device"]


def require_torch():
    """Import torch, or fail with the install command of the ``torch`` extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the neural experiments need PyTorch: install the extra with "
                          "`pip install -e \".[torch]\"` (CPU wheel: `pip install torch==2.13.0`)") from exc
    return torch


def check_device(torch, device: str) -> None:
    """Reject an unknown device, and ``cuda`` where torch sees no GPU."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda'; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False; use --device cpu")
